package worker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
	"github.com/labelreset/labelreset/worker"
)

// pdcpOrder serves a Fake over real HTTP and numbers its requests, so
// that a test can tell whether any label call arrived before the last
// listing page was answered. It can also make the server ignore offset,
// as a broken API server would.
type pdcpOrder struct {
	fake *pdcpfake.Fake
	seq  atomic.Int64
	// lastList is the number of the last listing answer, firstLabel that
	// of the first label call's arrival (0: none yet).
	lastList, firstLabel atomic.Int64
	ignoreOffset         atomic.Bool
}

func (o *pdcpOrder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	list := strings.HasSuffix(r.URL.Path, "/enumerate/contents")
	switch {
	case list && o.ignoreOffset.Load():
		q := r.URL.Query()
		q.Del("offset")
		r.URL.RawQuery = q.Encode()
	case strings.HasSuffix(r.URL.Path, "/labels") && !strings.HasPrefix(r.URL.Path, "/_fake"):
		o.firstLabel.CompareAndSwap(0, o.seq.Add(1))
	}
	o.fake.ServeHTTP(w, r)
	if list {
		n := o.seq.Add(1)
		for {
			last := o.lastList.Load()
			if n <= last || o.lastList.CompareAndSwap(last, n) {
				break
			}
		}
	}
}

// newOrderedHarness is newHarness with a pdcpOrder in front of the Fake.
func newOrderedHarness(t *testing.T, opts pdcpfake.Options) (*harness, *pdcpOrder) {
	t.Helper()
	o := &pdcpOrder{fake: pdcpfake.New(opts)}
	ts := httptest.NewServer(o)
	t.Cleanup(ts.Close)
	h := &harness{t: t, redis: redistest.New(t), url: ts.URL}
	h.store = jobs.NewStore(h.redis.Client, jobs.StoreOptions{Namespace: h.redis.Namespace})
	return h, o
}

// pacedLimiter lets one request through per interval: it slows a worker
// down enough for a test to stop it halfway.
type pacedLimiter struct {
	mu    sync.Mutex
	next  time.Time
	every time.Duration
}

func (l *pacedLimiter) Wait(ctx context.Context, _ string) error {
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.every)
	l.mu.Unlock()
	t := time.NewTimer(at.Sub(now))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
func (l *pacedLimiter) PauseUntil(context.Context, time.Time) error { return nil }
func (l *pacedLimiter) Throttled(context.Context)                   {}

// labelled is the value of one labelled counter series in reg (0 if
// absent).
func labelled(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	v, _ := seriesValue(t, reg, name, label, value)
	return v
}

// assetStates is every asset of campaign id as EachAsset sees it.
func (h *harness) assetStates(id string) map[int64]jobs.AssetState {
	h.t.Helper()
	c, err := h.store.Get(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[int64]jobs.AssetState{}
	err = h.store.EachAsset(context.Background(), c, func(a jobs.AssetState) error {
		out[a.Record.AssetID] = a
		return nil
	})
	if err != nil {
		h.t.Fatalf("EachAsset(%s): %v", id, err)
	}
	return out
}

// sameSet reports whether a and b hold the same labels, in any order.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// union is the set of labels in a or b.
func union(a, b []string) []string {
	u := append(slices.Clone(a), b...)
	slices.Sort(u)
	return slices.Compact(u)
}

// waitFinished polls until campaign id has at least n assets finished.
func (h *harness) waitFinished(id string, n int64, timeout time.Duration) *jobs.Campaign {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := h.store.Get(context.Background(), id)
		if err == nil && c.Finished() >= n {
			return c
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("campaign %s: fewer than %d assets finished after %v (err %v)", id, n, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSnapshotBeforeReset is the snapshot's acceptance test: a 10,000-asset
// campaign over a 12,000-asset inventory with varied labels, a server that
// caps the page size at 300 and fails a fifth of the pages, and label
// calls that fail twice for 5% of the assets. The snapshot completes and
// holds, asset by asset, the labels the fake held; no label call arrives
// before the last listing page is answered; the 500 IDs that are not in
// the inventory end not_in_inventory without a call.
func TestSnapshotBeforeReset(t *testing.T) {
	const seeded, listed, unlisted = 12000, 9500, 500
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: seeded, Seed: 11, Labels: pdcpfake.LabelsVaried,
		ListLimitCap: 300, ListFailFraction: 0.2, FailFraction: 0.05, FailTimes: 2})
	orig := pdcp.fake.Snapshot()
	reg, _ := h.startWorker(32, nil)
	h.submit(&jobs.Campaign{ID: "snap", Snapshot: true}, append(ids(1, listed), ids(50001, unlisted)...), jobs.SubmitOptions{})
	c := h.waitState("snap", 2*time.Minute, jobs.StateDone)

	if first, last := pdcp.firstLabel.Load(), pdcp.lastList.Load(); first == 0 || last == 0 || first < last {
		t.Errorf("request order: first label call #%d, last listing answer #%d; want every listing answered before any label call", first, last)
	}
	info, err := h.store.Snapshot(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Complete || info.WithLabels+info.WithoutLabels != listed || info.NotInInventory != unlisted {
		t.Errorf("snapshot: complete %v, with %d + without %d labels, %d not in inventory; want true, %d, %d",
			info.Complete, info.WithLabels, info.WithoutLabels, info.NotInInventory, listed, unlisted)
	}
	states := h.assetStates("snap")
	if len(states) != listed+unlisted {
		t.Fatalf("EachAsset saw %d assets, want %d", len(states), listed+unlisted)
	}
	withLabels := 0
	for id, a := range states {
		inInventory := id <= listed
		if a.Listed != inInventory {
			t.Fatalf("asset %d: listed %v, want %v", id, a.Listed, inInventory)
		}
		if inInventory && !sameSet(a.Labels, orig[id]) {
			t.Fatalf("asset %d: snapshot holds %q, the fake held %q", id, a.Labels, orig[id])
		}
		if len(orig[id]) > 0 {
			withLabels++
		}
	}
	if withLabels < listed/2 || int64(withLabels) == listed {
		t.Fatalf("%d of %d assets carry labels; the test needs both kinds", withLabels, listed)
	}

	recs := h.records("snap")
	for id := int64(1); id <= listed; id++ {
		if r := recs[id]; r.Outcome != jobs.OutcomeReset {
			t.Fatalf("asset %d: outcome %q, want %q", id, r.Outcome, jobs.OutcomeReset)
		}
		if l, _ := pdcp.fake.Labels(id); len(l) != 0 {
			t.Fatalf("asset %d: labels %q after the reset", id, l)
		}
	}
	for id := int64(50001); id < 50001+unlisted; id++ {
		r := recs[id]
		if r.Outcome != jobs.OutcomeNotInInventory || r.Attempts != 0 || len(pdcp.fake.Calls(id)) != 0 {
			t.Fatalf("asset %d (not in the inventory): outcome %q after %d attempts and %d calls, want %q without a call",
				id, r.Outcome, r.Attempts, len(pdcp.fake.Calls(id)), jobs.OutcomeNotInInventory)
		}
	}
	for id := int64(listed + 1); id <= seeded; id++ {
		if l, _ := pdcp.fake.Labels(id); !sameSet(l, orig[id]) {
			t.Fatalf("asset %d outside the campaign: labels %q, want %q", id, l, orig[id])
		}
	}
	if c.Counts[jobs.OutcomeNotInInventory] != unlisted {
		t.Errorf("count not_in_inventory = %d, want %d", c.Counts[jobs.OutcomeNotInInventory], unlisted)
	}
	if got := labelled(t, reg, "labelreset_assets_processed_total", "outcome", jobs.OutcomeNotInInventory); got != unlisted {
		t.Errorf("assets_processed_total{outcome=not_in_inventory} = %v, want %d", got, unlisted)
	}
	pages := counterValue(t, reg, "labelreset_snapshot_pages_total")
	errs := labelled(t, reg, "labelreset_snapshot_page_errors_total", "reason", "server_error")
	t.Logf("snapshot: %v pages (%v failed with 5xx and were asked for again), %d list requests", pages, errs, pdcp.fake.Stats().ListCalls)
	if pages < seeded/300 || errs == 0 || int64(pages+errs) != pdcp.fake.Stats().ListCalls {
		t.Errorf("metrics: %v pages + %v page errors, fake answered %d listing requests; want ≥ %d pages, some errors, and the sum",
			pages, errs, pdcp.fake.Stats().ListCalls, seeded/300)
	}
	if got := counterValue(t, reg, "labelreset_snapshot_assets_found_total"); got < listed {
		t.Errorf("snapshot_assets_found_total = %v, want ≥ %d", got, listed)
	}
	if got := gauge(t, reg, "labelreset_campaign_snapshot_complete", "snap"); got != 1 {
		t.Errorf(`labelreset_campaign_snapshot_complete{campaign="snap"} = %v, want 1`, got)
	}
	if got := gauge(t, reg, "labelreset_campaign_snapshot_found_assets", "snap"); got != listed {
		t.Errorf(`labelreset_campaign_snapshot_found_assets{campaign="snap"} = %v, want %d`, got, listed)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Errorf("metrics lint: %v %v", err, probs)
	}
}

// gauge is the value of a campaign's series of a gauge in reg (-1 if absent).
func gauge(t *testing.T, reg *prometheus.Registry, name, campaign string) float64 {
	t.Helper()
	if v, ok := seriesValue(t, reg, name, "campaign", campaign); ok {
		return v
	}
	return -1
}

// TestSnapshotResetUnlisted: with ResetUnlisted, assets the snapshot did
// not find are called anyway (here they do not exist: 404).
func TestSnapshotResetUnlisted(t *testing.T) {
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: 1000, Seed: 3, Labels: pdcpfake.LabelsVaried})
	h.startWorker(16, nil)
	h.submit(&jobs.Campaign{ID: "unlisted", Snapshot: true, ResetUnlisted: true}, append(ids(1, 900), ids(5001, 100)...), jobs.SubmitOptions{})
	h.waitState("unlisted", time.Minute, jobs.StateDone)
	recs := h.records("unlisted")
	for id := int64(5001); id <= 5100; id++ {
		if r := recs[id]; r.Outcome != jobs.OutcomeNotFound || len(pdcp.fake.Calls(id)) != 1 {
			t.Fatalf("asset %d: outcome %q after %d calls, want %q after 1", id, r.Outcome, len(pdcp.fake.Calls(id)), jobs.OutcomeNotFound)
		}
	}
	for id := int64(1); id <= 900; id++ {
		if r := recs[id]; r.Outcome != jobs.OutcomeReset {
			t.Fatalf("asset %d: outcome %q, want %q", id, r.Outcome, jobs.OutcomeReset)
		}
	}
}

// TestSnapshotContinuesAfterStop: a worker stopped halfway through a
// snapshot saves its progress; the next worker continues from it instead
// of listing from the start, and the snapshot is complete and right.
func TestSnapshotContinuesAfterStop(t *testing.T) {
	const seeded, pageCap = 40000, 100
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: seeded, Seed: 5, Labels: pdcpfake.LabelsVaried, ListLimitCap: pageCap})
	orig := pdcp.fake.Snapshot()
	var campaign []string
	for id := 1; id <= seeded; id += 8 {
		campaign = append(campaign, ids(id, 1)...)
	}
	// At most 250 pages/s: the snapshot (about 445 pages) cannot end
	// before the test stops the worker.
	reg1, stop1 := h.startWorker(8, func(c *worker.Config) { c.Limiter = &pacedLimiter{every: 4 * time.Millisecond} })
	h.submit(&jobs.Campaign{ID: "resume", Snapshot: true}, campaign, jobs.SubmitOptions{})
	deadline := time.Now().Add(time.Minute)
	for counterValue(t, reg1, "labelreset_snapshot_pages_total") < 60 {
		if time.Now().After(deadline) {
			t.Fatal("the first worker read fewer than 60 pages in a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop1()
	first := counterValue(t, reg1, "labelreset_snapshot_pages_total")
	c, err := h.store.Get(context.Background(), "resume")
	if err != nil {
		t.Fatal(err)
	}
	info, err := h.store.Snapshot(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if info.Complete || info.Pages == 0 {
		t.Fatalf("after the stop: snapshot complete %v with %d pages saved; want incomplete with its progress saved", info.Complete, info.Pages)
	}
	if n := pdcp.fake.Stats().LabelCalls; n != 0 {
		t.Fatalf("%d label calls before the snapshot was complete", n)
	}

	reg2, _ := h.startWorker(8, nil)
	c = h.waitState("resume", 2*time.Minute, jobs.StateDone)
	second := counterValue(t, reg2, "labelreset_snapshot_pages_total")
	full := float64(seeded/(pageCap-pageCap/10) + 1)
	t.Logf("first worker read %v pages, the second %v; a full listing takes about %v", first, second, full)
	if second > full-first/2 {
		t.Errorf("the second worker read %v pages after the first read %v of about %v: it started over", second, first, full)
	}
	if c.Counts[jobs.OutcomeReset] != int64(len(campaign)) {
		t.Errorf("reset %d, want %d (counts %v)", c.Counts[jobs.OutcomeReset], len(campaign), c.Counts)
	}
	states := h.assetStates("resume")
	if len(states) != len(campaign) {
		t.Fatalf("EachAsset saw %d assets, want %d", len(states), len(campaign))
	}
	for id, a := range states {
		if !a.Listed || !sameSet(a.Labels, orig[id]) {
			t.Fatalf("asset %d: snapshot listed %v with %q, the fake held %q", id, a.Listed, a.Labels, orig[id])
		}
	}
}

// TestSnapshotServerIgnoresOffset: an API server that answers the same
// page whatever the offset would be listed forever; the campaign is
// blocked with the reason instead, and nothing is reset.
func TestSnapshotServerIgnoresOffset(t *testing.T) {
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: 500, ListLimitCap: 100})
	pdcp.ignoreOffset.Store(true)
	reg, _ := h.startWorker(4, nil)
	h.submit(&jobs.Campaign{ID: "nooffset", Snapshot: true}, ids(1, 500), jobs.SubmitOptions{})
	c := h.waitState("nooffset", time.Minute, jobs.StateBlocked)
	if !strings.Contains(c.Reason, "ignores offset") {
		t.Errorf("blocked with reason %q, want one that says the server ignores offset", c.Reason)
	}
	if n := pdcp.fake.Stats().LabelCalls; n != 0 {
		t.Errorf("%d label calls, want none", n)
	}
	if got := labelled(t, reg, "labelreset_snapshot_page_errors_total", "reason", "rejected"); got != 1 {
		t.Errorf("snapshot_page_errors_total{reason=rejected} = %v, want 1", got)
	}
}

// TestUndoRestores is undo's acceptance test: a 10,000-asset campaign with
// a snapshot resets every asset while others label 30% of them again right
// after their reset; its undo runs with 5xx and 429 answers and a worker
// stopped halfway. Afterwards every asset holds its original labels plus
// the ones added after the reset, compared asset by asset.
func TestUndoRestores(t *testing.T) {
	const total = 10000
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: total, Seed: 21, Labels: pdcpfake.LabelsVaried,
		ListLimitCap: 500, ListFailFraction: 0.1, ListThrottle: true, EditAfterReset: 0.3})
	orig := pdcp.fake.Snapshot()
	reg1, stop1 := h.startWorker(32, nil)
	h.submit(&jobs.Campaign{ID: "src", Snapshot: true}, ids(1, total), jobs.SubmitOptions{})
	h.waitState("src", 2*time.Minute, jobs.StateDone)
	if got := labelled(t, reg1, "labelreset_snapshot_page_errors_total", "reason", "throttled"); got == 0 {
		t.Error("no throttled page counted; the test needs 429s with Retry-After during the snapshot")
	}
	afterReset := pdcp.fake.Snapshot()
	edited := 0
	for _, l := range afterReset {
		if len(l) > 0 {
			edited++
		}
	}
	if edited < total/5 {
		t.Fatalf("%d assets were labelled again after their reset; the test needs about %d", edited, total*3/10)
	}

	pdcp.fake.Update(func(o *pdcpfake.Options) {
		o.EditAfterReset = 0
		o.TruncateFraction = 0.05 // 500 with a truncated body
		o.ThrottleFraction = 0.05 // 429
		o.Latency = 2 * time.Millisecond
	})
	res, plan, err := h.store.Undo(context.Background(), "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{ConfirmAbove: -1}})
	if err != nil {
		t.Fatal(err)
	}
	rid := res.Campaign.ID
	withLabels := int64(0)
	for id := int64(1); id <= total; id++ {
		if len(orig[id]) > 0 {
			withLabels++
		}
	}
	if plan.Restore != withLabels || plan.Unchanged != total-withLabels {
		t.Errorf("undo plan: restore %d, unchanged %d; want %d, %d", plan.Restore, plan.Unchanged, withLabels, total-withLabels)
	}
	h.waitFinished(rid, 1000, time.Minute)
	stop1()
	if c, _ := h.store.Get(context.Background(), rid); c.State == jobs.StateDone {
		t.Fatal("the restore finished before the first worker was stopped: the test proves nothing")
	}
	reg2, _ := h.startWorker(32, nil)
	c := h.waitState(rid, 2*time.Minute, jobs.StateDone)
	if c.Mode != jobs.ModeRestore {
		t.Errorf("restore campaign mode %q, want %q", c.Mode, jobs.ModeRestore)
	}

	now := pdcp.fake.Snapshot()
	for id := int64(1); id <= total; id++ {
		if want := union(orig[id], afterReset[id]); !sameSet(now[id], want) {
			t.Fatalf("asset %d: labels %q after undo, want %q (original %q, added after the reset %q)",
				id, now[id], want, orig[id], afterReset[id])
		}
	}
	recs := h.records(rid)
	for id := int64(1); id <= total; id++ {
		want := jobs.OutcomeRestored
		if len(orig[id]) == 0 {
			want = jobs.OutcomeUnchanged
		}
		if r := recs[id]; r.Outcome != want {
			t.Fatalf("asset %d: restore outcome %q, want %q", id, r.Outcome, want)
		}
	}
	if c.Counts[jobs.OutcomeRestored] != withLabels || c.Counts[jobs.OutcomeUnchanged] != total-withLabels {
		t.Errorf("counts restored %d unchanged %d, want %d %d", c.Counts[jobs.OutcomeRestored], c.Counts[jobs.OutcomeUnchanged],
			withLabels, total-withLabels)
	}
	if st := pdcp.fake.Stats(); st.Throttled == 0 || st.Truncated == 0 {
		t.Errorf("the fake answered %d 429s and %d truncated 500s; the test needs both", st.Throttled, st.Truncated)
	}
	if got := labelled(t, reg2, "labelreset_assets_processed_total", "outcome", jobs.OutcomeRestored); got == 0 {
		t.Error("assets_processed_total{outcome=restored} = 0 on the second worker")
	}
}

// TestUndoExact: undo --exact sets each asset's labels to exactly its
// snapshot, dropping labels added after the reset.
func TestUndoExact(t *testing.T) {
	const total = 1000
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: total, Seed: 8, Labels: pdcpfake.LabelsVaried, EditAfterReset: 0.5})
	orig := pdcp.fake.Snapshot()
	h.startWorker(16, nil)
	h.submit(&jobs.Campaign{ID: "exactsrc", Snapshot: true}, ids(1, total), jobs.SubmitOptions{})
	h.waitState("exactsrc", time.Minute, jobs.StateDone)
	res, _, err := h.store.Undo(context.Background(), "exactsrc", jobs.UndoOptions{Exact: true, Submit: jobs.SubmitOptions{ConfirmAbove: -1}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(res.Campaign.ID, time.Minute, jobs.StateDone)
	patched := 0
	for id := int64(1); id <= total; id++ {
		l, _ := pdcp.fake.Labels(id)
		if len(orig[id]) > 0 && !sameSet(l, orig[id]) {
			t.Fatalf("asset %d: labels %q after undo --exact, want %q", id, l, orig[id])
		}
		if len(orig[id]) > 0 && slices.ContainsFunc(pdcp.fake.Calls(id), func(c pdcpfake.Call) bool { return c.Method == http.MethodPatch }) {
			patched++
		}
	}
	if patched == 0 {
		t.Error("no PATCH call was made: undo --exact must replace labels")
	}
}

// TestBatchHeldUntilSnapshot: a batch task that reaches a worker while its
// campaign's snapshot is incomplete (whoever enqueued it) is handed back
// without a call. Here every listing page fails, so the snapshot cannot
// complete, and the batch is enqueued by hand.
func TestBatchHeldUntilSnapshot(t *testing.T) {
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: 100, ListFailFraction: 1})
	reg, _ := h.startWorker(4, nil)
	res := h.submit(&jobs.Campaign{ID: "held", Snapshot: true}, ids(1, 100), jobs.SubmitOptions{})
	if res.Enqueued != 0 {
		t.Fatalf("submit enqueued %d batches before the snapshot, want 0", res.Enqueued)
	}
	b := &jobs.Batch{Campaign: "held", Incarnation: res.Campaign.Incarnation, Batch: 0}
	for id := int64(1); id <= 100; id++ {
		b.IDs = append(b.IDs, id)
	}
	p, err := jobs.EncodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	qc := asynq.NewClientFromRedisClient(h.redis.Client)
	if _, err := qc.Enqueue(asynq.NewTask(jobs.TypeBatch, p), asynq.Queue(jobs.Queue(h.redis.Namespace, jobs.PriorityNormal)),
		asynq.TaskID(b.TaskID()+":byhand")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	// Both the snapshot (failing) and the batch (handed back) have run.
	for pdcp.fake.Stats().LabelCalls == 0 && (labelled(t, reg, "labelreset_batches_processed_total", "result", "requeued") == 0 ||
		labelled(t, reg, "labelreset_snapshot_page_errors_total", "reason", "server_error") == 0) {
		if time.Now().After(deadline) {
			t.Fatal("the batch was not handed back, or the snapshot did not run, within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := pdcp.fake.Stats().LabelCalls; n != 0 {
		t.Errorf("%d label calls while the snapshot was incomplete, want 0", n)
	}
	// Nor recorded: an incomplete snapshot has not found an asset yet,
	// which does not make it one that is not in the inventory.
	if c, err := h.store.Get(context.Background(), "held"); err != nil || c.Finished() != 0 {
		t.Errorf("campaign: %v finished assets (err %v), want none (counts %v)", c.Finished(), err, c.Counts)
	}
}

// TestSnapshotQueryNarrowsListing: a campaign defined by a query lists
// only what its query selects; its IDs outside the selection are not
// called.
func TestSnapshotQueryNarrowsListing(t *testing.T) {
	const total = 2000
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: total, Seed: 4})
	orig := pdcp.fake.Snapshot()
	h.startWorker(16, nil)
	h.submit(&jobs.Campaign{ID: "query", Snapshot: true, Query: "labels=pci"}, ids(1, total), jobs.SubmitOptions{})
	c := h.waitState("query", time.Minute, jobs.StateDone)
	recs := h.records("query")
	selected := 0
	for id := int64(1); id <= total; id++ {
		want, calls := jobs.OutcomeNotInInventory, 0
		if slices.Contains(orig[id], "pci") {
			want, calls = jobs.OutcomeReset, 1
			selected++
		}
		if r := recs[id]; r.Outcome != want || len(pdcp.fake.Calls(id)) != calls {
			t.Fatalf("asset %d (labels %q): outcome %q after %d calls, want %q after %d", id, orig[id], r.Outcome,
				len(pdcp.fake.Calls(id)), want, calls)
		}
	}
	if selected == 0 || selected == total {
		t.Fatalf("the query selects %d of %d assets; the test needs some of them", selected, total)
	}
	if c.Counts[jobs.OutcomeNotInInventory] != int64(total-selected) {
		t.Errorf("not_in_inventory %d, want %d", c.Counts[jobs.OutcomeNotInInventory], total-selected)
	}
}

// TestSnapshotWhilePending: a campaign waiting for approval takes its
// snapshot meanwhile (listing is read-only) and calls nothing; once
// approved, it runs.
func TestSnapshotWhilePending(t *testing.T) {
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: 600, Seed: 9, Labels: pdcpfake.LabelsVaried})
	reg, _ := h.startWorker(8, nil)
	res := h.submit(&jobs.Campaign{ID: "pending", Snapshot: true}, ids(1, 600), jobs.SubmitOptions{ConfirmAbove: 100})
	if res.Campaign.State != jobs.StatePending {
		t.Fatalf("campaign %s, want pending", res.Campaign.State)
	}
	deadline := time.Now().Add(time.Minute)
	for counterValue(t, reg, "labelreset_snapshot_segments_completed_total") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the pending campaign's snapshot did not complete within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := h.store.Get(context.Background(), "pending")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := h.store.Snapshot(context.Background(), c); err != nil || !info.Complete || info.WithLabels+info.WithoutLabels != 600 {
		t.Fatalf("snapshot of the pending campaign: %+v (err %v), want complete with 600 assets found", info, err)
	}
	if n := pdcp.fake.Stats().LabelCalls; n != 0 || c.State != jobs.StatePending {
		t.Fatalf("before approval: %d label calls, state %s; want 0, pending", n, c.State)
	}
	if _, err := h.store.Approve(context.Background(), "pending"); err != nil {
		t.Fatal(err)
	}
	c = h.waitState("pending", time.Minute, jobs.StateDone)
	if c.Counts[jobs.OutcomeReset] != 600 {
		t.Errorf("reset %d, want 600 (counts %v)", c.Counts[jobs.OutcomeReset], c.Counts)
	}
}

// TestSnapshotRefusedKeyBlocks: a key PDCP refuses on the listing blocks
// the campaign with the reason, calls nothing, and a resume with a good
// key finishes it.
func TestSnapshotRefusedKeyBlocks(t *testing.T) {
	h, pdcp := newOrderedHarness(t, pdcpfake.Options{Assets: 300, Seed: 2})
	bad, err := client.New(client.Config{APIKey: "not-the-key", Server: h.url, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reg, stop := h.startWorker(4, func(c *worker.Config) {
		c.API = func(team string) worker.Caller { return bad.WithTeam(team) }
	})
	h.submit(&jobs.Campaign{ID: "badkey", Snapshot: true}, ids(1, 300), jobs.SubmitOptions{})
	c := h.waitState("badkey", time.Minute, jobs.StateBlocked)
	stop()
	if !strings.Contains(c.Reason, "401") {
		t.Errorf("blocked with reason %q, want the 401", c.Reason)
	}
	if n := pdcp.fake.Stats().LabelCalls; n != 0 {
		t.Errorf("%d label calls, want 0", n)
	}
	if got := labelled(t, reg, "labelreset_snapshot_page_errors_total", "reason", "unauthorized"); got == 0 {
		t.Error("snapshot_page_errors_total{reason=unauthorized} = 0")
	}
	h.startWorker(4, nil)
	if _, err := h.store.Resume(context.Background(), "badkey"); err != nil {
		t.Fatal(err)
	}
	c = h.waitState("badkey", time.Minute, jobs.StateDone)
	if c.Counts[jobs.OutcomeReset] != 300 {
		t.Errorf("reset %d after resume, want 300 (counts %v)", c.Counts[jobs.OutcomeReset], c.Counts)
	}
}
