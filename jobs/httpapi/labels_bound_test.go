package httpapi_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs"
)

// TestCreateBoundsLabels: the labels of a campaign are bounded
// (jobs.MaxLabels of at most jobs.MaxLabelLen bytes) in every form of the
// create request, with an answer that names the limit, and nothing is
// written for a refused request (hostile review 2, finding 4: 3M labels
// were accepted, stored and echoed).
func TestCreateBoundsLabels(t *testing.T) {
	e := newEnv(t, nil)
	labels := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "l" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
		}
		return out
	}
	jsonLabels := func(ls []string) string { return `["` + strings.Join(ls, `","`) + `"]` }
	long := strings.Repeat("a", jobs.MaxLabelLen+1)
	for _, tc := range []struct {
		name, path, ctype, body string
		status                  int
		code, want              string
	}{
		{"json too many", "/v1/campaigns", "application/json",
			`{"asset_ids":[1],"labels":` + jsonLabels(labels(jobs.MaxLabels+1)) + `}`, 413, "too_many_labels", "at most 100"},
		{"json huge array", "/v1/campaigns", "application/json",
			`{"asset_ids":[1],"labels":["a"` + strings.Repeat(`,"a"`, 200_000) + `]}`, 413, "too_many_labels", "at most 100"},
		{"json too long", "/v1/campaigns", "application/json",
			`{"asset_ids":[1],"labels":["` + long + `"]}`, 400, "invalid_parameter", "at most 256"},
		{"json labels not strings", "/v1/campaigns", "application/json",
			`{"asset_ids":[1],"labels":[1]}`, 400, "malformed_json", `"labels"`},
		{"query too many", "/v1/campaigns?labels=" + url.QueryEscape(strings.Join(labels(jobs.MaxLabels+1), ",")), "text/csv",
			"1\n", 413, "too_many_labels", "at most 100"},
		{"query too long", "/v1/campaigns?labels=" + long, "text/csv", "1\n", 400, "invalid_parameter", "at most 256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: tc.path, ctype: tc.ctype, body: strings.NewReader(tc.body)})
			if r.status != tc.status || r.errCode(t) != tc.code || !strings.Contains(r.json(t)["error"].(string), tc.want) {
				t.Errorf("status %d %.300s, want %d %s containing %q", r.status, r.body, tc.status, tc.code, tc.want)
			}
		})
	}
	if k := e.keys(); len(k) != 0 {
		t.Errorf("refused requests wrote keys %v", k)
	}
	// The limit itself is accepted.
	r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: "application/json",
		body: strings.NewReader(`{"campaign_id":"max-labels","asset_ids":[1],"labels":` + jsonLabels(labels(jobs.MaxLabels)) + `}`)})
	if r.status != 201 {
		t.Fatalf("%d labels: status %d %.300s, want 201", jobs.MaxLabels, r.status, r.body)
	}
}
