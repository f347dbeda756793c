package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

// queryEnv is an API whose query campaigns are listed from a fake PDCP
// over real HTTP.
func queryEnv(t *testing.T, opts pdcpfake.Options, mod func(*httpapi.Config)) (*env, *pdcpfake.Server) {
	t.Helper()
	fake := pdcpfake.NewServer(opts)
	t.Cleanup(fake.Close)
	c, err := client.New(client.Config{APIKey: "test-key", Server: fake.URL(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	e := newEnv(t, func(cfg *httpapi.Config) {
		cfg.Lister = func(team string) jobs.Lister { return c.WithTeam(team) }
		if mod != nil {
			mod(cfg)
		}
	})
	return e, fake
}

func jsonCreate(body string) req {
	return req{method: http.MethodPost, path: "/v1/campaigns", ctype: "application/json", body: strings.NewReader(body)}
}

// TestQueryCampaignRunsPerAsset: a campaign created with query (no
// express) holds exactly the assets the query listed from PDCP, and its
// worker resets exactly those, one call each, and nothing else.
func TestQueryCampaignRunsPerAsset(t *testing.T) {
	e, fake := queryEnv(t, pdcpfake.Options{Assets: 300, LabelsPerAsset: 2, Seed: 11}, nil)
	f := fake.Fake()
	before := map[int64][]string{}
	var matching []int64
	for _, id := range f.AssetIDs() {
		l, _ := f.Labels(id)
		before[id] = l
		if slices.Contains(l, "stale") {
			matching = append(matching, id)
		}
	}
	if len(matching) == 0 || len(matching) == len(before) {
		t.Fatalf("%d of %d seeded assets carry stale: want some, not all", len(matching), len(before))
	}
	r := e.do(jsonCreate(`{"campaign_id":"hq","query":"labels= stale ,","labels":["stale"]}`))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	m := r.json(t)
	plan := m["plan"].(map[string]any)
	if plan["valid"] != float64(len(matching)) || plan["query"] != "labels=stale" {
		t.Fatalf("plan %v: want %d valid assets and query labels=stale", plan, len(matching))
	}
	if c := m["campaign"].(map[string]any); c["query"] != "labels=stale" || !strings.HasPrefix(c["source"].(string), "api/pdcp_query ") {
		t.Errorf("campaign %v: want query labels=stale and source api/pdcp_query ...", c)
	}
	e.startWorkerOn(fake)
	done := e.waitState("hq", jobs.StateDone, 30*time.Second)
	if counts := done["counts"].(map[string]any); counts["reset"] != float64(len(matching)) {
		t.Fatalf("counts %v: want %d reset", counts, len(matching))
	}
	for id, was := range before {
		now, _ := f.Labels(id)
		calls := len(f.Calls(id))
		if slices.Contains(matching, id) {
			want := slices.DeleteFunc(slices.Clone(was), func(l string) bool { return l == "stale" })
			if !slices.Equal(now, want) || calls != 1 {
				t.Errorf("asset %d (matching): labels %v after %d calls, want %v after 1", id, now, calls, want)
			}
			continue
		}
		if !slices.Equal(now, was) || calls != 0 {
			t.Errorf("asset %d (not matching): labels %v -> %v after %d calls, want untouched", id, was, now, calls)
		}
	}
	if got := f.Stats().BulkCalls; got != 0 {
		t.Errorf("%d bulk calls, want none without express", got)
	}
}

// TestQueryRefusals: query, express and select_all are refused with the
// field named, before PDCP is asked anything; a wide query passes with
// select_all only, and then waits for approval.
func TestQueryRefusals(t *testing.T) {
	e, fake := queryEnv(t, pdcpfake.Options{Assets: 50, LabelsPerAsset: 2, Seed: 11}, nil)
	for _, tc := range []struct {
		name, body string
		status     int
		want       []string
	}{
		{"express without query", `{"asset_ids":[1],"labels":["stale"],"express":true}`, 400, []string{"express needs query"}},
		{"select_all without query", `{"asset_ids":[1],"select_all":true}`, 400, []string{"select_all applies to query only"}},
		{"query and asset_ids", `{"asset_ids":[1],"query":"labels=stale"}`, 400, []string{"asset_ids and query"}},
		{"empty query", `{"query":" ","labels":["stale"]}`, 400, []string{"query is empty"}},
		{"express in delete mode", `{"query":"labels=stale","express":true}`, 400, []string{"express", "mode remove"}},
		{"express without snapshot", `{"query":"labels=stale","labels":["stale"],"express":true,"snapshot":false}`, 400, []string{"express", "needs the snapshot"}},
		{"express with domain", `{"query":"labels=stale&domain=example.com","labels":["stale"],"express":true}`, 400, []string{"express", "domain"}},
		{"express with is_internal", `{"query":"labels=stale&is_internal=true","labels":["stale"],"express":true}`, 400, []string{"express", "is_internal"}},
		{"express with custom_filter", `{"query":"labels=stale&custom_filter=abc","labels":["stale"],"express":true}`, 400, []string{"express", "custom_filter"}},
		{"express with select_all", `{"query":"labels=stale","labels":["stale"],"express":true,"select_all":true}`, 400, []string{"express and select_all"}},
		{"bad deadline", `{"query":"labels=stale","labels":["stale"],"express":true,"express_deadline":"soon"}`, 400, []string{"express_deadline"}},
		{"deadline too long", `{"query":"labels=stale","labels":["stale"],"express":true,"express_deadline":"48h"}`, 400, []string{"1s..24h"}},
		{"wide query", `{"query":"is_internal=false&time=all_time","labels":["stale"]}`, 400, []string{"narrows nothing", "select_all"}},
		{"paging", `{"query":"labels=stale&offset=10","labels":["stale"]}`, 400, []string{`"offset"`}},
		{"typo", `{"query":"lables=stale","labels":["stale"]}`, 400, []string{`unknown asset filter "lables"`}},
		{"reset_unlisted", `{"query":"labels=stale","labels":["stale"],"reset_unlisted":true}`, 400, []string{"reset_unlisted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(jsonCreate(tc.body))
			if r.status != tc.status {
				t.Fatalf("%s: %d %s, want %d", tc.body, r.status, r.body, tc.status)
			}
			msg, _ := r.json(t)["error"].(string)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%s: error %q lacks %q", tc.body, msg, w)
				}
			}
		})
	}
	t.Run("query as a CSV query parameter", func(t *testing.T) {
		r := e.do(req{method: http.MethodPost, path: "/v1/campaigns?query=labels%3Dstale", ctype: "text/csv", body: csvBody("1")})
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "JSON body") {
			t.Fatalf("%d %s, want 400 naming the JSON body", r.status, r.body)
		}
	})
	if got := fake.Fake().Stats().Requests; got != 0 {
		t.Fatalf("refused requests made %d PDCP requests", got)
	}
	t.Run("wide query with select_all waits for approval", func(t *testing.T) {
		r := e.do(jsonCreate(`{"campaign_id":"all","query":"is_internal=false","select_all":true,"labels":["stale"]}`))
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		m := r.json(t)
		if m["approval_required"] != true || m["campaign"].(map[string]any)["state"] != string(jobs.StatePending) {
			t.Errorf("answer %s: want a pending campaign that requires approval (ConfirmAbove is off)", r.body)
		}
	})
}

// TestQueryExpressPlan: a dry run of an express campaign lists the query
// and answers the bulk call's plan with the warning; nothing is created.
func TestQueryExpressPlan(t *testing.T) {
	e, fake := queryEnv(t, pdcpfake.Options{Assets: 50, LabelsPerAsset: 2, Seed: 11}, nil)
	r := e.do(jsonCreate(`{"query":"labels=stale","labels":["stale"],"express":true,"express_deadline":"90s","dry_run":true}`))
	if r.status != http.StatusOK {
		t.Fatalf("dry run: %d %s", r.status, r.body)
	}
	for _, want := range []string{`"call":"PATCH /v1/asset/labels?update_type=delete"`, `"filters":{"labels":"stale"}`,
		`"verification_deadline":"1m30s"`, "cannot be undone (their number is recorded)"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("answer lacks %s: %s", want, r.body)
		}
	}
	if st := fake.Fake().Stats(); st.LabelCalls != 0 || st.BulkCalls != 0 {
		t.Errorf("dry run: %d label calls, %d bulk calls", st.LabelCalls, st.BulkCalls)
	}
	if n := len(e.keys()); n != 0 {
		t.Errorf("dry run wrote %d keys", n)
	}
}

// TestQueryBounds: a query over more assets than MaxQueryAssets is refused
// (413), not cut; a server without a lister refuses query campaigns (501);
// a token may list only for its own teams (403, before PDCP is asked).
func TestQueryBounds(t *testing.T) {
	e, _ := queryEnv(t, pdcpfake.Options{Assets: 200, LabelsPerAsset: 2, Seed: 11}, func(c *httpapi.Config) { c.MaxQueryAssets = 10 })
	r := e.do(jsonCreate(`{"query":"labels=stale","labels":["stale"]}`))
	if r.status != http.StatusRequestEntityTooLarge || r.errCode(t) != "too_many_assets" {
		t.Fatalf("query over more than 10 assets with MaxQueryAssets 10: %d %s, want 413 too_many_assets", r.status, r.body)
	}

	capped, _ := queryEnv(t, pdcpfake.Options{Assets: 200, LabelsPerAsset: 2, Seed: 11}, func(c *httpapi.Config) { c.Defaults.ConfirmAbove = 2 })
	r = capped.do(jsonCreate(`{"campaign_id":"big","query":"labels=stale","labels":["stale"]}`))
	if r.status != http.StatusCreated || r.json(t)["approval_required"] != true {
		t.Fatalf("query over more assets than ConfirmAbove: %d %s, want 201 pending for approval, as an upload", r.status, r.body)
	}

	none := newEnv(t, nil)
	if r := none.do(jsonCreate(`{"query":"labels=stale","labels":["stale"]}`)); r.status != http.StatusNotImplemented || r.errCode(t) != "query_unsupported" {
		t.Fatalf("no lister: %d %s, want 501 query_unsupported", r.status, r.body)
	}

	p := writeTokenFile(t, "tokens:\n"+teamEntry("a", scopeTokA, "operator", "team-a"), 0o600)
	scoped, fake := queryEnv(t, pdcpfake.Options{Assets: 50, LabelsPerAsset: 2, Seed: 11},
		func(c *httpapi.Config) { c.Tokens, c.TokenFile, c.TokenReloadInterval = nil, p, -1 })
	r = scoped.do(withToken(scopeTokA, jsonCreate(`{"query":"labels=stale","labels":["stale"],"team_id":"team-b"}`)))
	if r.status != http.StatusForbidden {
		t.Fatalf("token of team-a, query for team-b: %d %s, want 403", r.status, r.body)
	}
	if got := fake.Fake().Stats().Requests; got != 0 {
		t.Errorf("a refused team made %d PDCP requests", got)
	}
	r = scoped.do(withToken(scopeTokA, jsonCreate(`{"query":"labels=stale","labels":["stale"],"team_id":"team-a"}`)))
	if r.status != http.StatusCreated {
		t.Fatalf("token of team-a, query for team-a: %d %s", r.status, r.body)
	}
}

// TestQueryIdempotency: a query request retried with its Idempotency-Key
// answers with the campaign the first one created, though the listing
// runs again; another query under the same key is refused.
func TestQueryIdempotency(t *testing.T) {
	e, _ := queryEnv(t, pdcpfake.Options{Assets: 60, LabelsPerAsset: 2, Seed: 11}, nil)
	send := func(body string) resp {
		q := jsonCreate(body)
		q.header = map[string]string{"Idempotency-Key": "q-1"}
		return e.do(q)
	}
	body := `{"query":"labels=stale","labels":["stale"]}`
	first, again := send(body), send(body)
	if first.status != http.StatusCreated || again.status != http.StatusOK || again.json(t)["replayed"] != true {
		t.Fatalf("first %d %s, retry %d %s; want 201 then a 200 replay", first.status, first.body, again.status, again.body)
	}
	if other := send(`{"query":"labels=pci","labels":["pci"]}`); other.status != http.StatusUnprocessableEntity {
		t.Fatalf("another query under the same key: %d %s, want 422", other.status, other.body)
	}
}
