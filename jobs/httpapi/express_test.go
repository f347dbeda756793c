package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// submitExpress stores an express campaign of assets 1..3 through the
// store (as the CLI's --query --express does), pending approval, so that
// no task runs it: the tests move its express state themselves.
func (e *env) submitExpress(t *testing.T, id string) *jobs.Campaign {
	t.Helper()
	def := &jobs.Campaign{ID: id, Name: "express " + id, Mode: jobs.ModeRemove, Labels: []string{"stale"},
		Priority: jobs.PriorityNormal, BatchSize: 100, Policy: jobs.DefaultPolicy(), Snapshot: true,
		Query: "labels=stale&not_seen_for_days=30", Express: true, ExpressDeadline: 5 * time.Minute}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2", "3"}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.store.Submit(context.Background(), def, plan, jobs.SubmitOptions{RequireApproval: true})
	if err != nil {
		t.Fatal(err)
	}
	return res.Campaign
}

// sendBulk records the bulk call of express campaign c as sent at sentAt,
// PDCP answering assetCount for the 3 assets the guard listing found.
func (e *env) sendBulk(t *testing.T, c *jobs.Campaign, sentAt time.Time, assetCount int64) {
	t.Helper()
	ctx := context.Background()
	deadline := sentAt.Add(c.ExpressDeadline)
	if err := e.store.UpdateExpress(ctx, c, jobs.ExpressWaiting, &jobs.ExpressInfo{State: jobs.ExpressSending,
		Listed: 3, SentAt: sentAt, Deadline: deadline}); err != nil {
		t.Fatalf("express sending: %v", err)
	}
	if err := e.store.UpdateExpress(ctx, c, jobs.ExpressSending, &jobs.ExpressInfo{State: jobs.ExpressSent,
		Listed: 3, SentAt: sentAt, Deadline: deadline, AssetCount: assetCount, Async: true,
		Difference: assetCount - 3}); err != nil {
		t.Fatalf("express sent: %v", err)
	}
}

// TestExpressStatus: GET /v1/campaigns/{id} shows an express campaign's
// bulk call as jobs.ExpressInfo under "express", and no "express" at all
// for any other campaign.
func TestExpressStatus(t *testing.T) {
	e := newEnv(t, nil)
	c := e.submitExpress(t, "exp-status")

	r := e.do(req{method: "GET", path: "/v1/campaigns/exp-status"})
	if r.status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	var before struct {
		Express *jobs.ExpressInfo `json:"express"`
	}
	if err := json.Unmarshal(r.body, &before); err != nil {
		t.Fatal(err)
	}
	if before.Express == nil || before.Express.State != jobs.ExpressWaiting {
		t.Fatalf("express before the bulk call: got %+v, want state \"\"", before.Express)
	}

	sentAt := time.Date(2026, 12, 3, 21, 0, 0, 0, time.UTC)
	e.sendBulk(t, c, sentAt, 5)
	r = e.do(req{method: "GET", path: "/v1/campaigns/exp-status"})
	var after struct {
		Express *jobs.ExpressInfo `json:"express"`
	}
	if err := json.Unmarshal(r.body, &after); err != nil {
		t.Fatal(err)
	}
	x := after.Express
	if x == nil {
		t.Fatalf("no express in %s", r.body)
	}
	if x.State != jobs.ExpressSent || x.Listed != 3 || x.AssetCount != 5 || x.Difference != 2 || !x.Async ||
		!x.SentAt.Equal(sentAt) || !x.Deadline.Equal(sentAt.Add(5*time.Minute)) {
		t.Errorf("express: got %+v, want sent, listed 3, asset_count 5, difference 2, async, sent at %v, deadline 5m later", x, sentAt)
	}

	// A campaign that is not express has no express object.
	if r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=plain", ctype: "text/csv", body: csvBody("1", "2")}); r.status != http.StatusCreated {
		t.Fatalf("create plain: %d %s", r.status, r.body)
	}
	r = e.do(req{method: "GET", path: "/v1/campaigns/plain"})
	if _, ok := r.json(t)["express"]; ok {
		t.Errorf("a campaign that is not express shows express: %s", r.body)
	}
}

// TestExpressCancelNote: cancelling an express campaign whose bulk call
// was sent answers that the bulk call's changes stay; before the bulk
// call (and for any other campaign) the answer has no note.
func TestExpressCancelNote(t *testing.T) {
	e := newEnv(t, nil)
	sent := e.submitExpress(t, "exp-sent")
	e.submitExpress(t, "exp-waiting")
	sentAt := time.Date(2026, 12, 3, 21, 30, 0, 0, time.UTC)
	e.sendBulk(t, sent, sentAt, 3)

	cancel := func(id string) (note, state string) {
		t.Helper()
		r := e.do(req{method: "POST", path: "/v1/campaigns/" + id + "/cancel"})
		if r.status != http.StatusOK {
			t.Fatalf("cancel %s: %d %s", id, r.status, r.body)
		}
		var res struct {
			Campaign struct {
				State string `json:"state"`
			} `json:"campaign"`
			Note string `json:"note"`
		}
		if err := json.Unmarshal(r.body, &res); err != nil {
			t.Fatal(err)
		}
		return res.Note, res.Campaign.State
	}

	note, state := cancel("exp-sent")
	if state != string(jobs.StateCancelled) {
		t.Errorf("exp-sent state %q, want cancelled", state)
	}
	want := "the bulk call was sent at 2026-12-03T21:30:00Z: cancelling stops only the per-asset calls; " +
		"what the bulk call changed stays changed (undo puts it back)"
	if note != want {
		t.Errorf("cancel note after the bulk call:\n got %q\nwant %q", note, want)
	}
	if note, _ := cancel("exp-waiting"); note != "" {
		t.Errorf("cancel note before any bulk call: got %q, want none", note)
	}
	if r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=plain", ctype: "text/csv", body: csvBody("1")}); r.status != http.StatusCreated {
		t.Fatalf("create plain: %d %s", r.status, r.body)
	}
	if note, _ := cancel("plain"); strings.Contains(note, "bulk") {
		t.Errorf("cancel note of a campaign that is not express: %q", note)
	}
}
