package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

// submitExpress stores an express campaign of team-a (assets 1..3), as
// the CLI's --query --express does, pending approval so that no task moves
// its express state but the test.
func (u *ui) submitExpress(id string) *jobs.Campaign {
	u.t.Helper()
	def := &jobs.Campaign{ID: id, Name: "express " + id, Mode: jobs.ModeRemove, Labels: []string{"stale"}, TeamID: "team-a",
		Priority: jobs.PriorityNormal, BatchSize: jobs.DefaultBatchSize, Policy: jobs.DefaultPolicy(), Snapshot: true,
		Query: "labels=stale&not_seen_for_days=30", Express: true, ExpressDeadline: 5 * time.Minute}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2", "3"}))
	if err != nil {
		u.t.Fatal(err)
	}
	res, err := u.store.Submit(context.Background(), def, plan, jobs.SubmitOptions{RequireApproval: true})
	if err != nil {
		u.t.Fatal(err)
	}
	return res.Campaign
}

// TestCampaignPageExpressPanel: the campaign page of an express campaign
// has the Express panel (#express) with the bulk call's facts, the
// difference between PDCP's asset_count and the guard listing as a
// warning, and the cancel form warns that cancelling does not take back
// what the bulk call changed; the confirmation after cancelling says so
// too. A campaign that is not express has no panel.
func TestCampaignPageExpressPanel(t *testing.T) {
	u := newUI(t, nil)
	ctx := context.Background()
	c := u.submitExpress("exp-page")
	op := u.signIn(operatorToken)

	b := u.get(op, "/ui/campaigns/exp-page").body
	if !strings.Contains(b, `id="express" data-express-state="waiting"`) || text(b, "express-state") != "waiting" ||
		text(b, "express-deadline") != "5m00s" {
		t.Errorf("express panel before the bulk call: state %q, deadline %q\n%s", text(b, "express-state"), text(b, "express-deadline"), b)
	}
	if strings.Contains(b, `id="cancel-express-note"`) || strings.Contains(b, `id="express-difference"`) {
		t.Errorf("before the bulk call the page warns of it:\n%s", b)
	}

	sentAt := time.Date(2026, 12, 3, 21, 30, 0, 0, time.UTC)
	deadline := sentAt.Add(5 * time.Minute)
	if err := u.store.UpdateExpress(ctx, c, jobs.ExpressWaiting, &jobs.ExpressInfo{State: jobs.ExpressSending,
		Listed: 3, SentAt: sentAt, Deadline: deadline}); err != nil {
		t.Fatal(err)
	}
	if err := u.store.UpdateExpress(ctx, c, jobs.ExpressSending, &jobs.ExpressInfo{State: jobs.ExpressSent,
		Listed: 3, SentAt: sentAt, Deadline: deadline, AssetCount: 5, Difference: 2, Async: true, Verified: 1}); err != nil {
		t.Fatal(err)
	}
	b = html.UnescapeString(u.get(op, "/ui/campaigns/exp-page").body)
	for id, want := range map[string]string{
		"express-state":       "sent",
		"express-listed":      "3 of the campaign's assets (guard listing)",
		"express-sent-at":     "2026-12-03 21:30:00 UTC",
		"express-asset-count": "5",
		"express-difference":  "2 assets changed by the bulk call are not the campaign's and cannot be undone.",
		"express-verified":    "1 seen without the labels (path bulk)",
		"express-deadline":    "2026-12-03 21:35:00 UTC",
		"cancel-express-note": "Express: the bulk call was sent at 2026-12-03T21:30:00Z: cancelling stops only the per-asset calls; what the bulk call changed stays changed (undo puts it back).",
	} {
		if got := text(b, id); got != want {
			t.Errorf("#%s: got %q, want %q", id, got, want)
		}
	}
	if !strings.Contains(b, `id="express-difference" class="warning"`) {
		t.Errorf("the difference is not a warning:\n%s", b)
	}
	if !strings.Contains(text(b, "express-async"), "yes: PDCP applies the change later") {
		t.Errorf("#express-async: %q", text(b, "express-async"))
	}

	res := u.post(op, "/ui/campaigns/exp-page/cancel", url.Values{"confirm": {"exp-page"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("cancel: %d %s", res.status, res.body)
	}
	loc, _ := url.Parse(res.header.Get("Location"))
	want := "Cancelled: the bulk call was sent at 2026-12-03T21:30:00Z: cancelling stops only the per-asset calls; what the bulk call changed stays changed (undo puts it back)."
	if got := loc.Query().Get("flash"); got != want {
		t.Errorf("cancel confirmation:\n got %q\nwant %q", got, want)
	}
	if pg := u.get(op, loc.String()); html.UnescapeString(text(pg.body, "flash")) != want {
		t.Errorf("#flash after cancel: got %q (status %d)\n%s", text(pg.body, "flash"), pg.status, pg.body)
	}

	plain := u.create(operatorToken, map[string]any{"campaign_id": "plain", "team_id": "team-a", "asset_ids": ids(1, 2), "labels": []string{"old"}})
	if b := u.get(op, "/ui/campaigns/"+plain).body; strings.Contains(b, `id="express"`) || strings.Contains(b, "Express") {
		t.Errorf("a campaign that is not express shows an express panel:\n%s", b)
	}
}

// TestExpressPanelRefused: a refused bulk call shows its reason and the
// guard listing's count of assets that are not the campaign's, and no
// fact of a call that was never sent; cancelling it warns of nothing.
func TestExpressPanelRefused(t *testing.T) {
	u := newUI(t, nil)
	c := u.submitExpress("exp-refused")
	reason := "the guard listing found 2 assets that are not the campaign's"
	if err := u.store.UpdateExpress(context.Background(), c, jobs.ExpressWaiting, &jobs.ExpressInfo{State: jobs.ExpressRefused,
		Reason: reason, Listed: 3, Outside: 2, FinishedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b := html.UnescapeString(u.get(u.signIn(operatorToken), "/ui/campaigns/exp-refused").body)
	if text(b, "express-state") != "refused" || text(b, "express-reason") != reason || text(b, "express-outside") != "2" {
		t.Errorf("refused panel: state %q, reason %q, outside %q\n%s", text(b, "express-state"), text(b, "express-reason"), text(b, "express-outside"), b)
	}
	for _, id := range []string{"express-sent-at", "express-asset-count", "express-difference", "express-verified", "cancel-express-note"} {
		if strings.Contains(b, `id="`+id+`"`) {
			t.Errorf("a bulk call never sent shows #%s", id)
		}
	}
}

// TestFailuresTableShowsPath: the failures table and the asset page show
// each asset's path (per_asset after a per-asset call, — with none).
func TestFailuresTableShowsPath(t *testing.T) {
	u := newUI(t, nil)
	id := u.create(operatorToken, map[string]any{"campaign_id": "paths", "team_id": "team-a", "asset_ids": ids(1, 3), "labels": []string{"old"}})
	u.record(id, jobs.OutcomeFailed, 1)
	op := u.signIn(operatorToken)
	b := u.get(op, "/ui/campaigns/"+id).body
	if !strings.Contains(b, `<th scope="col">Path</th>`) || !strings.Contains(b, `<td class="path">per_asset</td>`) {
		t.Errorf("failures table without the path of asset 1 (failed after a call):\n%s", b)
	}
	b = u.get(op, "/ui/assets?id=1").body
	if !strings.Contains(b, `<td class="path">per_asset</td>`) {
		t.Errorf("asset page without the path:\n%s", b)
	}
}

// TestLiveFollowsTheExpressState: the live stream of an express campaign
// carries its bulk call (express), so that the page reloads on a new
// express state and its verified count moves; a campaign that is not
// express has none.
func TestLiveFollowsTheExpressState(t *testing.T) {
	u, _ := serveUI(t, func(c *httpapi.Config) { c.Console.PollInterval = 50 * time.Millisecond })
	c := u.submitExpress("exp-live")
	s := u.watch(u.signIn(viewerToken), "exp-live")
	x, _ := s.next(t).data["express"].(map[string]any)
	if x == nil || x["state"] != "" {
		t.Fatalf("first event's express: %v, want state \"\"", x)
	}
	sentAt := time.Now().UTC()
	if err := u.store.UpdateExpress(context.Background(), c, jobs.ExpressWaiting, &jobs.ExpressInfo{State: jobs.ExpressSending,
		Listed: 3, SentAt: sentAt}); err != nil {
		t.Fatal(err)
	}
	for {
		if x, _ := s.next(t).data["express"].(map[string]any); x != nil && x["state"] == "sending" {
			break
		}
	}
	s.body.Close()

	plain := u.create(operatorToken, map[string]any{"campaign_id": "plain-live", "team_id": "team-a", "asset_ids": ids(1, 2)})
	s = u.watch(u.signIn(viewerToken), plain)
	if ev := s.next(t); ev.data["express"] != nil {
		t.Errorf("a campaign that is not express streams express: %v", ev.data)
	}
	s.body.Close()
}
