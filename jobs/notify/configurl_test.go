package notify_test

import (
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs/notify"
)

// A webhook URL often carries its token in the path or the query (Slack,
// Teams, Discord): an error about a mistyped URL names its scheme and host,
// never the rest, as delivery errors do.
func TestValidateNeverPrintsTheURLsPathOrQuery(t *testing.T) {
	const token = "T0KEN-IN-THE-PATH"
	for _, raw := range []string{
		"htps://hooks.example.com/services/" + token,
		"ftp://hooks.example.com/services/" + token + "?sig=x",
		"https:///services/" + token,
		"https://user:pw@hooks.example.com/services/" + token,
		"https://hooks.example.com/services/" + token + "\x7f",
		"https://hooks.example.com/x?key=" + token + "%zz\x01",
	} {
		cfg := &notify.Config{Notifiers: []notify.Notifier{{Name: "ops", URL: raw, Secret: "s"}}}
		err := cfg.Validate()
		if err == nil {
			t.Errorf("%q accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("error holds the URL's path or query: %v", err)
		}
	}
}
