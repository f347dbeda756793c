package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

// TestFindAsset: GET /v1/assets/{id} lists the asset's outcome in every
// campaign of the token's teams that holds it, newest first, and nothing
// of other teams' campaigns; a bad ID is a 400 naming it.
func TestFindAsset(t *testing.T) {
	const scopeTokAll = "scope-token-all-0123456789abcdef"
	p := writeTokenFile(t, "tokens:\n"+teamEntry("a", scopeTokA, "operator", "team-a")+teamEntry("b", scopeTokB, "viewer", "team-b")+
		teamEntry("all", scopeTokAll, "viewer", `"*"`), 0o600)
	e := newEnv(t, func(c *httpapi.Config) { c.Tokens, c.TokenFile, c.TokenReloadInterval = nil, p, -1 })
	create := func(tok, team, id string, first, n int) {
		t.Helper()
		r := e.do(withToken(tok, req{method: http.MethodPost, path: "/v1/campaigns?team_id=" + team + "&campaign_id=" + id,
			ctype: "text/csv", body: csvBody(idLines(first, n)...)}))
		if r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, r.status, r.body)
		}
	}
	create(scopeTokA, "team-a", "a-old", 1, 10)
	create(scopeTokA, "team-a", "a-other", 100, 10)
	// team-b's campaign: made by the store (the team-b token is a viewer).
	def := &jobs.Campaign{ID: "b-1", Name: "b", Mode: jobs.ModeDelete, TeamID: "team-b", Priority: jobs.PriorityNormal,
		BatchSize: 100, Policy: jobs.DefaultPolicy()}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"4", "5", "6"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Submit(context.Background(), def, plan, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	create(scopeTokA, "team-a", "a-new", 5, 10)
	e.recordReset(t, "a-old", 100, 5)

	type hit struct {
		Campaign, Name, State, Mode, Outcome string
		Attempts                             int
		CreatedAt                            string `json:"created_at"`
	}
	find := func(tok, id string) (resp, []hit) {
		t.Helper()
		r := e.do(withToken(tok, req{method: http.MethodGet, path: "/v1/assets/" + id}))
		if r.status != http.StatusOK {
			return r, nil
		}
		var body struct {
			AssetID   int64 `json:"asset_id"`
			Campaigns []hit
		}
		if err := json.Unmarshal(r.body, &body); err != nil || body.Campaigns == nil {
			t.Fatalf("GET /v1/assets/%s: %v: %s", id, err, r.body)
		}
		if body.AssetID != 5 && id == "5" {
			t.Errorf("asset_id %d, want 5", body.AssetID)
		}
		return r, body.Campaigns
	}
	_, hits := find(scopeTokA, "5")
	if len(hits) != 2 || hits[0].Campaign != "a-new" || hits[0].Outcome != "pending" ||
		hits[1].Campaign != "a-old" || hits[1].Outcome != "reset" || hits[1].Attempts != 1 ||
		hits[1].Mode != "delete" || hits[1].State == "" || hits[1].CreatedAt == "" {
		t.Errorf("team-a's hits of asset 5: %+v; want a-new pending, then a-old reset", hits)
	}
	// team-b sees none of team-a's campaigns; the all-teams token sees them.
	if _, hits := find(scopeTokB, "5"); len(hits) != 1 || hits[0].Campaign != "b-1" {
		t.Errorf("team-b's hits of asset 5: %+v, want b-1 alone", hits)
	}
	if _, hits := find(scopeTokAll, "5"); len(hits) != 3 {
		t.Errorf("all teams' hits of asset 5: %+v, want 3", hits)
	}
	if r, hits := find(scopeTokA, "99"); r.status != http.StatusOK || len(hits) != 0 {
		t.Errorf("asset 99: %d %s, want 200 with no campaign", r.status, r.body)
	}
	for _, bad := range []string{"abc", "0", "-5", "99999999999999999999", "1.5"} {
		r, _ := find(scopeTokA, bad)
		if r.status != http.StatusBadRequest || r.errCode(t) != "invalid_asset_id" || !strings.Contains(string(r.body), bad) {
			t.Errorf("GET /v1/assets/%s: %d %s; want 400 invalid_asset_id naming it", bad, r.status, r.body)
		}
	}
	if r := e.do(withToken(scopeTokA, req{method: http.MethodGet, path: "/v1/assets/5?team=x"})); r.status != http.StatusBadRequest {
		t.Errorf("with a query parameter: %d, want 400", r.status)
	}
	if r := e.do(req{method: http.MethodGet, path: "/v1/assets/5", noAuth: true}); r.status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", r.status)
	}
}
