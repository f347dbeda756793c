package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestNextOffset: a page advances the offset by the rows it held, less an
// overlap of a tenth of them, at most maxPageOverlap; every page advances.
func TestNextOffset(t *testing.T) {
	for _, tc := range []struct{ offset, n, want int }{
		{0, 1000, 990}, {990, 1000, 1980}, {0, 300, 290}, {0, 100, 90},
		{0, 50, 45}, {0, 10, 9}, {7, 9, 16}, {7, 1, 8},
	} {
		if got := nextOffset(tc.offset, tc.n); got != tc.want {
			t.Errorf("nextOffset(%d, %d) = %d, want %d", tc.offset, tc.n, got, tc.want)
		}
	}
}

// TestSortedFilter: the listing is in created_at order unless the
// campaign's query names an order; the campaign's filter is not changed.
func TestSortedFilter(t *testing.T) {
	f := client.AssetFilter{Labels: []string{"a"}}
	if got := sortedFilter(f).Query().Get("sort_asc"); got != "created_at" {
		t.Errorf("sort_asc = %q, want created_at", got)
	}
	own := client.AssetFilter{Extra: map[string][]string{"sort_desc": {"created_at"}}}
	q := sortedFilter(own).Query()
	if q.Has("sort_asc") || q.Get("sort_desc") != "created_at" {
		t.Errorf("query %v, want the campaign's own order only", q)
	}
	if f.Extra != nil {
		t.Error("sortedFilter changed its argument")
	}
}

// TestSnapshotTakenOverStopsQuietly: a run whose segment another run has
// taken over (a worker thought dead, whose task went to another) stops at
// its next write without handing the task back, and writes nothing.
func TestSnapshotTakenOverStopsQuietly(t *testing.T) {
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	ctx := context.Background()
	def := &jobs.Campaign{ID: "takeover", Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: jobs.DefaultBatchSize, Policy: jobs.DefaultPolicy(), Snapshot: true}
	vals := make([]string, 300)
	for i := range vals {
		vals[i] = strconv.Itoa(i + 1)
	}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", vals))
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{ConfirmAbove: -1})
	if err != nil {
		t.Fatal(err)
	}
	old, err := store.BeginSnapshot(ctx, res.Campaign, 0, "old")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.BeginSnapshot(ctx, res.Campaign, 0, "new"); err != nil {
		t.Fatal(err)
	}
	w := &Worker{log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: NewMetrics(nil),
		cfg: Config{ShutdownTimeout: time.Second}}
	s := &segmentSnapshot{w: w, ci: &campaignInfo{def: res.Campaign}, run: old}
	old.Add([]client.Asset{{ID: 1, Labels: []string{"x"}}})
	s.offset, s.dirty = 1000, true
	if err := s.handBack(ctx, &retryLater{delay: time.Second, reason: "shutting down"}); err != nil {
		t.Errorf("hand-back of a taken-over run: %v, want nil (stop quietly)", err)
	}
	info, err := store.Snapshot(ctx, res.Campaign)
	if err != nil {
		t.Fatal(err)
	}
	if info.Pages != 0 || info.Found != 0 {
		t.Errorf("the taken-over run wrote: %d pages, %d found; want nothing", info.Pages, info.Found)
	}
	var rl *retryLater
	if err := s.writeFailed(errors.New("redis: connection refused")); !errors.As(err, &rl) {
		t.Errorf("writeFailed(a Redis error) = %v, want a hand-back", err)
	}
}

// TestSnapshotSlotsBounded: with every snapshot slot busy, a snapshot
// task is handed back at once, leaving the task slot to batches.
func TestSnapshotSlotsBounded(t *testing.T) {
	w := &Worker{log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: NewMetrics(nil),
		snapshotSlots: make(chan struct{}, 1)}
	w.snapshotSlots <- struct{}{}
	p, err := jobs.EncodeSnapshotTask(&jobs.SnapshotTask{Campaign: "busy", Incarnation: "1", Segment: 0})
	if err != nil {
		t.Fatal(err)
	}
	err = w.processSnapshot(context.Background(), asynq.NewTask(jobs.TypeSnapshot, p))
	var rl *retryLater
	if !errors.As(err, &rl) || rl.reason != "every snapshot slot busy" {
		t.Errorf("snapshot task with every slot busy: %v, want a hand-back", err)
	}
	if got := (&Worker{cfg: Config{Concurrency: 64}}).snapshotSlotCount(); got != 4 {
		t.Errorf("snapshot slots at concurrency 64: %d, want 4 of 8 task slots", got)
	}
}
