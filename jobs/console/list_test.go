package console_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs"
)

var rowRE = regexp.MustCompile(`<tr data-campaign="([^"]+)" data-state="([^"]+)"`)

func rows(body string) map[string]string {
	out := map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func TestListShowsTheTokensTeamsFilteredAndPaged(t *testing.T) {
	u := newUI(t, nil)
	for i := range 3 {
		u.create(operatorToken, map[string]any{"campaign_id": fmt.Sprintf("a-run-%d", i), "team_id": "team-a", "asset_ids": ids(1, 5)})
	}
	u.create(operatorToken, map[string]any{"campaign_id": "a-big", "team_id": "team-a", "asset_ids": ids(1, 150)}) // pending: over ConfirmAbove
	u.create(otherToken, map[string]any{"campaign_id": "b-secret", "team_id": "team-b", "asset_ids": ids(1, 5)})

	viewer := u.signIn(viewerToken)
	got := rows(u.get(viewer, "/ui/").body)
	if len(got) != 4 || got["a-big"] != "pending" || got["a-run-0"] != "running" {
		t.Fatalf("team-a viewer's list: %v", got)
	}
	if _, ok := got["b-secret"]; ok {
		t.Fatal("a viewer of team-a sees team-b's campaign")
	}
	if got := rows(u.get(viewer, "/ui/?state=pending").body); len(got) != 1 || got["a-big"] == "" {
		t.Fatalf("state=pending: %v", got)
	}
	if got := rows(u.get(viewer, "/ui/?q=a-run-").body); len(got) != 3 {
		t.Fatalf("q=a-run-: %v", got)
	}
	if got := rows(u.get(viewer, "/ui/?q=b-secret").body); len(got) != 0 {
		t.Fatalf("searching another team's ID: %v", got)
	}
	if res := u.get(viewer, "/ui/?state=bogus"); res.status != http.StatusBadRequest {
		t.Fatalf("state=bogus: %d", res.status)
	}
	if res := u.get(viewer, "/ui/?after=nonsense"); res.status != http.StatusBadRequest {
		t.Fatalf("after=nonsense: %d", res.status)
	}
	frag := u.get(viewer, "/ui/?fragment=1")
	if !strings.HasPrefix(frag.body, `<tbody id="campaigns-body">`) || len(rows(frag.body)) != 4 {
		t.Fatalf("fragment: %s", frag.body)
	}
	all := u.signIn(approverToken)
	if got := rows(u.get(all, "/ui/").body); len(got) != 5 {
		t.Fatalf("all-teams approver's list: %v", got)
	}
}

func TestListPagesWithoutRepeatsOrGaps(t *testing.T) {
	u := newUI(t, nil)
	want := map[string]bool{}
	for i := range 57 {
		id := fmt.Sprintf("p-%02d", i)
		u.create(operatorToken, map[string]any{"campaign_id": id, "team_id": "team-a", "asset_ids": ids(1, 1)})
		want[id] = true
	}
	c := u.signIn(approverToken)
	seen := map[string]bool{}
	next := "/ui/"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		body := u.get(c, next).body
		for id := range rows(body) {
			if seen[id] {
				t.Fatalf("%s on two pages", id)
			}
			seen[id] = true
		}
		next = ""
		if m := regexp.MustCompile(`id="page-next" href="([^"]+)"`).FindStringSubmatch(body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("paged through %d campaigns, want %d", len(seen), len(want))
	}
}

func TestOnlyOperatorsSeeTheNewCampaignLink(t *testing.T) {
	u := newUI(t, nil)
	for tok, want := range map[string]bool{viewerToken: false, approverToken: false, operatorToken: true} {
		body := u.get(u.signIn(tok), "/ui/").body
		if got := strings.Contains(body, `id="nav-new"`); got != want {
			t.Errorf("token %.6s…: new-campaign link shown %v, want %v", tok, got, want)
		}
	}
}

// A cancelled campaign's cancelled assets count as finished, but its bar
// on the list shows the assets worked: a full bar would read as done.
func TestListBarOfACancelledCampaignShowsTheAssetsWorked(t *testing.T) {
	u := newUI(t, nil)
	id := u.create(operatorToken, map[string]any{"campaign_id": "half", "team_id": "team-a", "asset_ids": ids(1, 5)})
	u.record(id, jobs.OutcomeReset, 1, 2)
	if _, err := u.store.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	u.record(id, jobs.OutcomeCancelled, 3, 4, 5)
	if cp := u.campaign(id); cp.State != jobs.StateCancelled || cp.Finished() != 5 {
		t.Fatalf("campaign %s, %d finished; want cancelled, 5 finished", cp.State, cp.Finished())
	}
	b := u.get(u.signIn(viewerToken), "/ui/").body
	for _, want := range []string{`<progress value="2" max="5" aria-label="40% worked">`, `<small>2 / 5</small>`, `cancelled 3`} {
		if !strings.Contains(b, want) {
			t.Errorf("the list's row of a cancelled campaign lacks %s", want)
		}
	}
}

// TestStateBadgesAreSpans: the state badge's class styles an inline
// pill; put on a table cell it made the cell an inline block with a
// border (a pill around the pill, out of line with its row). Only the
// badge itself carries it, on the list and on the asset page.
func TestStateBadgesAreSpans(t *testing.T) {
	u := newUI(t, nil)
	u.create(operatorToken, map[string]any{"campaign_id": "badge", "team_id": "team-a", "asset_ids": ids(1, 3)})
	c := u.signIn(operatorToken)
	tag := regexp.MustCompile(`<(\w+)[^>]*\sclass="state[" ]`)
	for _, path := range []string{"/ui/", "/ui/assets?id=2"} {
		res := u.get(c, path)
		found := tag.FindAllStringSubmatch(res.body, -1)
		if len(found) == 0 {
			t.Errorf("%s: no state badge", path)
		}
		for _, m := range found {
			if m[1] != "span" {
				t.Errorf("%s: a <%s> has the state badge's class", path, m[1])
			}
		}
	}
}
