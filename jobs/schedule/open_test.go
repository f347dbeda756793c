package schedule_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/schedule"
)

// TestOpenPreviousCampaignSkipsFire: while the campaign a schedule created
// last is pending, running, paused, blocked or stopped, its fire times
// create nothing (result "skipped"), also after a restart; once that
// campaign is cancelled, done, deleted or replaced by another campaign of
// the same ID, the schedule fires again.
func TestOpenPreviousCampaignSkipsFire(t *testing.T) {
	fake, c := pdcp(t, 500)
	if n := len(matching(fake, "critical")); n < 50 {
		t.Fatalf("fake seeded %d assets with label critical, want at least 50", n)
	}
	h := newHarness(t)
	cfg := h.config(`
schedules:
  - name: capped
    cron: "* * * * *"
    max_assets: 10
    source:
      pdcp_query: {labels: [critical]}
`)
	policy := jobs.DefaultPolicy()
	policy.MinSample = 2 // two failed assets stop a campaign
	newScheduler := func() (*schedule.Scheduler, func() int) {
		s, reg := h.scheduler(cfg, func(o *schedule.Options) { o.Lister, o.Defaults.Policy = c, policy })
		return s, func() int { return fires(t, reg, "capped", "skipped") }
	}
	s, skipped := newScheduler()
	ctx := context.Background()
	at := fireTime
	fire := func() (*jobs.Campaign, error) {
		t.Helper()
		at = at.Add(time.Minute)
		return s.Fire(ctx, "capped", at)
	}
	// mustSkip fires and wants the fire skipped for prev in state want.
	mustSkip := func(prev string, want jobs.State) {
		t.Helper()
		before := len(h.campaigns())
		camp, err := fire()
		if camp != nil {
			t.Fatalf("previous campaign %s is %s: the fire created %s (state %s, %d assets), want it skipped", prev, want, camp.ID, camp.State, camp.Total)
		}
		var open *schedule.PreviousOpenError
		if !errors.As(err, &open) || !errors.Is(err, schedule.ErrPreviousOpen) || open.Campaign != prev || open.State != want {
			t.Fatalf("previous campaign %s is %s: Fire error %v, want a PreviousOpenError naming it", prev, want, err)
		}
		if n := len(h.campaigns()); n != before {
			t.Fatalf("%d campaigns after a skipped fire, want %d", n, before)
		}
	}
	mustCreate := func(why string) *jobs.Campaign {
		t.Helper()
		camp, err := fire()
		if err != nil || camp == nil {
			t.Fatalf("%s: Fire: %v, %v; want a new campaign", why, camp, err)
		}
		return camp
	}

	first := mustCreate("first fire")
	if first.State != jobs.StatePending || first.Total != 11 {
		t.Fatalf("first campaign %s with %d assets, want pending with max_assets+1 = 11", first.State, first.Total)
	}
	mustSkip(first.ID, jobs.StatePending)
	mustSkip(first.ID, jobs.StatePending)
	if n := skipped(); n != 2 {
		t.Errorf(`labelreset_schedule_fires_total{result="skipped"} = %d, want 2`, n)
	}
	list, err := schedule.List(ctx, h.store, cfg, at)
	if err != nil {
		t.Fatal(err)
	}
	if st := list[0]; st.LastResult != "skipped" || !strings.Contains(st.LastError, first.ID) || !strings.Contains(st.LastError, "pending") {
		t.Errorf("List after a skip: result %q, error %q; want skipped, naming %s and its state", st.LastResult, st.LastError, first.ID)
	}

	// A restarted scheduler (new process, same Redis) still knows.
	s, skipped = newScheduler()
	mustSkip(first.ID, jobs.StatePending)
	if n := skipped(); n != 1 {
		t.Errorf(`after the restart: skipped = %d, want 1`, n)
	}
	// A scheduler that died after creating the campaign, before recording
	// its creation time, named it already (documented key layout).
	if err := h.redis.Client.HSet(ctx, h.redis.Namespace+":sched:capped", "prev_created", "").Err(); err != nil {
		t.Fatal(err)
	}
	mustSkip(first.ID, jobs.StatePending)

	if _, err := h.store.Approve(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	mustSkip(first.ID, jobs.StateRunning)
	if err := h.store.Pause(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	mustSkip(first.ID, jobs.StatePaused)
	if _, err := h.store.Resume(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.store.Block(ctx, first.ID, first.Incarnation, "PDCP answered 401"); !ok || err != nil {
		t.Fatalf("Block: %v, %v", ok, err)
	}
	mustSkip(first.ID, jobs.StateBlocked)
	if _, err := h.store.Resume(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	ids := h.assetIDs(first.ID)
	var failed []jobs.Record
	for _, id := range ids[:2] {
		failed = append(failed, jobs.Record{AssetID: id, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 8, FinishedAt: time.Now()})
	}
	if _, err := h.store.Ledger().Record(ctx, first.ID, []jobs.BatchRecords{{Batch: 0, Records: failed}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	mustSkip(first.ID, jobs.StateStopped)

	// Cancelled does not block.
	if _, err := h.store.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	second := mustCreate("previous campaign cancelled")
	mustSkip(second.ID, jobs.StatePending)

	// Done does not block.
	if _, err := h.store.Approve(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	h.finish(second.ID)
	third := mustCreate("previous campaign done")

	// Deleted (retention, an operator) does not block.
	if err := h.store.Delete(ctx, third.ID); err != nil {
		t.Fatal(err)
	}
	fourth := mustCreate("previous campaign deleted")

	// The ID created again by someone else is not the schedule's campaign.
	if err := h.store.Delete(ctx, fourth.ID); err != nil {
		t.Fatal(err)
	}
	other := &jobs.Campaign{ID: fourth.ID, Name: "by hand", Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: 10, Policy: jobs.DefaultPolicy(), Owner: "token:someone"}
	plan, err := jobs.ReadPlan(other, jobs.IDList("test", []string{"1", "2", "3"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Submit(ctx, other, plan, jobs.SubmitOptions{ConfirmAbove: 1}); err != nil {
		t.Fatal(err)
	}
	mustCreate("previous campaign ID now names another campaign")
}

// syncBuffer is a bytes.Buffer for a logger shared by goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunSkipsWhilePending runs the scheduler every second over a source
// above max_assets: the first fire creates a pending campaign, the later
// ones are skipped and logged, and no second campaign piles up.
func TestRunSkipsWhilePending(t *testing.T) {
	h := newHarness(t)
	h.file("ids.csv", "1\n2\n3\n")
	cfg := h.config(`
schedules:
  - name: tick
    cron: "@every 1s"
    max_assets: 2
    source: {csv: {path: ids.csv}}
`)
	var logs syncBuffer
	s, reg := h.scheduler(cfg, func(o *schedule.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// Two skips at least: generous bound for a busy host.
	deadline := time.Now().Add(30 * time.Second)
	for len(h.campaigns()) < 3 && strings.Count(logs.String(), "fire skipped") < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	cs := h.campaigns()
	if len(cs) != 1 || cs[0].State != jobs.StatePending {
		var desc []string
		for _, c := range cs {
			desc = append(desc, fmt.Sprintf("%s (%s)", c.ID, c.State))
		}
		t.Fatalf("campaigns %v, want exactly one, pending", desc)
	}
	if n := fires(t, reg, "tick", "skipped"); n < 2 {
		t.Fatalf(`skipped = %d after 30s of @every 1s, want >= 2`, n)
	}
	want := "schedule=tick fire_time="
	var found bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "fire skipped") && strings.Contains(line, want) &&
			strings.Contains(line, "campaign="+cs[0].ID) && strings.Contains(line, "state=pending") && strings.Contains(line, "level=WARN") {
			found = true
		}
	}
	if !found {
		t.Errorf("no WARN log line naming the schedule, campaign %s and its state pending; logs:\n%s", cs[0].ID, logs.String())
	}
}
