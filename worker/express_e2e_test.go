package worker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
	"github.com/labelreset/labelreset/worker"
)

// bulkGate serves a Fake over real HTTP and lets a test act on the bulk
// call (PATCH /v1/asset/labels): count it, answer it itself, or run a
// hook after the Fake answered it.
type bulkGate struct {
	fake *pdcpfake.Fake
	// arrived counts bulk calls that reached the gate.
	arrived atomic.Int64
	// status, when set, answers every bulk call with it (the Fake never
	// sees it).
	status atomic.Int64
	// after runs once the Fake has applied a bulk call, before the answer
	// leaves; r's context ends when the client gives up.
	after atomic.Pointer[func(r *http.Request)]
}

func (g *bulkGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPatch || r.URL.Path != "/v1/asset/labels" {
		g.fake.ServeHTTP(w, r)
		return
	}
	g.arrived.Add(1)
	if st := int(g.status.Load()); st != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		_, _ = w.Write([]byte(`{"message":"refused by the test","code":"TEST"}`))
		return
	}
	rec := httptest.NewRecorder()
	g.fake.ServeHTTP(rec, r)
	if f := g.after.Load(); f != nil {
		(*f)(r)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// newGatedHarness is newHarness with a bulkGate in front of the Fake.
func newGatedHarness(t *testing.T, opts pdcpfake.Options) (*harness, *bulkGate) {
	t.Helper()
	g := &bulkGate{fake: pdcpfake.New(opts)}
	ts := httptest.NewServer(g)
	t.Cleanup(ts.Close)
	h := &harness{t: t, redis: redistest.New(t), url: ts.URL}
	h.store = jobs.NewStore(h.redis.Client, jobs.StoreOptions{Namespace: h.redis.Namespace, ControlDelay: 50 * time.Millisecond})
	return h, g
}

// holding returns the IDs of the Fake's assets that hold label, ascending.
func holding(f *pdcpfake.Fake, label string) []int64 {
	var out []int64
	for id, ls := range f.AllLabels() {
		if slices.Contains(ls, label) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func idStrings(ids []int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatInt(id, 10)
	}
	return out
}

// submitExpress submits an express campaign removing "stale" from the
// assets of the query labels=stale, with the given IDs (the assets the
// query listed when it was planned) and verification deadline.
func (h *harness) submitExpress(id string, assets []int64, deadline time.Duration) {
	h.t.Helper()
	h.submit(&jobs.Campaign{ID: id, Mode: jobs.ModeRemove, Labels: []string{"stale"}, Snapshot: true,
		Query: "labels=stale", Express: true, ExpressDeadline: deadline}, idStrings(assets), jobs.SubmitOptions{})
}

// express reads campaign id's express state.
func (h *harness) express(id string) *jobs.ExpressInfo {
	h.t.Helper()
	c, err := h.store.Get(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	x, err := h.store.Express(context.Background(), c)
	if err != nil || x == nil {
		h.t.Fatalf("express state of %s: %+v, %v", id, x, err)
	}
	return x
}

// checkPaths checks that the assets of want have a record with outcome
// reset on path bulk (want true: no call) or per_asset, and that the fake
// holds "stale" on none of them.
func checkPaths(t *testing.T, h *harness, f *pdcpfake.Fake, id string, want map[int64]bool) {
	t.Helper()
	recs := h.records(id)
	bad := 0
	for aid, bulk := range want {
		r := recs[aid]
		wantPath := jobs.PathPerAsset
		if bulk {
			wantPath = jobs.PathBulk
		}
		if r.Outcome != jobs.OutcomeReset || r.Path() != wantPath {
			if bad++; bad <= 5 {
				t.Errorf("asset %d: outcome %q on path %q (%d calls), want reset on path %q", aid, r.Outcome, r.Path(), r.Attempts, wantPath)
			}
		}
		if ls, _ := f.Labels(aid); slices.Contains(ls, "stale") {
			if bad++; bad <= 5 {
				t.Errorf("asset %d still holds stale: %q", aid, ls)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d assets wrong in all", bad)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// TestExpressHappyPath: one bulk call removes the label from every asset
// of the query; verification sees each clean and records it reset on
// path bulk; no per-asset call is made; the other assets keep their labels.
func TestExpressHappyPath(t *testing.T) {
	h, g := newGatedHarness(t, pdcpfake.Options{Assets: 3000, Seed: 5})
	before := g.fake.AllLabels()
	stale := holding(g.fake, "stale")
	reg, _ := h.startWorker(16, nil)
	h.submitExpress("xhappy", stale, 20*time.Second)
	h.waitState("xhappy", time.Minute, jobs.StateDone)

	st := g.fake.Stats()
	if st.BulkCalls != 1 || st.LabelCalls != 0 {
		t.Errorf("fake saw %d bulk calls and %d per-asset calls, want 1 and 0", st.BulkCalls, st.LabelCalls)
	}
	want := map[int64]bool{}
	for _, id := range stale {
		want[id] = true
	}
	checkPaths(t, h, g.fake, "xhappy", want)
	for id, ls := range g.fake.AllLabels() {
		if !want[id] && !sameSet(ls, before[id]) {
			t.Fatalf("asset %d outside the campaign changed: %q, was %q", id, ls, before[id])
		}
	}
	n := int64(len(stale))
	x := h.express("xhappy")
	if x.State != jobs.ExpressVerified || x.Listed != n || x.AssetCount != n || x.Difference != 0 || x.Verified != n || x.Fallback != 0 {
		t.Errorf("express state %+v, want verified with %d listed, matched and verified, no difference or fallback", x, n)
	}
	if got := labelled(t, reg, "labelreset_express_bulk_calls_total", "result", "ok"); got != 1 {
		t.Errorf("labelreset_express_bulk_calls_total{result=ok} = %v, want 1", got)
	}
	if got := counter(t, reg, "labelreset_express_verified_assets_total"); got != float64(n) {
		t.Errorf("labelreset_express_verified_assets_total = %v, want %d", got, n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
}

// TestExpressRefusedOutside: the query lists assets that are not the
// campaign's (they started matching after it was planned): the bulk call
// would change them too, so it is never sent and every asset is called
// one by one; the outsiders keep their label.
func TestExpressRefusedOutside(t *testing.T) {
	h, g := newGatedHarness(t, pdcpfake.Options{Assets: 1000, Seed: 6})
	stale := holding(g.fake, "stale")
	mine, outside := stale[:len(stale)-7], stale[len(stale)-7:]
	reg, _ := h.startWorker(16, nil)
	h.submitExpress("xrefused", mine, 20*time.Second)
	h.waitState("xrefused", time.Minute, jobs.StateDone)

	if n := g.arrived.Load(); n != 0 {
		t.Errorf("%d bulk calls sent, want none", n)
	}
	if got := g.fake.Stats().LabelCalls; got != int64(len(mine)) {
		t.Errorf("%d per-asset calls, want %d", got, len(mine))
	}
	want := map[int64]bool{}
	for _, id := range mine {
		want[id] = false
	}
	checkPaths(t, h, g.fake, "xrefused", want)
	for _, id := range outside {
		if ls, _ := g.fake.Labels(id); !slices.Contains(ls, "stale") {
			t.Errorf("asset %d outside the campaign lost stale: %q", id, ls)
		}
	}
	x := h.express("xrefused")
	if x.State != jobs.ExpressRefused || x.Outside != 7 || x.Fallback != int64(len(mine)) || !strings.Contains(x.Reason, "7 assets") {
		t.Errorf("express state %+v, want refused naming 7 outside assets, %d left to per-asset calls", x, len(mine))
	}
	if got := counter(t, reg, "labelreset_express_fallback_assets_total"); got != float64(len(mine)) {
		t.Errorf("labelreset_express_fallback_assets_total = %v, want %d", got, len(mine))
	}
}

// TestExpressUnauthorized: a 401 to the bulk call blocks the campaign as a
// per-asset 401 does, no asset is called, and the express state goes back
// to waiting, so that resume sends the bulk call again.
func TestExpressUnauthorized(t *testing.T) {
	h, g := newGatedHarness(t, pdcpfake.Options{Assets: 500, Seed: 7})
	g.status.Store(http.StatusUnauthorized)
	stale := holding(g.fake, "stale")
	reg, _ := h.startWorker(16, nil)
	h.submitExpress("x401", stale, 20*time.Second)
	c := h.waitState("x401", 30*time.Second, jobs.StateBlocked)
	if !strings.Contains(c.Reason, "401") {
		t.Errorf("blocked with reason %q, want the 401 named", c.Reason)
	}
	time.Sleep(500 * time.Millisecond) // a per-asset call would show now
	if got := g.fake.Stats().LabelCalls; got != 0 {
		t.Errorf("%d per-asset calls, want none", got)
	}
	if x := h.express("x401"); x.State != jobs.ExpressWaiting {
		t.Errorf("express state %q, want waiting (sent again on resume)", x.State)
	}
	if got := labelled(t, reg, "labelreset_express_bulk_calls_total", "result", "unauthorized"); got != 1 {
		t.Errorf("labelreset_express_bulk_calls_total{result=unauthorized} = %v, want 1", got)
	}

	// Fixed and resumed: the bulk call goes again, and does it all.
	g.status.Store(0)
	if _, err := h.store.Resume(context.Background(), "x401"); err != nil {
		t.Fatal(err)
	}
	h.waitState("x401", time.Minute, jobs.StateDone)
	if st := g.fake.Stats(); st.BulkCalls != 1 || st.LabelCalls != 0 || g.arrived.Load() != 2 {
		t.Errorf("after resume: %d bulk calls arrived, the fake applied %d and saw %d per-asset calls; want 2, 1, 0",
			g.arrived.Load(), st.BulkCalls, st.LabelCalls)
	}
}

// TestExpressCancelAfterSent: a cancel after the bulk call was sent stops
// only the per-asset calls: verification still records what the bulk
// call did (reset on path bulk over cancelled).
func TestExpressCancelAfterSent(t *testing.T) {
	h, g := newGatedHarness(t, pdcpfake.Options{Assets: 1000, Seed: 8})
	stale := holding(g.fake, "stale")
	cancel := func(r *http.Request) {
		if _, err := h.store.Cancel(context.Background(), "xcancel"); err != nil {
			t.Errorf("cancel: %v", err)
		}
	}
	g.after.Store(&cancel)
	h.startWorker(16, nil)
	h.submitExpress("xcancel", stale, 20*time.Second)
	deadline := time.Now().Add(time.Minute)
	for h.express("xcancel").State != jobs.ExpressVerified {
		if time.Now().After(deadline) {
			t.Fatalf("express state %+v after a minute, want verified", h.express("xcancel"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := g.fake.Stats(); st.BulkCalls != 1 || st.LabelCalls != 0 {
		t.Errorf("fake saw %d bulk calls and %d per-asset calls, want 1 and 0", st.BulkCalls, st.LabelCalls)
	}
	want := map[int64]bool{}
	for _, id := range stale {
		want[id] = true
	}
	checkPaths(t, h, g.fake, "xcancel", want)
	if c, _ := h.store.Get(context.Background(), "xcancel"); c.State != jobs.StateCancelled {
		t.Errorf("campaign state %q, want cancelled", c.State)
	}
}

// TestExpressRestartWhileSending: a worker stopped while its bulk call is
// in flight (the call reached PDCP, its answer never came back) leaves the
// state sending; the next worker never sends it again, and verification
// finds what it did.
func TestExpressRestartWhileSending(t *testing.T) {
	h, g := newGatedHarness(t, pdcpfake.Options{Assets: 1000, Seed: 9})
	stale := holding(g.fake, "stale")
	applied := make(chan struct{}, 1)
	hang := func(r *http.Request) {
		applied <- struct{}{}
		<-r.Context().Done() // the answer never leaves
	}
	g.after.Store(&hang)
	_, stop := h.startWorker(16, func(c *worker.Config) { c.ShutdownTimeout = time.Second })
	h.submitExpress("xrestart", stale, 30*time.Second)
	select {
	case <-applied:
	case <-time.After(time.Minute):
		t.Fatal("no bulk call within a minute")
	}
	stop()
	if x := h.express("xrestart"); x.State != jobs.ExpressSending {
		t.Fatalf("express state after the stop: %q, want sending", x.State)
	}
	g.after.Store(nil)
	h.startWorker(16, nil)
	h.waitState("xrestart", time.Minute, jobs.StateDone)
	if n, st := g.arrived.Load(), g.fake.Stats(); n != 1 || st.LabelCalls != 0 {
		t.Errorf("%d bulk calls arrived and %d per-asset calls, want 1 and 0", n, st.LabelCalls)
	}
	want := map[int64]bool{}
	for _, id := range stale {
		want[id] = true
	}
	checkPaths(t, h, g.fake, "xrestart", want)
	if x := h.express("xrestart"); x.State != jobs.ExpressVerified || x.AssetCount != -1 {
		t.Errorf("express state %+v, want verified with asset_count unknown (-1)", x)
	}
}

// TestExpressPartialFallsBack: the bulk call leaves part of the assets
// unchanged; verification sees the rest clean, and at the deadline the
// skipped ones are reset one by one (path per_asset), each call counted.
func TestExpressPartialFallsBack(t *testing.T) {
	h, g := newGatedHarness(t, pdcpfake.Options{Assets: 1000, Seed: 10, BulkSkipFraction: 0.2})
	stale := holding(g.fake, "stale")
	reg, _ := h.startWorker(16, nil)
	h.submitExpress("xpartial", stale, 3*time.Second)
	h.waitState("xpartial", time.Minute, jobs.StateDone)

	want := map[int64]bool{}
	skipped := 0
	for _, id := range stale {
		want[id] = !g.fake.BulkSkipped(id)
		if !want[id] {
			skipped++
		}
	}
	if skipped == 0 || skipped == len(stale) {
		t.Fatalf("%d of %d assets skipped by the bulk call: the test needs some of each", skipped, len(stale))
	}
	checkPaths(t, h, g.fake, "xpartial", want)
	if st := g.fake.Stats(); st.BulkCalls != 1 || st.LabelCalls != int64(skipped) {
		t.Errorf("fake saw %d bulk calls and %d per-asset calls, want 1 and %d", st.BulkCalls, st.LabelCalls, skipped)
	}
	x := h.express("xpartial")
	if x.State != jobs.ExpressVerified || x.Verified != int64(len(stale)-skipped) || x.Fallback != int64(skipped) {
		t.Errorf("express state %+v, want verified %d, fallback %d", x, len(stale)-skipped, skipped)
	}
	if got := counter(t, reg, "labelreset_express_fallback_assets_total"); got != float64(skipped) {
		t.Errorf("labelreset_express_fallback_assets_total = %v, want %d", got, skipped)
	}
}

// TestExpressAsyncVerifiedLate: a large bulk call answers async and its
// change lands seconds later; verification keeps listing until it sees
// every asset clean, and no asset is called one by one.
func TestExpressAsyncVerifiedLate(t *testing.T) {
	h, g := newGatedHarness(t, pdcpfake.Options{Assets: 1000, Seed: 12, BulkAsyncAbove: 10, BulkAsyncDelay: 2 * time.Second})
	stale := holding(g.fake, "stale")
	h.startWorker(16, nil)
	start := time.Now()
	h.submitExpress("xasync", stale, 20*time.Second)
	h.waitState("xasync", time.Minute, jobs.StateDone)
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("done after %v, before the async change could land", took)
	}
	want := map[int64]bool{}
	for _, id := range stale {
		want[id] = true
	}
	checkPaths(t, h, g.fake, "xasync", want)
	if st := g.fake.Stats(); st.BulkCalls != 1 || st.LabelCalls != 0 {
		t.Errorf("fake saw %d bulk calls and %d per-asset calls, want 1 and 0", st.BulkCalls, st.LabelCalls)
	}
	if x := h.express("xasync"); x.State != jobs.ExpressVerified || !x.Async || x.Verified != int64(len(stale)) || x.Fallback != 0 {
		t.Errorf("express state %+v, want verified async, %d verified, no fallback", x, len(stale))
	}
}

// TestExpressBulkFails: PDCP answers the bulk call 500 every time: it is
// tried expressBulkTries (3) times, the express phase fails, and every
// asset is reset one by one.
func TestExpressBulkFails(t *testing.T) {
	h, g := newGatedHarness(t, pdcpfake.Options{Assets: 500, Seed: 13, BulkFailStatus: http.StatusInternalServerError})
	stale := holding(g.fake, "stale")
	reg, _ := h.startWorker(16, nil)
	h.submitExpress("xfail", stale, 20*time.Second)
	h.waitState("xfail", time.Minute, jobs.StateDone)
	if n := g.arrived.Load(); n != 3 {
		t.Errorf("%d bulk calls, want 3 tries", n)
	}
	want := map[int64]bool{}
	for _, id := range stale {
		want[id] = false
	}
	checkPaths(t, h, g.fake, "xfail", want)
	if x := h.express("xfail"); x.State != jobs.ExpressFailed || !strings.Contains(x.Reason, "3 times") {
		t.Errorf("express state %+v, want failed after 3 tries", x)
	}
	if got := labelled(t, reg, "labelreset_express_bulk_calls_total", "result", "server_error"); got != 3 {
		t.Errorf("labelreset_express_bulk_calls_total{result=server_error} = %v, want 3", got)
	}
}
