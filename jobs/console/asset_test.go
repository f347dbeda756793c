package console_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

var hitRE = regexp.MustCompile(`(?s)<tr data-campaign="([^"]+)" data-state="[^"]+">.*?<td class="outcome"><span class="pill o-[a-z_]+">([a-z_]+)</span>`)

// hits returns the campaign=outcome rows of an asset page in order.
func hits(body string) []string {
	var out []string
	for _, m := range hitRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+"="+m[2])
	}
	return out
}

// TestAssetPage: /ui/assets?id= lists the asset's outcome in every
// campaign of the signed-in token's teams, newest first, each linking to
// its campaign page; another team's campaign is left out; an error text
// is shown as text; a bad ID is refused naming it, on the page.
func TestAssetPage(t *testing.T) {
	u := newUI(t, nil)
	u.create(operatorToken, map[string]any{"campaign_id": "a-one", "team_id": "team-a", "asset_ids": ids(1, 5)})
	u.create(operatorToken, map[string]any{"campaign_id": "a-two", "team_id": "team-a", "asset_ids": ids(3, 6)})
	u.create(otherToken, map[string]any{"campaign_id": "b-secret", "team_id": "team-b", "asset_ids": ids(1, 5)})
	now := time.Now()
	if _, err := u.store.Ledger().Record(context.Background(), "a-one", []jobs.BatchRecords{{Batch: 0, Records: []jobs.Record{
		{AssetID: 3, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 8, Error: "<b>upstream</b> exploded", FinishedAt: now},
	}}}, now); err != nil {
		t.Fatal(err)
	}

	viewer := u.signIn(viewerToken)
	res := u.get(viewer, "/ui/assets?id=3")
	if res.status != http.StatusOK || !strings.Contains(res.body, `<table id="asset-hits"`) {
		t.Fatalf("asset 3: %d\n%s", res.status, res.body)
	}
	if got := strings.Join(hits(res.body), " "); got != "a-two=pending a-one=failed" {
		t.Errorf("asset 3's rows: %q, want a-two pending, then a-one failed", got)
	}
	for _, want := range []string{`href="/ui/campaigns/a-one"`, `href="/ui/campaigns/a-two"`, "&lt;b&gt;upstream&lt;/b&gt; exploded", `<td class="status">500</td>`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("asset 3's page lacks %s", want)
		}
	}
	if strings.Contains(res.body, "b-secret") || strings.Contains(res.body, "<b>upstream") {
		t.Errorf("asset 3's page shows another team's campaign or unescaped error text:\n%s", res.body)
	}
	if got := hits(u.get(u.signIn(otherToken), "/ui/assets?id=3").body); len(got) != 1 || got[0] != "b-secret=pending" {
		t.Errorf("team-b's rows of asset 3: %v, want b-secret alone", got)
	}

	none := u.get(viewer, "/ui/assets?id=999")
	if none.status != http.StatusOK || len(hits(none.body)) != 0 || !strings.Contains(none.body, "No campaign you can see holds asset 999") {
		t.Errorf("asset 999: %d, want 200 saying no campaign holds it:\n%s", none.status, none.body)
	}
	bad := u.get(viewer, "/ui/assets?id=12%3Cx%3E")
	if bad.status != http.StatusBadRequest || !strings.Contains(bad.body, `id="error"`) || !strings.Contains(bad.body, "12&lt;x&gt;") {
		t.Errorf("a bad ID: %d, want 400 with #error naming it:\n%s", bad.status, bad.body)
	}
	if empty := u.get(viewer, "/ui/assets"); empty.status != http.StatusOK || strings.Contains(empty.body, "asset-hits") ||
		!strings.Contains(empty.body, `id="asset-search"`) {
		t.Errorf("no ID: %d, want the page with the search box and no table", empty.status)
	}
	if anon := u.get(u.browser(), "/ui/assets?id=3"); anon.status != http.StatusSeeOther ||
		!strings.HasPrefix(anon.header.Get("Location"), "/ui/login?next=") {
		t.Errorf("without a session: %d %q, want 303 to sign-in", anon.status, anon.header.Get("Location"))
	}
}
