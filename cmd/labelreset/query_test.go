package main

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestQueryRunResetsTheMatchingAssets: run --query (no --express) lists
// the query over real HTTP from the fake PDCP, and its campaign calls
// exactly the assets the query selected, one by one, and no other.
func TestQueryRunResetsTheMatchingAssets(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 300, LabelsPerAsset: 2, Seed: 11})
	f := e.fake.Fake()
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
	out, errs, code := e.run("run", "--campaign", "q1", "--query", "labels= stale ,,", "--labels", "stale", "--yes", "--no-preflight")
	if code != 0 {
		t.Fatalf("run --query: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "query: listing labels=stale") {
		t.Errorf("stderr lacks the listing's progress:\n%s", errs)
	}
	s := e.status("q1")
	if s.State != "done" || s.Total != int64(len(matching)) || s.Counts["reset"] != int64(len(matching)) {
		t.Fatalf("campaign q1: %s, %d assets, counts %v; want done with %d reset", s.State, s.Total, s.Counts, len(matching))
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
		t.Errorf("%d bulk calls, want none without --express", got)
	}
}

// TestQueryRefusals: --query, --express and --select-all are refused
// before anything is listed or written, each naming its flag, through the
// real binary.
func TestQueryRefusals(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 50, LabelsPerAsset: 2, Seed: 11})
	keys := e.namespaceKeys()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"express without query", []string{"--ids", "1", "--labels", "stale", "--express"}, []string{"--express needs --query"}},
		{"select-all without query", []string{"--ids", "1", "--select-all"}, []string{"--select-all applies to --query only"}},
		{"deadline without express", []string{"--query", "labels=stale", "--labels", "stale", "--express-deadline", "5m"}, []string{"--express-deadline 5m0s"}},
		{"query and ids", []string{"--query", "labels=stale", "--ids", "1"}, []string{"either --query or --csv/--ids"}},
		{"express in delete mode", []string{"--query", "labels=stale", "--express"}, []string{"--express", "--query \"labels=stale\"", "mode remove"}},
		{"express without snapshot", []string{"--query", "labels=stale", "--labels", "stale", "--express", "--no-snapshot"}, []string{"--express", "needs the snapshot"}},
		{"express deadline too long", []string{"--query", "labels=stale", "--labels", "stale", "--express", "--express-deadline", "48h"}, []string{"--express", "1s..24h"}},
		{"express with domain", []string{"--query", "labels=stale&domain=example.com", "--labels", "stale", "--express"}, []string{"--express", "domain"}},
		{"express with is_internal", []string{"--query", "labels=stale&is_internal=true", "--labels", "stale", "--express"}, []string{"--express", "is_internal"}},
		{"express with custom_filter", []string{"--query", "labels=stale&custom_filter=abc", "--labels", "stale", "--express"}, []string{"--express", "custom_filter"}},
		{"express with select-all", []string{"--query", "labels=stale", "--labels", "stale", "--express", "--select-all"}, []string{"--express and --select-all"}},
		{"wide query", []string{"--query", "is_internal=false&time=all_time", "--labels", "stale"}, []string{"--query \"is_internal=false&time=all_time\"", "narrows nothing", "--select-all"}},
		{"empty query value", []string{"--query", "labels=+", "--labels", "stale"}, []string{"--query \"labels=+\"", "narrows nothing"}},
		{"paging", []string{"--query", "labels=stale&limit=5", "--labels", "stale"}, []string{"--query", `"limit"`}},
		{"typo", []string{"--query", "lables=stale", "--labels", "stale"}, []string{"--query", `unknown asset filter "lables"`}},
		{"reset-unlisted", []string{"--query", "labels=stale", "--labels", "stale", "--reset-unlisted"}, []string{"--reset-unlisted cannot be used with --query"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range []string{"submit", "run"} {
				out, errs, code := e.run(append([]string{cmd}, tc.args...)...)
				if code != 2 {
					t.Fatalf("%s %v: exit %d, want 2\n%s\n%s", cmd, tc.args, code, out, errs)
				}
				for _, w := range tc.want {
					if !strings.Contains(errs, w) {
						t.Errorf("%s %v: stderr lacks %q:\n%s", cmd, tc.args, w, errs)
					}
				}
			}
		})
	}
	if got := e.fake.Fake().Stats().Requests; got != 0 {
		t.Errorf("refused commands made %d requests to PDCP", got)
	}
	if got := e.namespaceKeys(); got != keys {
		t.Errorf("refused commands changed the namespace's keys: %d -> %d", keys, got)
	}
}

// TestQuerySelectAllWaitsForApproval: --select-all admits a query that
// narrows nothing, and its campaign waits for approval even with --yes.
func TestQuerySelectAllWaitsForApproval(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 40, LabelsPerAsset: 2, Seed: 11})
	out, errs, code := e.run("submit", "--campaign", "all", "--query", "is_internal=false", "--select-all", "--labels", "stale", "--yes")
	if code != 0 {
		t.Fatalf("submit --select-all: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "--select-all") || !strings.Contains(out, "labelreset approve all") {
		t.Errorf("submit output does not say why it waits:\n%s", out)
	}
	s := e.waitState("all", 10*time.Second, "pending")
	if s.Total == 0 {
		t.Errorf("campaign all has no assets")
	}
	if got := e.fake.Fake().Stats().LabelCalls; got != 0 {
		t.Errorf("%d label calls before approval", got)
	}
}

// TestExpressDryRunPlan: the plan of an express campaign names the one
// bulk call with its filters, the verification deadline, the per-asset
// calls for the rest and what cannot be undone; a dry run lists the query
// (GET only) and changes nothing.
func TestExpressDryRunPlan(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 60, LabelsPerAsset: 2, Seed: 11})
	out, errs, code := e.run("submit", "--query", "labels=stale", "--labels", "stale", "--express", "--express-deadline", "90s", "--dry-run")
	if code != 0 {
		t.Fatalf("submit --express --dry-run: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"query:          labels=stale", "PATCH /v1/asset/labels?update_type=delete", `{"labels":"stale"}`,
		"verification up to 1m30s", "called one by one", "cannot be undone (their number is recorded)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	st := e.fake.Fake().Stats()
	if st.LabelCalls != 0 || st.BulkCalls != 0 {
		t.Errorf("dry run: %d label calls, %d bulk calls, want none", st.LabelCalls, st.BulkCalls)
	}
	if out, _, code := e.run("submit", "--query", "labels=stale", "--labels", "stale", "--express", "--dry-run", "--json"); code != 0 ||
		!strings.Contains(out, `"express": {`) || !strings.Contains(out, `"verification_deadline": "10m0s"`) {
		t.Errorf("--json plan lacks the express part with the default deadline:\n%s", out)
	}
}

// TestServeListsQueryCampaigns: serve wires a PDCP lister from its own
// API key (PDCP_API_KEY), so a JSON create with a query lists the fake
// PDCP over real HTTP into the campaign; without a key it refuses with
// 501 and says why.
func TestServeListsQueryCampaigns(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 120, LabelsPerAsset: 2, Seed: 11})
	want := 0
	for _, id := range e.fake.Fake().AssetIDs() {
		if l, _ := e.fake.Fake().Labels(id); slices.Contains(l, "stale") {
			want++
		}
	}
	e.env = append(e.env, "LABELRESET_API_TOKENS="+testToken)
	addr := freeAddr(t)
	e.start("serve", "--addr", addr, "--confirm-above", "-1")
	waitHTTP(t, "http://"+addr+"/readyz", 200)
	st, body := jsonAPICall(t, addr, testToken, `{"campaign_id":"sq","query":"labels=stale","labels":["stale"]}`)
	if st != 201 || !strings.Contains(body, `"query":"labels=stale"`) {
		t.Fatalf("create with query: %d %s", st, body)
	}
	if s := e.status("sq"); s.Total != int64(want) {
		t.Errorf("campaign sq holds %d assets, want the %d the query selects", s.Total, want)
	}

	var env []string
	for _, kv := range e.env {
		if !strings.HasPrefix(kv, "PDCP_API_KEY=") {
			env = append(env, kv)
		}
	}
	e.env = env
	addr2 := freeAddr(t)
	e.start("serve", "--addr", addr2)
	waitHTTP(t, "http://"+addr2+"/readyz", 200)
	if st, body := jsonAPICall(t, addr2, testToken, `{"query":"labels=stale","labels":["stale"]}`); st != 501 || !strings.Contains(body, "PDCP API key") {
		t.Errorf("serve without an API key, create with query: %d %s, want 501 naming the missing key", st, body)
	}
}

// jsonAPICall POSTs a JSON create to serve at addr.
func jsonAPICall(t *testing.T, addr, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/campaigns", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
