package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
	"github.com/labelreset/labelreset/worker"
)

// harness is one test's Redis, fake PDCP and campaign store.
type harness struct {
	t     *testing.T
	redis *redistest.Env
	fake  *pdcpfake.Server
	store *jobs.Store
	// url is the PDCP the workers call: fake's, or a recorder in front of
	// a Fake (newOrderedHarness).
	url string
}

func newHarness(t *testing.T, opts pdcpfake.Options) *harness {
	t.Helper()
	h := &harness{t: t, redis: redistest.New(t), fake: pdcpfake.NewServer(opts)}
	t.Cleanup(h.fake.Close)
	h.url = h.fake.URL()
	h.store = jobs.NewStore(h.redis.Client, jobs.StoreOptions{Namespace: h.redis.Namespace})
	return h
}

// keyCount counts the keys of the test's namespace (its campaign data and
// its asynq queues). Not DBSIZE: on a shared Redis other tests write to
// the same database meanwhile.
func (h *harness) keyCount() int {
	h.t.Helper()
	n := 0
	iter := h.redis.Client.Scan(context.Background(), 0, "*"+h.redis.Namespace+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		n++
	}
	if err := iter.Err(); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// startWorker runs a worker until the test ends (or stop is called) and
// returns its metrics registry.
func (h *harness) startWorker(concurrency int, mod func(*worker.Config)) (*prometheus.Registry, func()) {
	h.t.Helper()
	c, err := client.New(client.Config{APIKey: "test-key", Server: h.url, MaxConns: concurrency, Timeout: 10 * time.Second})
	if err != nil {
		h.t.Fatal(err)
	}
	ropts, err := jobs.ParseRedisURL(h.redis.URL)
	if err != nil {
		h.t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := worker.Config{
		Redis: ropts, Namespace: h.redis.Namespace, Concurrency: concurrency, Registerer: reg,
		API:             func(team string) worker.Caller { return c.WithTeam(team) },
		ShutdownTimeout: 5 * time.Second, HoldDelay: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := worker.New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			h.t.Errorf("worker: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	h.t.Cleanup(stop)
	return reg, stop
}

func ids(first, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(first + i)
	}
	return out
}

func (h *harness) submit(def *jobs.Campaign, idList []string, opts jobs.SubmitOptions) *jobs.SubmitResult {
	h.t.Helper()
	if def.Mode == "" {
		def.Mode = jobs.ModeDelete
	}
	if def.BatchSize == 0 {
		def.BatchSize = jobs.DefaultBatchSize
	}
	if def.Priority == "" {
		def.Priority = jobs.PriorityNormal
	}
	if def.Policy.MaxAttempts == 0 {
		def.Policy = jobs.DefaultPolicy()
		def.Policy.BackoffBase = 5 * time.Millisecond
		def.Policy.BackoffCap = 50 * time.Millisecond
	}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", idList))
	if err != nil {
		h.t.Fatal(err)
	}
	if opts.ConfirmAbove == 0 {
		opts.ConfirmAbove = -1
	}
	res, err := h.store.Submit(context.Background(), def, plan, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// waitState polls until the campaign reaches one of states.
func (h *harness) waitState(id string, timeout time.Duration, states ...jobs.State) *jobs.Campaign {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	var c *jobs.Campaign
	var err error
	for time.Now().Before(deadline) {
		c, err = h.store.Get(context.Background(), id)
		if err == nil {
			for _, s := range states {
				if c.State == s {
					return c
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("campaign %s: state %v (err %v) after %v, want one of %v; counts %v", id, c.State, err, timeout, states, c.Counts)
	return nil
}

func (h *harness) records(id string) map[int64]jobs.Record {
	h.t.Helper()
	out := map[int64]jobs.Record{}
	err := h.store.Records(context.Background(), id, func(r jobs.Record) error {
		if _, dup := out[r.AssetID]; dup {
			return fmt.Errorf("asset %d reported twice", r.AssetID)
		}
		out[r.AssetID] = r
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// TestPipelineOutcomes is the pipeline's acceptance test: 10,000 assets,
// 5% unknown (404), ~1% invalid (400), ~10% failing twice with 500 before
// succeeding.
func TestPipelineOutcomes(t *testing.T) {
	const total, seeded = 10000, 9500
	h := newHarness(t, pdcpfake.Options{
		Assets: seeded, Seed: 7, InvalidFraction: 0.0105, FailFraction: 0.105, FailTimes: 2,
	})
	reg, _ := h.startWorker(32, nil)
	res := h.submit(&jobs.Campaign{ID: "outcomes", Name: "acceptance"}, ids(1, total), jobs.SubmitOptions{})
	if !res.Created || res.Plan.Valid != total || res.Plan.Batches != 100 {
		t.Fatalf("submit: created %v valid %d batches %d, want true %d 100", res.Created, res.Plan.Valid, res.Plan.Batches, total)
	}
	c := h.waitState("outcomes", 2*time.Minute, jobs.StateDone)

	fake := h.fake.Fake()
	want := map[string]int64{}
	recs := h.records("outcomes")
	if len(recs) != total {
		t.Fatalf("report has %d rows, want %d", len(recs), total)
	}
	flaky := 0
	for id := int64(1); id <= total; id++ {
		kind := fake.Kind(id)
		wantOutcome := map[string]string{
			pdcpfake.KindOK: jobs.OutcomeReset, pdcpfake.KindFlaky: jobs.OutcomeReset,
			pdcpfake.KindNotFound: jobs.OutcomeNotFound, pdcpfake.KindInvalid: jobs.OutcomeInvalid,
		}[kind]
		want[wantOutcome]++
		r := recs[id]
		if r.Outcome != wantOutcome {
			t.Errorf("asset %d (%s): outcome %q, want %q", id, kind, r.Outcome, wantOutcome)
		}
		calls := fake.Calls(id)
		wantCalls := 1
		if kind == pdcpfake.KindFlaky {
			wantCalls = 3
			flaky++
		}
		if len(calls) != wantCalls || r.Attempts != wantCalls {
			t.Errorf("asset %d (%s): %d calls, %d attempts recorded, want %d", id, kind, len(calls), r.Attempts, wantCalls)
		}
		for i, call := range calls {
			if call.Status != 500 && i != len(calls)-1 {
				t.Errorf("asset %d called again after HTTP %d", id, call.Status)
			}
		}
	}
	if flaky < 800 || want[jobs.OutcomeInvalid] < 50 {
		t.Fatalf("fake seeded %d flaky and %d invalid assets; the test needs ~1000 and ~100", flaky, want[jobs.OutcomeInvalid])
	}
	for _, o := range jobs.Outcomes {
		if c.Counts[o] != want[o] {
			t.Errorf("status count %s = %d, want %d", o, c.Counts[o], want[o])
		}
		got := testutil.ToFloat64(counterVec(t, reg, "labelreset_assets_processed_total", "outcome", o))
		if int64(got) != want[o] {
			t.Errorf("metric assets_processed_total{outcome=%q} = %v, want %d", o, got, want[o])
		}
	}
	st := fake.Stats()
	for code, n := range st.ByStatus {
		got := testutil.ToFloat64(counterVec(t, reg, "labelreset_api_requests_total", "code", strconv.Itoa(code)))
		if int64(got) != n {
			t.Errorf("metric api_requests_total{code=%d} = %v, fake saw %d", code, got, n)
		}
	}
}

// counterVec finds one labelled series in a gathered registry.
func counterVec(t *testing.T, reg *prometheus.Registry, name, label, value string) prometheus.Collector {
	t.Helper()
	v, _ := seriesValue(t, reg, name, label, value)
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return v })
}

// seriesValue is the value of the series of metric name (a counter or a
// gauge) whose label is value, and whether there is one.
func seriesValue(t *testing.T, reg *prometheus.Registry, name, label, value string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					// One of the two is nil, and reads 0.
					return m.GetCounter().GetValue() + m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestUnauthorizedBlocksAndResumes: PDCP starts answering 401 after 1,000
// calls. The campaign blocks with at most `concurrency` further calls and
// no asset failed; once the key is accepted again, resume finishes it.
func TestUnauthorizedBlocksAndResumes(t *testing.T) {
	const total, conc = 5000, 16
	h := newHarness(t, pdcpfake.Options{Assets: total, UnauthorizedAfter: 1000})
	h.startWorker(conc, nil)
	h.submit(&jobs.Campaign{ID: "auth"}, ids(1, total), jobs.SubmitOptions{})
	c := h.waitState("auth", time.Minute, jobs.StateBlocked)
	time.Sleep(500 * time.Millisecond) // let anything still running show up
	st := h.fake.Fake().Stats()
	t.Logf("%d calls answered 401 (at most %d)", st.Unauthorized, conc)
	if st.Unauthorized > conc {
		t.Errorf("%d calls answered 401, want at most concurrency %d", st.Unauthorized, conc)
	}
	if c.Counts[jobs.OutcomeFailed] != 0 {
		t.Errorf("%d assets failed, want 0", c.Counts[jobs.OutcomeFailed])
	}
	if c.Reason == "" {
		t.Error("blocked campaign has no reason")
	}
	calls := st.LabelCalls
	time.Sleep(time.Second)
	if n := h.fake.Fake().Stats().LabelCalls; n != calls {
		t.Errorf("blocked campaign still calling: %d calls, then %d", calls, n)
	}

	h.fake.Fake().Update(func(o *pdcpfake.Options) { o.UnauthorizedAfter = 0 })
	if _, err := h.store.Resume(context.Background(), "auth"); err != nil {
		t.Fatal(err)
	}
	c = h.waitState("auth", time.Minute, jobs.StateDone)
	if c.Counts[jobs.OutcomeReset] != total {
		t.Errorf("reset %d, want %d (counts %v)", c.Counts[jobs.OutcomeReset], total, c.Counts)
	}
	for id := int64(1); id <= total; id++ {
		ok := 0
		for _, call := range h.fake.Fake().Calls(id) {
			if call.Status == 200 {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("asset %d reset %d times, want 1", id, ok)
		}
	}
}

// TestResubmitEnqueuesNothing: the same campaign and input again is a
// no-op; a different input is refused without --append.
func TestResubmitEnqueuesNothing(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 1000})
	first := h.submit(&jobs.Campaign{ID: "again"}, ids(1, 1000), jobs.SubmitOptions{})
	if first.Enqueued != 10 {
		t.Fatalf("first submit enqueued %d batches, want 10", first.Enqueued)
	}
	keys := h.keyCount()
	if keys == 0 {
		t.Fatalf("no key matches namespace %q after a submit", h.redis.Namespace)
	}
	second := h.submit(&jobs.Campaign{ID: "again"}, ids(1, 1000), jobs.SubmitOptions{})
	if second.Enqueued != 0 || !second.Existing {
		t.Errorf("re-submit enqueued %d (existing %v), want 0 (true)", second.Enqueued, second.Existing)
	}
	if k := h.keyCount(); k != keys {
		t.Errorf("re-submit changed the key count from %d to %d", keys, k)
	}
	def := &jobs.Campaign{ID: "again", Mode: jobs.ModeDelete, BatchSize: 100, Priority: jobs.PriorityNormal, Policy: jobs.DefaultPolicy()}
	plan, _ := jobs.ReadPlan(def, jobs.IDList("test", ids(1, 1001)))
	if _, err := h.store.Submit(context.Background(), def, plan, jobs.SubmitOptions{ConfirmAbove: -1}); err == nil {
		t.Error("a different input under the same campaign ID was accepted without append")
	}
	res, err := h.store.Submit(context.Background(), def, plan, jobs.SubmitOptions{ConfirmAbove: -1, Append: true})
	if err != nil || res.Appended != 1 || res.Enqueued != 1 {
		t.Errorf("append: appended %v enqueued %v err %v, want 1 1 nil", res.Appended, res.Enqueued, err)
	}
}
