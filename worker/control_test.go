package worker_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/worker"
)

// callsIn counts the fake's label calls for asset IDs in [lo, hi], and the
// time of the last one.
func callsIn(f *pdcpfake.Fake, lo, hi int64, after time.Time) (n int) {
	for _, c := range f.Log() {
		if c.AssetID >= lo && c.AssetID <= hi && c.Time.After(after) {
			n++
		}
	}
	return n
}

// TestPauseUnderLoad: after Pause returns, the paused campaign gets at
// most `concurrency` more calls while another campaign keeps running;
// resume completes both.
func TestPauseUnderLoad(t *testing.T) {
	const n, conc = 4000, 16
	h := newHarness(t, pdcpfake.Options{Assets: 2 * n, Latency: 2 * time.Millisecond})
	h.startWorker(conc, nil)
	h.submit(&jobs.Campaign{ID: "paused"}, ids(1, n), jobs.SubmitOptions{})
	h.submit(&jobs.Campaign{ID: "other"}, ids(n+1, n), jobs.SubmitOptions{})
	f := h.fake.Fake()
	for callsIn(f, 1, n, time.Time{}) < n/10 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.store.Pause(context.Background(), "paused"); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	time.Sleep(1500 * time.Millisecond)
	after := callsIn(f, 1, n, paused)
	if after > conc {
		t.Errorf("%d calls for the paused campaign after Pause returned, want at most %d", after, conc)
	}
	if other := callsIn(f, n+1, 2*n, paused); other == 0 {
		t.Error("the other campaign made no progress while one was paused")
	}
	c, _ := h.store.Get(context.Background(), "paused")
	if c.State != jobs.StatePaused || c.Finished() == n {
		t.Fatalf("paused campaign: state %s, %d finished", c.State, c.Finished())
	}
	if _, err := h.store.Resume(context.Background(), "paused"); err != nil {
		t.Fatal(err)
	}
	h.waitState("paused", time.Minute, jobs.StateDone)
	h.waitState("other", time.Minute, jobs.StateDone)
	for id := int64(1); id <= 2*n; id++ {
		if len(f.Calls(id)) != 1 {
			t.Fatalf("asset %d called %d times, want 1", id, len(f.Calls(id)))
		}
	}
}

// TestCancel: no call after Cancel returns beyond the ones in flight;
// every asset ends with an outcome and the untouched ones are cancelled.
func TestCancel(t *testing.T) {
	const n, conc = 4000, 16
	h := newHarness(t, pdcpfake.Options{Assets: n, Latency: 2 * time.Millisecond})
	h.startWorker(conc, nil)
	h.submit(&jobs.Campaign{ID: "cancel"}, ids(1, n), jobs.SubmitOptions{})
	f := h.fake.Fake()
	for f.Stats().LabelCalls < n/10 {
		time.Sleep(10 * time.Millisecond)
	}
	_, err := h.store.Cancel(context.Background(), "cancel")
	if err != nil {
		t.Fatal(err)
	}
	cancelled := time.Now()
	time.Sleep(time.Second)
	if after := callsIn(f, 1, n, cancelled); after > conc {
		t.Errorf("%d calls after Cancel returned, want at most %d in flight", after, conc)
	}
	c := h.waitState("cancel", 10*time.Second, jobs.StateCancelled)
	recs := h.records("cancel")
	called := 0
	for id := int64(1); id <= n; id++ {
		r := recs[id]
		calls := len(f.Calls(id))
		called += calls
		switch {
		case calls == 0 && r.Outcome != jobs.OutcomeCancelled:
			t.Errorf("untouched asset %d: outcome %q, want cancelled", id, r.Outcome)
		case calls == 1 && r.Outcome != jobs.OutcomeReset:
			t.Errorf("called asset %d: outcome %q, want reset", id, r.Outcome)
		case calls > 1:
			t.Errorf("asset %d called %d times", id, calls)
		}
	}
	if c.Counts[jobs.OutcomeCancelled]+c.Counts[jobs.OutcomeReset] != n || c.Counts[jobs.OutcomeCancelled] == 0 {
		t.Errorf("counts %v, want cancelled+reset = %d with some cancelled", c.Counts, n)
	}
	if c.FinishedAt.IsZero() {
		t.Error("cancelled campaign has no finish time")
	}
}

// TestFailureThreshold: with 80% of assets failing for good, the campaign
// stops at about min-sample finished assets and says why.
func TestFailureThreshold(t *testing.T) {
	const n, conc, minSample = 5000, 16, 1000
	h := newHarness(t, pdcpfake.Options{Assets: n, Seed: 11, FailFraction: 0.8, FailTimes: -1})
	h.startWorker(conc, nil)
	def := &jobs.Campaign{ID: "threshold", Policy: jobs.Policy{MaxAttempts: 2, BackoffBase: time.Millisecond,
		BackoffCap: 5 * time.Millisecond, MaxFailureRatio: 0.5, MinSample: minSample, Retention: time.Hour}}
	h.submit(def, ids(1, n), jobs.SubmitOptions{})
	h.waitState("threshold", time.Minute, jobs.StateStopped)
	time.Sleep(time.Second)
	c, _ := h.store.Get(context.Background(), "threshold")
	if c.State != jobs.StateStopped || c.Reason == "" {
		t.Fatalf("state %s reason %q, want stopped with a reason", c.State, c.Reason)
	}
	if fin := c.Finished(); fin < minSample || fin > minSample+4*conc {
		t.Errorf("stopped after %d finished assets, want about %d", fin, minSample)
	}
	t.Logf("stopped after %d finished: %s", c.Finished(), c.Reason)
}

// failedCampaign runs campaign id over n assets, 10% of which always
// fail, with maxAttempts and millisecond backoffs, until it is done; it
// returns the harness and the number of failed assets.
func failedCampaign(t *testing.T, id string, n, maxAttempts int, seed uint64) (*harness, int64) {
	t.Helper()
	h := newHarness(t, pdcpfake.Options{Assets: n, Seed: seed, FailFraction: 0.1, FailTimes: -1})
	h.startWorker(16, nil)
	def := &jobs.Campaign{ID: id, Policy: jobs.Policy{MaxAttempts: maxAttempts, BackoffBase: time.Millisecond,
		BackoffCap: 5 * time.Millisecond, MaxFailureRatio: 1, MinSample: 1, Retention: time.Hour}}
	h.submit(def, ids(1, n), jobs.SubmitOptions{})
	failed := h.waitState(id, time.Minute, jobs.StateDone).Counts[jobs.OutcomeFailed]
	if failed < int64(n/20) {
		t.Fatalf("only %d of %d assets failed; the test needs ~10%%", failed, n)
	}
	return h, failed
}

// TestRedriveFailed: after the fake recovers, retry turns the failed
// assets into reset without calling any other asset.
func TestRedriveFailed(t *testing.T) {
	const n = 2000
	h, failed := failedCampaign(t, "redrive", n, 2, 13)
	f := h.fake.Fake()
	before := map[int64]int{}
	failing := map[int64]bool{}
	for id := int64(1); id <= n; id++ {
		before[id] = len(f.Calls(id))
		failing[id] = f.Kind(id) == pdcpfake.KindFailing
	}
	f.Update(func(o *pdcpfake.Options) { o.FailFraction = 0 })
	got, err := h.store.Redrive(context.Background(), "redrive", []string{jobs.OutcomeFailed})
	if err != nil || got != failed {
		t.Fatalf("redrive: %d, %v; want %d", got, err, failed)
	}
	c := h.waitState("redrive", time.Minute, jobs.StateDone)
	if c.Counts[jobs.OutcomeReset] != n || c.Gen != 1 {
		t.Errorf("after redrive: counts %v gen %d, want all %d reset, gen 1", c.Counts, c.Gen, n)
	}
	recs := h.records("redrive")
	for id := int64(1); id <= n; id++ {
		extra := len(f.Calls(id)) - before[id]
		wasFailed := failing[id]
		switch {
		case wasFailed && (extra != 1 || recs[id].Attempts != 3):
			t.Errorf("failed asset %d: %d new calls, %d attempts; want 1 and 3", id, extra, recs[id].Attempts)
		case !wasFailed && extra != 0:
			t.Errorf("asset %d was not failed but got %d new calls", id, extra)
		}
	}
}

// TestRedriveFreshBudget: a re-driven asset gets the campaign's whole
// retry budget again, and its attempts keep counting.
func TestRedriveFreshBudget(t *testing.T) {
	h, failed := failedCampaign(t, "fresh", 1000, 3, 17)
	if _, err := h.store.Redrive(context.Background(), "fresh", []string{jobs.OutcomeFailed}); err != nil {
		t.Fatal(err)
	}
	// Still failing: each failed asset gets 3 more calls, not 1.
	c := h.waitState("fresh", time.Minute, jobs.StateDone)
	if c.Counts[jobs.OutcomeFailed] != failed {
		t.Errorf("after redrive %d failed, want the same %d", c.Counts[jobs.OutcomeFailed], failed)
	}
	f := h.fake.Fake()
	for id, r := range h.records("fresh") {
		if r.Outcome != jobs.OutcomeFailed {
			continue
		}
		if calls := len(f.Calls(id)); calls != 6 || r.Attempts != 6 {
			t.Errorf("re-driven asset %d: %d calls, %d attempts; want 6 and 6 (3 per drive)", id, calls, r.Attempts)
		}
	}
}

// TestThrottleBudget: throttled answers (429, 503 with Retry-After) do not
// use up --max-attempts; they have their own budget, MaxThrottled.
func TestThrottleBudget(t *testing.T) {
	throttle := pdcpfake.Reply{Status: 429}
	busy := pdcpfake.Reply{Status: 503, Header: map[string]string{"Retry-After": "0"}}
	fail := pdcpfake.Reply{Status: 500}
	rep := func(r pdcpfake.Reply, k int) []pdcpfake.Reply {
		out := make([]pdcpfake.Reply, k)
		for i := range out {
			out[i] = r
		}
		return out
	}
	script := map[int64][]pdcpfake.Reply{
		1: rep(throttle, 3),                                    // more throttles than MaxAttempts, then reset
		2: append(append(rep(fail, 1), rep(busy, 3)...), fail), // 2 failures among 3 throttles: failed
		3: rep(throttle, 10),                                   // throttled out: failed after MaxThrottled
		4: append(append(rep(throttle, 2), fail), throttle),    // 1 failure, 3 throttles: reset
	}
	h := newHarness(t, pdcpfake.Options{Assets: 10, Script: script})
	h.startWorker(4, nil)
	def := &jobs.Campaign{ID: "throttle", Policy: jobs.Policy{MaxAttempts: 2, MaxThrottled: 4, BackoffBase: time.Millisecond,
		BackoffCap: 5 * time.Millisecond, MaxFailureRatio: 1, MinSample: 1, Retention: time.Hour}}
	h.submit(def, ids(1, 10), jobs.SubmitOptions{})
	h.waitState("throttle", time.Minute, jobs.StateDone)
	recs := h.records("throttle")
	f := h.fake.Fake()
	for _, c := range []struct {
		id       int64
		outcome  string
		attempts int
		err      string
	}{
		{1, jobs.OutcomeReset, 4, ""},
		{2, jobs.OutcomeFailed, 5, "HTTP 500"}, // the cause first, then "(gave up after ...)"
		{3, jobs.OutcomeFailed, 4, "HTTP 429"},
		{4, jobs.OutcomeReset, 5, ""},
		{5, jobs.OutcomeReset, 1, ""},
	} {
		r := recs[c.id]
		if r.Outcome != c.outcome || r.Attempts != c.attempts || !strings.HasPrefix(r.Error, c.err) || len(f.Calls(c.id)) != c.attempts {
			t.Errorf("asset %d: %s after %d attempts (%d calls), error %q; want %s after %d, error %q...",
				c.id, r.Outcome, r.Attempts, len(f.Calls(c.id)), r.Error, c.outcome, c.attempts, c.err)
		}
	}
}

// TestPendingUntilApproved: a campaign above confirm-above makes no call
// until it is approved.
func TestPendingUntilApproved(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 1500})
	h.startWorker(16, nil)
	res := h.submit(&jobs.Campaign{ID: "pending"}, ids(1, 1500), jobs.SubmitOptions{ConfirmAbove: 1000})
	if res.Campaign.State != jobs.StatePending || res.Enqueued != 0 {
		t.Fatalf("state %s, %d batches enqueued; want pending, 0", res.Campaign.State, res.Enqueued)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := h.fake.Fake().Stats().LabelCalls; n != 0 {
		t.Fatalf("pending campaign made %d calls", n)
	}
	if _, err := h.store.Approve(context.Background(), "pending"); err != nil {
		t.Fatal(err)
	}
	c := h.waitState("pending", time.Minute, jobs.StateDone)
	if c.Counts[jobs.OutcomeReset] != 1500 {
		t.Errorf("reset %d, want 1500", c.Counts[jobs.OutcomeReset])
	}
}

// TestPriorityOvertakes: a high-priority campaign submitted after a large
// low-priority one finishes first.
func TestPriorityOvertakes(t *testing.T) {
	const low, high = 20000, 2000
	h := newHarness(t, pdcpfake.Options{Assets: low + high, Latency: time.Millisecond})
	h.submit(&jobs.Campaign{ID: "nightly", Priority: jobs.PriorityLow}, ids(1, low), jobs.SubmitOptions{})
	h.submit(&jobs.Campaign{ID: "urgent", Priority: jobs.PriorityHigh}, ids(low+1, high), jobs.SubmitOptions{})
	h.startWorker(16, nil)
	h.waitState("urgent", time.Minute, jobs.StateDone)
	c, err := h.store.Get(context.Background(), "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if c.Finished() > low/2 {
		t.Errorf("the low-priority campaign finished %d of %d assets before the urgent one was done", c.Finished(), low)
	}
	t.Logf("urgent done while nightly had %d/%d", c.Finished(), low)
}

// TestJanitorRetention: a finished campaign's data is deleted once its
// retention has passed, and not before.
func TestJanitorRetention(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 300})
	h.startWorker(8, nil)
	def := &jobs.Campaign{ID: "old", Policy: jobs.DefaultPolicy()}
	def.Policy.Retention = time.Hour
	h.submit(def, ids(1, 300), jobs.SubmitOptions{})
	h.waitState("old", 30*time.Second, jobs.StateDone)
	ctx := context.Background()
	now := time.Now()
	early := jobs.NewStore(h.redis.Client, jobs.StoreOptions{Namespace: h.redis.Namespace, Now: func() time.Time { return now.Add(59 * time.Minute) }})
	if n, err := early.Janitor(ctx); err != nil || n != 0 {
		t.Fatalf("janitor before retention: deleted %d, %v", n, err)
	}
	h.redis.Client.Del(ctx, h.redis.Namespace+":janitor")
	late := jobs.NewStore(h.redis.Client, jobs.StoreOptions{Namespace: h.redis.Namespace, Now: func() time.Time { return now.Add(61 * time.Minute) }})
	if n, err := late.Janitor(ctx); err != nil || n != 1 {
		t.Fatalf("janitor after retention: deleted %d, %v; want 1", n, err)
	}
	if keys := h.redis.Client.Keys(ctx, h.redis.Namespace+":{old}*").Val(); len(keys) != 0 {
		t.Errorf("keys left after expiry: %v", keys)
	}
	if _, err := h.store.Get(ctx, "old"); err == nil {
		t.Error("expired campaign still readable")
	}
}

// lockedBuffer is a log sink for a worker's slog handler.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCampaignDataGone: when a campaign's data disappears from Redis
// mid-run (a Redis restart that kept nothing, a manual delete), the worker
// stops calling PDCP for its batches in hand, since no outcome could be
// recorded, and says so once instead of once per write.
func TestCampaignDataGone(t *testing.T) {
	const n, conc = 4000, 16
	h := newHarness(t, pdcpfake.Options{Assets: n, Latency: 2 * time.Millisecond})
	var logs lockedBuffer
	h.startWorker(conc, func(c *worker.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	h.submit(&jobs.Campaign{ID: "gone"}, ids(1, n), jobs.SubmitOptions{})
	f := h.fake.Fake()
	for deadline := time.Now().Add(30 * time.Second); f.Stats().LabelCalls < n/10; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls after 30s, want %d", f.Stats().LabelCalls, n/10)
		}
	}
	ctx := context.Background()
	keys, err := h.redis.Client.Keys(ctx, h.redis.Namespace+":{gone}:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("campaign keys: %v, %v", keys, err)
	}
	if err := h.redis.Client.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	time.Sleep(2 * time.Second)
	after := callsIn(f, 1, n, deleted)
	t.Logf("%d calls before the data was deleted, %d after", f.Stats().LabelCalls-int64(after), after)
	// In flight, plus those started before the next write or state poll
	// noticed (a write every few ms at this rate).
	if after > 4*conc {
		t.Errorf("%d calls after the campaign's data was deleted, want <= %d", after, 4*conc)
	}
	if k := strings.Count(logs.String(), "campaign data is gone"); k != 1 {
		t.Errorf("%d warnings that the campaign's data is gone, want 1:\n%s", k, logs.String())
	}
}

// TestLongPauseIsLogged: a Retry-After of an hour (PDCP's maintenance, or
// a server bug) leaves a running campaign with nothing moving; the worker
// says why once, not once per throttled call.
func TestLongPauseIsLogged(t *testing.T) {
	const n, conc = 200, 16
	h := newHarness(t, pdcpfake.Options{Assets: n, ThrottleFraction: 1, RetryAfter: "86400"})
	var logs lockedBuffer
	h.startWorker(conc, func(c *worker.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	h.submit(&jobs.Campaign{ID: "longpause"}, ids(1, n), jobs.SubmitOptions{})
	f := h.fake.Fake()
	for deadline := time.Now().Add(30 * time.Second); f.Stats().Throttled < conc; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d throttled calls after 30s, want %d", f.Stats().Throttled, conc)
		}
	}
	time.Sleep(500 * time.Millisecond)
	out := logs.String()
	if k := strings.Count(out, "PDCP asked for a pause"); k != 1 {
		t.Fatalf("%d pause warnings after %d throttled calls, want 1:\n%s", k, f.Stats().Throttled, out)
	}
	// client caps Retry-After at an hour.
	if !strings.Contains(out, "pause=1h0m0s") || !strings.Contains(out, "campaign=longpause") {
		t.Errorf("pause warning without campaign or capped length:\n%s", out)
	}
}

// TestLegacyCampaignTeam: a campaign stored by a version that did not
// record its team (and has none) is called with the worker's own team, as
// that version did; one stored by this version with no team is called
// with no X-Team-Id.
func TestLegacyCampaignTeam(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 20})
	h.submit(&jobs.Campaign{ID: "legacy"}, ids(1, 5), jobs.SubmitOptions{})
	h.submit(&jobs.Campaign{ID: "recorded"}, ids(11, 5), jobs.SubmitOptions{})
	meta := h.redis.Namespace + ":{legacy}:meta"
	if n, err := h.redis.Client.HDel(context.Background(), meta, "team_recorded").Result(); err != nil || n != 1 {
		t.Fatalf("HDEL %s team_recorded: %d, %v; want the field to exist", meta, n, err)
	}
	h.startWorker(4, func(c *worker.Config) { c.LegacyTeamID = "legacy-team" })
	h.waitState("legacy", 10*time.Second, jobs.StateDone)
	h.waitState("recorded", 10*time.Second, jobs.StateDone)
	f := h.fake.Fake()
	for id, want := range map[int64]string{1: "legacy-team", 5: "legacy-team", 11: "", 15: ""} {
		if calls := f.Calls(id); len(calls) != 1 || calls[0].Team != want {
			t.Errorf("asset %d: calls %+v, want one with X-Team-Id %q", id, calls, want)
		}
	}
}
