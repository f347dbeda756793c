package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

// failuresPage is the body of GET /v1/campaigns/{id}/failures.
type failuresPage struct {
	Records []jobs.Record `json:"records"`
	Next    int64         `json:"next"`
	Total   int64         `json:"total"`
}

// recordFailures records, in a campaign of batches of 100 whose IDs start
// at 1, asset a as failed with status 500 when a%3 == 0, not found when
// a%3 == 1, reset otherwise.
func (e *env) recordFailures(t *testing.T, id string, assets ...int64) {
	t.Helper()
	now := time.Now()
	for _, a := range assets {
		r := jobs.Record{AssetID: a, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now}
		switch a % 3 {
		case 0:
			r.Outcome, r.Status, r.Error = jobs.OutcomeFailed, 500, "HTTP 500 INTERNAL_ERROR: try later"
		case 1:
			r.Outcome, r.Status = jobs.OutcomeNotFound, 404
		}
		br := []jobs.BatchRecords{{Batch: int(a-1) / 100, Records: []jobs.Record{r}}}
		if _, err := e.store.Ledger().Record(context.Background(), id, br, now); err != nil {
			t.Fatal(err)
		}
	}
}

func (r resp) failures(t *testing.T) failuresPage {
	t.Helper()
	var p failuresPage
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s, want 200", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return p
}

func ids(rs []jobs.Record) []int64 {
	out := []int64{}
	for _, r := range rs {
		out = append(out, r.AssetID)
	}
	return out
}

// TestFailuresEndpoint: pages by outcome, reason and asset, following
// next; bad parameters are refused with 400 naming the parameter and its
// value.
func TestFailuresEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=f", ctype: "text/csv", body: csvBody(idLines(1, 250)...)}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	e.recordFailures(t, "f", 1, 2, 3, 4, 5, 6, 150, 201, 249)

	p := e.do(req{method: "GET", path: "/v1/campaigns/f/failures"}).failures(t)
	if got := ids(p.Records); !slices.Equal(got, []int64{1, 3, 4, 6, 150, 201, 249}) || p.Next != 0 || p.Total != 7 {
		t.Errorf("all: %v next %d total %d, want [1 3 4 6 150 201 249] next 0 total 7", got, p.Next, p.Total)
	}
	var pages [][]int64
	for after := "0"; ; {
		p = e.do(req{method: "GET", path: "/v1/campaigns/f/failures?outcome=failed&limit=2&after=" + after}).failures(t)
		pages = append(pages, ids(p.Records))
		if p.Total != 5 {
			t.Errorf("failed after %s: total %d, want 5", after, p.Total)
		}
		if p.Next == 0 || len(pages) > 5 {
			break
		}
		after = strconv.FormatInt(p.Next, 10)
	}
	if want := [][]int64{{3, 6}, {150, 201}, {249}}; !slices.EqualFunc(pages, want, slices.Equal) {
		t.Errorf("failed pages %v, want %v", pages, want)
	}
	p = e.do(req{method: "GET", path: "/v1/campaigns/f/failures?outcome=not_found,failed&outcome=invalid&reason=HTTP+500+INTERNAL_ERROR:+try+later"}).failures(t)
	if got := ids(p.Records); !slices.Equal(got, []int64{3, 6, 150, 201, 249}) || p.Total != 5 {
		t.Errorf("by reason: %v total %d, want [3 6 150 201 249] total 5", got, p.Total)
	}
	if r := p.Records[0]; r.Outcome != jobs.OutcomeFailed || r.Status != 500 || r.Error == "" {
		t.Errorf("record %+v, want failed, 500, with its error", r)
	}
	p = e.do(req{method: "GET", path: "/v1/campaigns/f/failures?asset=201"}).failures(t)
	if got := ids(p.Records); !slices.Equal(got, []int64{201}) || p.Total != 1 {
		t.Errorf("asset 201: %v total %d, want [201] total 1", got, p.Total)
	}
	p = e.do(req{method: "GET", path: "/v1/campaigns/f/failures?asset=2"}).failures(t)
	if len(p.Records) != 0 || p.Total != 0 || !strings.Contains(string(e.do(req{method: "GET", path: "/v1/campaigns/f/failures?asset=2"}).body), `"records":[]`) {
		t.Errorf("asset 2 (reset): %+v, want an empty list", p)
	}

	for _, tc := range []struct{ query, code, names string }{
		{"outcome=reset", "invalid_parameter", `outcome="reset"`},
		{"outcome=failed,bogus", "invalid_parameter", `outcome="bogus"`},
		{"limit=0", "invalid_parameter", `limit="0"`},
		{"limit=501", "invalid_parameter", `limit="501"`},
		{"limit=x", "invalid_parameter", `limit="x"`},
		{"asset=-3", "invalid_parameter", `asset="-3"`},
		{"asset=abc", "invalid_parameter", `asset="abc"`},
		{"after=1.5", "invalid_parameter", `after="1.5"`},
		{"after=1&after=2", "invalid_parameter", "after given 2 times"},
		{"reason=" + strings.Repeat("x", 121), "invalid_parameter", `reason="xxxx`},
		{"only=failed", "unknown_parameter", `"only"`},
	} {
		r := e.do(req{method: "GET", path: "/v1/campaigns/f/failures?" + tc.query})
		if r.status != http.StatusBadRequest || r.errCode(t) != tc.code || !strings.Contains(r.json(t)["error"].(string), tc.names) {
			t.Errorf("?%s: %d %s, want 400 %s naming %s", tc.query, r.status, r.body, tc.code, tc.names)
		}
	}
	if r := e.do(req{method: "GET", path: "/v1/campaigns/missing/failures"}); r.status != http.StatusNotFound {
		t.Errorf("missing campaign: %d %s, want 404", r.status, r.body)
	}
	if r := e.do(req{method: "GET", path: "/v1/campaigns/f/failures", noAuth: true}); r.status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", r.status)
	}
}

// TestFailuresRoles: the failures are read like the report: a viewer of
// the campaign's team reads them, a token of another team gets 404.
func TestFailuresRoles(t *testing.T) {
	p := writeTokenFile(t, "tokens:\n"+teamEntry("op", scopeTokA, "operator", "team-a")+teamEntry("view", scopeTokB, "viewer", "team-a")+
		teamEntry("other", "scope-token-c-0123456789abcdef", "viewer", "team-b"), 0o600)
	e := newEnv(t, func(c *httpapi.Config) { c.Tokens, c.TokenFile, c.TokenReloadInterval = nil, p, -1 })
	if r := e.as(scopeTokA, req{method: "POST", path: "/v1/campaigns?campaign_id=s&team_id=team-a", ctype: "text/csv", body: csvBody("1", "2", "3")}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	e.recordFailures(t, "s", 3)
	if got := ids(e.as(scopeTokB, req{method: "GET", path: "/v1/campaigns/s/failures"}).failures(t).Records); !slices.Equal(got, []int64{3}) {
		t.Errorf("viewer of the team: %v, want [3]", got)
	}
	if r := e.as("scope-token-c-0123456789abcdef", req{method: "GET", path: "/v1/campaigns/s/failures"}); r.status != http.StatusNotFound {
		t.Errorf("viewer of another team: %d %s, want 404", r.status, r.body)
	}
}
