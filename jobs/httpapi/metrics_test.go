package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsUseRoutePatterns: request metrics are labelled with mux
// patterns, never raw paths.
func TestMetricsUseRoutePatterns(t *testing.T) {
	e := newEnv(t, nil)
	e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=m1", ctype: "text/csv", body: csvBody("1", "2")})
	e.do(req{method: "POST", path: "/v1/campaigns", ctype: "application/json", body: strings.NewReader(`{"asset_ids":[3]}`)})
	e.do(req{method: "GET", path: "/v1/campaigns/m1"})
	e.do(req{method: "GET", path: "/v1/campaigns/m2"})
	e.do(req{method: "POST", path: "/v1/campaigns/m1/pause"})
	e.do(req{method: "GET", path: "/secret/path/abc"})
	e.do(req{method: "GET", path: "/v1/campaigns/m1", noAuth: true})

	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "labelreset_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var route, code string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "route":
					route = lp.GetValue()
				case "code":
					code = lp.GetValue()
				}
			}
			if !slices.Contains(e.srv.Routes(), route) && route != "unmatched" {
				t.Errorf("route label %q is not a mux pattern", route)
			}
			got[route+" "+code] = m.GetCounter().GetValue()
		}
	}
	for k, want := range map[string]float64{
		"POST /v1/campaigns 201":            2,
		"GET /v1/campaigns/{id} 200":        1,
		"GET /v1/campaigns/{id} 404":        1,
		"GET /v1/campaigns/{id} 401":        1,
		"POST /v1/campaigns/{id}/pause 200": 1,
		"unmatched 404":                     1,
	} {
		if got[k] != want {
			t.Errorf("labelreset_http_requests_total{%s} = %v, want %v (all: %v)", k, got[k], want, got)
		}
	}
	if n := testutil.CollectAndCount(e.reg, "labelreset_http_request_duration_seconds"); n != 4 {
		t.Errorf("%d duration series, want 4 (one per route seen)", n)
	}
	want := `
# HELP labelreset_campaigns_created_total Campaigns created through the trigger API by input format (csv: CSV body or multipart file; json; undo: restore campaigns).
# TYPE labelreset_campaigns_created_total counter
labelreset_campaigns_created_total{source="csv"} 1
labelreset_campaigns_created_total{source="json"} 1
labelreset_campaigns_created_total{source="undo"} 0
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "labelreset_campaigns_created_total"); err != nil {
		t.Error(err)
	}
	if probs, err := testutil.GatherAndLint(e.reg); err != nil || len(probs) > 0 {
		t.Errorf("metric lint: %v %v", probs, err)
	}
}
