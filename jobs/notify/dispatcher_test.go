package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/notify"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// delivery is one POST a receiver accepted.
type delivery struct {
	notifier string
	header   string // X-Labelreset-Delivery
	payload  notify.Payload
}

// receiver is a real HTTP server for several notifiers (path /<name>),
// each with its own secret: it checks every request's method, content
// type and signature (a bad one is the test's failure) and records the
// accepted deliveries. fail, when set, answers a request instead
// (status != 0).
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	secrets map[string]string
	got     []delivery
	fail    func(d delivery) int
	block   chan struct{} // when set, requests wait for it to close (or their caller to go)
	started chan struct{} // a request arrived while block was set
}

func newReceiver(t *testing.T, names ...string) *receiver {
	r := &receiver{t: t, secrets: map[string]string{}}
	for _, n := range names {
		r.secrets[n] = "secret-of-" + n
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) config() *notify.Config {
	c := &notify.Config{}
	for n, s := range r.secrets {
		c.Notifiers = append(c.Notifiers, notify.Notifier{Name: n, URL: r.srv.URL + "/" + n, Secret: s})
	}
	return c
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	name := req.URL.Path[1:]
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	secret, ok := r.secrets[name]
	block, fail := r.block, r.fail
	r.mu.Unlock()
	switch {
	case !ok:
		r.t.Errorf("POST to unknown notifier path %q", req.URL.Path)
	case req.Method != http.MethodPost:
		r.t.Errorf("%s: method %s, want POST", name, req.Method)
	case req.Header.Get("Content-Type") != "application/json":
		r.t.Errorf("%s: content type %q, want application/json", name, req.Header.Get("Content-Type"))
	case !notify.Verify(secret, body, req.Header.Get(notify.SignatureHeader)):
		r.t.Errorf("%s: signature %q does not match the body under its secret", name, req.Header.Get(notify.SignatureHeader))
	}
	if block != nil {
		r.started <- struct{}{}
		select {
		case <-block:
		case <-req.Context().Done():
			return
		}
	}
	d := delivery{notifier: name, header: req.Header.Get(notify.DeliveryHeader)}
	if err := json.Unmarshal(body, &d.payload); err != nil {
		r.t.Errorf("%s: body %q: %v", name, body, err)
	}
	if fail != nil {
		if code := fail(d); code != 0 {
			w.WriteHeader(code)
			return
		}
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// run starts a dispatcher on env until the test ends (or stop is called,
// which waits for Run to return).
func run(t *testing.T, env *redistest.Env, cfg *notify.Config, reg prometheus.Registerer) (stop func()) {
	t.Helper()
	d, err := notify.New(env.Client, notify.Options{
		Namespace: env.Namespace, Config: cfg, Registerer: reg, PollInterval: 10 * time.Millisecond,
		Lease: 2 * time.Second, Backoff: backoff.Policy{Base: time.Millisecond, Cap: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds; the deadline is a failure bound,
// not a measurement.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func outboxEmpty(t *testing.T, env *redistest.Env, ids ...string) bool {
	for _, id := range ids {
		n, err := env.Client.LLen(context.Background(), jobs.OutboxKey(env.Namespace, id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return false
		}
	}
	return true
}

func newDef(id string, notifiers ...string) *jobs.Campaign {
	return &jobs.Campaign{ID: id, Name: id, Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: 100, Policy: jobs.DefaultPolicy(), Notify: notifiers}
}

// submit creates campaign def with assets 1..n, waiting for approval.
func submit(t *testing.T, ctx context.Context, store *jobs.Store, def *jobs.Campaign, n int) {
	t.Helper()
	vals := make([]string, n)
	for i := range vals {
		vals[i] = strconv.Itoa(i + 1)
	}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", vals))
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{RequireApproval: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Campaign.State != jobs.StatePending {
		t.Fatalf("campaign %s: state %s, want pending", def.ID, res.Campaign.State)
	}
}

// finish records assets 1..n of campaign id reset.
func finish(t *testing.T, ctx context.Context, store *jobs.Store, id string, n int) {
	t.Helper()
	recs := make([]jobs.Record, n)
	for i := range recs {
		recs[i] = jobs.Record{AssetID: int64(i + 1), Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: time.Now()}
	}
	ch, err := store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: 0, Records: recs}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ch != jobs.ChangeFinished {
		t.Fatalf("campaign %s: record: change %v, want finished", id, ch)
	}
}

// TestExactlyOnceTwoDispatchers: two dispatchers on one Redis and
// namespace, N campaigns each through pending → approve → done, two
// notifiers each: every notifier gets each transition exactly once, in
// order per campaign, signed with its own secret, with the payload's
// fields and the delivery header right; the outboxes end empty, and the
// metrics count what was sent by notifier and event.
func TestExactlyOnceTwoDispatchers(t *testing.T) {
	env := redistest.New(t)
	rcv := newReceiver(t, "ops", "audit")
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond, Actor: "worker:w1"})
	alice := jobs.WithActor(context.Background(), "api:alice")
	bob := jobs.WithActor(context.Background(), "api:bob")
	reg1, reg2 := prometheus.NewRegistry(), prometheus.NewRegistry()
	stop1 := run(t, env, rcv.config(), reg1)
	stop2 := run(t, env, rcv.config(), reg2)

	const n = 12
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%02d", i)
		submit(t, alice, store, newDef(ids[i], "ops", "audit"), 5)
		if _, err := store.Approve(bob, ids[i]); err != nil {
			t.Fatal(err)
		}
		finish(t, context.Background(), store, ids[i], 5)
	}
	waitFor(t, "every delivery", func() bool { return len(rcv.deliveries()) >= n*2*2 && outboxEmpty(t, env, ids...) })
	stop1()
	stop2()

	got := rcv.deliveries()
	if len(got) != n*2*2 {
		t.Errorf("got %d deliveries, want %d (2 events × 2 notifiers × %d campaigns)", len(got), n*2*2, n)
	}
	seen := map[string]int{}
	order := map[string][]string{} // notifier/campaign → events in order
	for _, d := range got {
		seen[d.notifier+" "+d.header]++
		if d.header != d.payload.ID {
			t.Errorf("delivery header %q, payload id %q: want equal", d.header, d.payload.ID)
		}
		k := d.notifier + "/" + d.payload.Campaign
		order[k] = append(order[k], d.payload.Event)
		switch d.payload.Event {
		case notify.EventNeedsApproval:
			if d.payload.Action != jobs.ActionCreate || d.payload.From != "" || d.payload.To != "pending" || d.payload.Actor != "api:alice" {
				t.Errorf("needs_approval payload %+v: want action create, from \"\", to pending, actor api:alice", d.payload)
			}
		case notify.EventDone:
			if d.payload.Action != jobs.ActionDone || d.payload.From != "running" || d.payload.To != "done" || d.payload.Actor != "worker:w1" {
				t.Errorf("done payload %+v: want action done, running → done, actor worker:w1", d.payload)
			}
		default:
			t.Errorf("unexpected event %q", d.payload.Event)
		}
		if d.payload.Time.IsZero() || time.Since(d.payload.Time) > time.Hour {
			t.Errorf("payload time %v: want the transition's time", d.payload.Time)
		}
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%s delivered %d times, want once", k, c)
		}
	}
	for _, id := range ids {
		for _, nt := range []string{"ops", "audit"} {
			if o := order[nt+"/"+id]; len(o) != 2 || o[0] != notify.EventNeedsApproval || o[1] != notify.EventDone {
				t.Errorf("%s got %v for %s, want [needs_approval done]", nt, o, id)
			}
		}
	}
	var sent float64
	for _, reg := range []*prometheus.Registry{reg1, reg2} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "labelreset_notifications_sent_total" {
				for _, m := range mf.GetMetric() {
					sent += m.GetCounter().GetValue()
				}
			}
		}
	}
	if sent != n*2*2 {
		t.Errorf("labelreset_notifications_sent_total sums to %v over both dispatchers, want %d", sent, n*2*2)
	}
}

// TestRetryAfterFailures: a notifier that answers 500 twice, then 200,
// gets the entry on the third attempt; one delivery is recorded, the
// failed attempts are counted, and the other notifier (which answered
// at once) is not sent the entry again.
func TestRetryAfterFailures(t *testing.T) {
	env := redistest.New(t)
	rcv := newReceiver(t, "flaky", "steady")
	var mu sync.Mutex
	tries := 0
	rcv.fail = func(d delivery) int {
		if d.notifier != "flaky" {
			return 0
		}
		mu.Lock()
		defer mu.Unlock()
		tries++
		if tries <= 2 {
			return http.StatusInternalServerError
		}
		return 0
	}
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	reg := prometheus.NewRegistry()
	run(t, env, rcv.config(), reg)
	submit(t, context.Background(), store, newDef("retry", "steady", "flaky"), 3)
	waitFor(t, "the delivery", func() bool { return len(rcv.deliveries()) >= 2 && outboxEmpty(t, env, "retry") })

	got := rcv.deliveries()
	if len(got) != 2 {
		t.Fatalf("got %d deliveries, want 2 (one per notifier): %+v", len(got), got)
	}
	mu.Lock()
	if tries != 3 {
		t.Errorf("flaky was tried %d times, want 3", tries)
	}
	mu.Unlock()
	if v := testutil.ToFloat64(counter(t, reg, "labelreset_notifications_failed_total", "flaky")); v != 2 {
		t.Errorf("failed_total{flaky} = %v, want 2", v)
	}
}

// counter finds the counter of the metric name with the given label
// values in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) prometheus.Collector {
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
			match := len(m.GetLabel()) >= len(labels)
			for i, l := range labels {
				if match && m.GetLabel()[i].GetValue() != l {
					match = false
				}
			}
			if match {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no %s%v in the registry", name, labels)
	return nil
}

// TestTakeOverAfterKill: a dispatcher stopped while its POST is in
// flight (the receiver holds it) leaves the entry; a second dispatcher
// delivers it, and every later one: nothing is lost.
func TestTakeOverAfterKill(t *testing.T) {
	env := redistest.New(t)
	rcv := newReceiver(t, "ops")
	rcv.block, rcv.started = make(chan struct{}), make(chan struct{}, 16)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	stop1 := run(t, env, rcv.config(), nil)
	submit(t, context.Background(), store, newDef("kill", "ops"), 3)
	<-rcv.started // the first dispatcher's POST is in flight
	stop1()
	if outboxEmpty(t, env, "kill") {
		t.Fatal("the outbox is empty after a delivery that never finished")
	}
	rcv.mu.Lock()
	close(rcv.block)
	rcv.block = nil
	rcv.mu.Unlock()
	if _, err := store.Approve(context.Background(), "kill"); err != nil {
		t.Fatal(err)
	}
	finish(t, context.Background(), store, "kill", 3)
	run(t, env, rcv.config(), nil)
	waitFor(t, "the deliveries", func() bool { return len(rcv.deliveries()) >= 2 && outboxEmpty(t, env, "kill") })
	got := rcv.deliveries()
	if len(got) != 2 || got[0].payload.Event != notify.EventNeedsApproval || got[1].payload.Event != notify.EventDone {
		t.Errorf("got %+v, want needs_approval then done", got)
	}
}

// TestUnknownNotifierWaits: a dispatcher that knows only one of an
// entry's notifiers sends to it and leaves the entry; a dispatcher that
// knows the other sends to that one only, and the entry goes.
func TestUnknownNotifierWaits(t *testing.T) {
	env := redistest.New(t)
	rcv := newReceiver(t, "ops", "audit")
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	full := rcv.config()
	only := func(name string) *notify.Config {
		for _, n := range full.Notifiers {
			if n.Name == name {
				return &notify.Config{Notifiers: []notify.Notifier{n}}
			}
		}
		t.Fatalf("no notifier %s", name)
		return nil
	}
	stop := run(t, env, only("ops"), nil)
	submit(t, context.Background(), store, newDef("split", "ops", "audit"), 3)
	// Recorded, not only received: a dispatcher stopped between the POST
	// and the record sends to ops again (at least once), and then the
	// audit-only dispatcher below would wait for it for good.
	waitFor(t, "the delivery to ops, recorded", func() bool {
		return env.Client.HLen(context.Background(), jobs.NotifiedKey(env.Namespace, "split")).Val() >= 1
	})
	stop()
	if outboxEmpty(t, env, "split") {
		t.Fatal("the entry went before audit got it")
	}
	run(t, env, only("audit"), nil)
	waitFor(t, "the delivery to audit", func() bool { return outboxEmpty(t, env, "split") })
	got := rcv.deliveries()
	if len(got) != 2 || got[0].notifier != "ops" || got[1].notifier != "audit" || got[0].header != got[1].header {
		t.Errorf("got %+v, want the entry once to ops, then once to audit", got)
	}
}

// TestAnUnknownNotifierDoesNotHoldBackTheOthers: an entry waiting for a
// notifier no running process knows (removed from the configuration after
// the campaign named it) must not keep the campaign's later entries from
// the notifiers that are known: they get every entry, in order, and none
// is lost when the waiting entries age out.
func TestAnUnknownNotifierDoesNotHoldBackTheOthers(t *testing.T) {
	env := redistest.New(t)
	rcv := newReceiver(t, "ops", "audit")
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	var ops *notify.Config
	for _, n := range rcv.config().Notifiers {
		if n.Name == "ops" {
			ops = &notify.Config{Notifiers: []notify.Notifier{n}}
		}
	}
	ctx := context.Background()
	run(t, env, ops, nil)
	submit(t, ctx, store, newDef("held", "ops", "audit"), 3) // needs_approval
	if _, err := store.Approve(ctx, "held"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Cancel(ctx, "held"); err != nil { // cancelled
		t.Fatal(err)
	}
	waitFor(t, "both entries at ops", func() bool { return len(rcv.deliveries()) >= 2 })
	got := rcv.deliveries()
	if len(got) != 2 || got[0].payload.Event != "needs_approval" || got[1].payload.Event != "cancelled" {
		t.Fatalf("ops got %+v, want needs_approval then cancelled", got)
	}
	if outboxEmpty(t, env, "held") {
		t.Fatal("the entries went before audit got them")
	}
}
