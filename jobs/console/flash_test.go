package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The flash is the console's own word on an action it did: a link made
// elsewhere cannot put a message of its choosing on a console page
// ("session expired, sign in at ..."), while the console's own redirect
// after an action still shows its message.
func TestAFlashOfAForeignLinkIsNotShown(t *testing.T) {
	u := newUI(t, nil)
	id := u.create(operatorToken, map[string]any{"campaign_id": "flashy", "team_id": "team-a", "asset_ids": ids(1, 2)})
	op := u.signIn(operatorToken)
	const bait = "Your session expired: sign in again at https://console.example.net"
	for _, path := range []string{
		"/ui/campaigns/" + id + "?flash=" + url.QueryEscape(bait),
		"/ui/?flash=" + url.QueryEscape(bait),
	} {
		if res := u.get(op, path); strings.Contains(res.body, "console.example.net") {
			t.Errorf("%s shows the link's flash", path)
		}
	}
	res := u.post(op, "/ui/campaigns/"+id+"/pause", nil)
	if res.status != http.StatusSeeOther {
		t.Fatalf("pause: %d %s", res.status, res.body)
	}
	if page := u.get(op, res.header.Get("Location")); !strings.Contains(page.body, `id="flash"`) ||
		!strings.Contains(page.body, "Paused.") {
		t.Fatalf("the console's own flash is not shown after pause")
	}
	// Another browser's flash link is a foreign link too.
	other := u.signIn(operatorToken)
	if page := u.get(other, res.header.Get("Location")); strings.Contains(page.body, `id="flash"`) {
		t.Errorf("one session's flash link shows its message in another session")
	}
}
