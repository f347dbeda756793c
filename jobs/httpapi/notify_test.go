package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs/httpapi"
	"github.com/labelreset/labelreset/jobs/notify"
)

// TestCreateNotify: a campaign names notifiers by name in every request
// form (JSON array or string, query list, multipart field), they are
// stored and shown; a name the server does not know is a 422 naming it
// and the known ones; a URL is no name.
func TestCreateNotify(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) {
		c.Notifiers = &notify.Config{Notifiers: []notify.Notifier{
			{Name: "ops", URL: "https://hooks.example.com/ops", Secret: "s1"},
			{Name: "audit", URL: "https://hooks.example.com/audit", Secret: "s2"},
		}}
	})
	for _, tc := range []struct {
		name string
		q    req
		want []string
	}{
		{"json array", req{method: "POST", path: "/v1/campaigns", ctype: "application/json",
			body: strings.NewReader(`{"campaign_id":"n-json","asset_ids":["1","2"],"notify":["ops","audit"]}`)}, []string{"ops", "audit"}},
		{"json string", req{method: "POST", path: "/v1/campaigns", ctype: "application/json",
			body: strings.NewReader(`{"campaign_id":"n-jstr","asset_ids":["1","2"],"notify":"audit"}`)}, []string{"audit"}},
		{"query", req{method: "POST", path: "/v1/campaigns?campaign_id=n-query&notify=ops,audit", ctype: "text/csv",
			body: csvBody(idLines(1, 2)...)}, []string{"ops", "audit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.q)
			if r.status != http.StatusCreated && r.status != http.StatusAccepted && r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			c, _ := r.json(t)["campaign"].(map[string]any)
			var got []string
			for _, v := range c["notify"].([]any) {
				got = append(got, v.(string))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("campaign notify %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, body string
		status     int
		code, has  string
	}{
		{"unknown", `{"asset_ids":["1"],"notify":["ops","pager"]}`, http.StatusUnprocessableEntity, "unknown_notifier", `"pager"`},
		{"url", `{"asset_ids":["1"],"notify":["https://evil.example/x"]}`, http.StatusBadRequest, "invalid_parameter", "notifier name"},
		{"not strings", `{"asset_ids":["1"],"notify":[1]}`, http.StatusBadRequest, "invalid_parameter", "notify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: "application/json", body: strings.NewReader(tc.body)})
			if r.status != tc.status || r.errCode(t) != tc.code {
				t.Fatalf("status %d code %s, want %d %s: %s", r.status, r.errCode(t), tc.status, tc.code, r.body)
			}
			if msg := r.json(t)["error"].(string); !strings.Contains(msg, tc.has) {
				t.Errorf("error %q: want it to name %s", msg, tc.has)
			}
			if tc.code == "unknown_notifier" && !strings.Contains(r.json(t)["error"].(string), "audit, ops") {
				t.Errorf("error %q: want the known notifiers", r.json(t)["error"])
			}
		})
	}
}
