package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// TestExpressStatusAndCancel: through the binary on a real Redis, status
// of an express campaign shows its bulk call (state, the guard listing's
// count against PDCP's asset_count with the difference called out, async,
// verified, deadline), status --json carries it under "express", and
// cancel after the bulk call says that what the bulk call changed stays.
func TestExpressStatusAndCancel(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	ctx := context.Background()
	store := jobs.NewStore(e.redis.Client, jobs.StoreOptions{Namespace: e.redis.Namespace})
	def := &jobs.Campaign{ID: "exp", Name: "express", Mode: jobs.ModeRemove, Labels: []string{"stale"},
		Priority: jobs.PriorityNormal, BatchSize: 100, Policy: jobs.DefaultPolicy(), Snapshot: true,
		Query: "labels=stale&not_seen_for_days=30", Express: true, ExpressDeadline: 5 * time.Minute}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2", "3"}))
	if err != nil {
		t.Fatal(err)
	}
	// Pending: no task moves its express state but this test.
	res, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{RequireApproval: true})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Campaign

	out, errs, code := e.run("status", "exp")
	if code != 0 || !strings.Contains(out, "express:   waiting: one bulk call (PATCH /v1/asset/labels?update_type=delete) once the snapshot is taken, then verification for up to 5m0s") {
		t.Errorf("status before the bulk call: exit %d\n%s\n%s", code, out, errs)
	}

	sentAt := time.Date(2026, 12, 3, 21, 30, 0, 0, time.UTC)
	if err := store.UpdateExpress(ctx, c, jobs.ExpressWaiting, &jobs.ExpressInfo{State: jobs.ExpressSending,
		Listed: 3, SentAt: sentAt, Deadline: sentAt.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := store.UpdateExpress(ctx, c, jobs.ExpressSending, &jobs.ExpressInfo{State: jobs.ExpressSent,
		Listed: 3, SentAt: sentAt, Deadline: sentAt.Add(5 * time.Minute), AssetCount: 5, Difference: 2, Async: true, Verified: 1}); err != nil {
		t.Fatal(err)
	}
	out, errs, code = e.run("status", "exp")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		"express:   sent at 2026-12-03T21:30:00Z: verifying asset by asset",
		"listed:           3 of the campaign's assets (guard listing)",
		"asset_count:      5 (PDCP): 2 assets changed by the bulk call are not the campaign's and cannot be undone",
		"async:            yes: PDCP applies the change later",
		"verified:         1 seen without the labels (path bulk)",
		"deadline:         2026-12-03T21:35:00Z",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	out, errs, code = e.run("status", "--json", "exp")
	var s struct {
		Express *jobs.ExpressInfo `json:"express"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.Express == nil {
		t.Fatalf("status --json: exit %d, no express\n%s\n%s", code, out, errs)
	}
	if x := s.Express; x.State != jobs.ExpressSent || x.Listed != 3 || x.AssetCount != 5 || x.Difference != 2 || !x.Async || x.Verified != 1 {
		t.Errorf("status --json express: got %+v", x)
	}

	out, errs, code = e.run("cancel", "exp")
	want := "note: the bulk call was sent at 2026-12-03T21:30:00Z: cancelling stops only the per-asset calls; what the bulk call changed stays changed (undo puts it back)"
	if code != 0 || !strings.Contains(out, "campaign exp: cancelled") || !strings.Contains(out, want) {
		t.Errorf("cancel: exit %d, want %q\n%s\n%s", code, want, out, errs)
	}
}
