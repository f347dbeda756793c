package main

// Reliability tests: worker crashes, Redis restarts and outages, API chaos,
// graceful shutdown and hostile input, each on the real labelreset binary
// (built by TestMain) and a fake PDCP. The tests here run on the embedded
// Redis (or REDIS_ADDR); redisproc_test.go and cluster_test.go repeat the
// Redis faults on real redis-server processes (build tag redisservers).
// RELIABILITY.md lists the figures of the last run.

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// newE2EAt is newE2E on a Redis the test started itself (a redis-server
// process, a cluster, a sentinel, or a miniredis it stops and restarts).
func newE2EAt(t *testing.T, redisURL, namespace string, opts pdcpfake.Options) *e2e {
	t.Helper()
	e := &e2e{t: t, fake: pdcpfake.NewServer(opts), dir: t.TempDir()}
	t.Cleanup(e.fake.Close)
	e.env = append(os.Environ(),
		"REDIS_URL="+redisURL, "LABELRESET_NAMESPACE="+namespace,
		"PDCP_API_KEY="+keyOf(opts), "PDCP_API_SERVER="+e.fake.URL(), "PDCP_TEAM_ID=",
		"HOME="+e.dir,
		"LABELRESET_RATE=0", // as newE2E: unlimited unless a test sets --rate
	)
	return e
}

// finishing reports whether a PDCP answer ends an asset (the worker never
// calls it again).
func finishing(status int) bool { return status == 200 || status == 404 || status == 400 }

// retryableStatus reports whether the worker may call again after this
// answer: connection reset or truncated body (logged 0 or 5xx), 429, 5xx
// other than 501.
func retryableStatus(status int) bool {
	return status == 0 || status == 429 || (status >= 500 && status <= 599 && status != 501)
}

// callsByAsset groups the fake's call log by asset, in the order the
// calls arrived. The log holds them in the order they were answered, which
// on a busy host can put a retry before the reset call it followed.
func callsByAsset(f *pdcpfake.Fake) map[int64][]pdcpfake.Call {
	m := map[int64][]pdcpfake.Call{}
	for _, c := range f.Log() {
		m[c.AssetID] = append(m[c.AssetID], c)
	}
	for _, cs := range m {
		slices.SortStableFunc(cs, func(a, b pdcpfake.Call) int { return a.Time.Compare(b.Time) })
	}
	return m
}

// outcomeCheck is the result of checkOutcomes.
type outcomeCheck struct {
	rows     map[int64][]string
	calls    map[int64][]pdcpfake.Call
	repeated []int64 // assets with more than one finishing call
}

// checkOutcomes asserts that assets 1..n each have exactly one report row
// whose outcome matches the fake's kind (a failed outcome is accepted only
// where allowFailed says so), and that every asset got at least one
// finishing answer unless it failed. It returns the assets that got a second
// finishing call; the caller decides how many are acceptable.
func checkOutcomes(e *e2e, id string, n int, allowFailed func(int64) bool) outcomeCheck {
	e.t.Helper()
	rows := e.report(id)
	if len(rows) != n {
		e.t.Fatalf("report of %s has %d rows, want %d", id, len(rows), n)
	}
	f := e.fake.Fake()
	oc := outcomeCheck{rows: rows, calls: callsByAsset(f)}
	bad := 0
	for aid := int64(1); aid <= int64(n); aid++ {
		row, ok := rows[aid]
		if !ok {
			e.t.Fatalf("asset %d missing from the report", aid)
		}
		want := map[string]string{pdcpfake.KindOK: "reset", pdcpfake.KindFlaky: "reset",
			pdcpfake.KindNotFound: "not_found", pdcpfake.KindInvalid: "invalid"}[f.Kind(aid)]
		got := row[1]
		if got != want && !(got == "failed" && allowFailed != nil && allowFailed(aid)) {
			if bad++; bad <= 20 {
				e.t.Errorf("asset %d (%s): outcome %q, want %q; calls %v", aid, f.Kind(aid), got, want, oc.calls[aid])
			}
		}
		fin := 0
		for _, c := range oc.calls[aid] {
			if finishing(c.Status) {
				fin++
			}
		}
		if fin == 0 && got != "failed" {
			if bad++; bad <= 20 {
				e.t.Errorf("asset %d: outcome %q but the fake never gave it a finishing answer", aid, got)
			}
		}
		if fin > 1 {
			oc.repeated = append(oc.repeated, aid)
		}
	}
	if bad > 20 {
		e.t.Errorf("... %d assets wrong in all", bad)
	}
	return oc
}

// procCPU returns the CPU time (user + system) a process has used, from
// /proc/<pid>/stat.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read CPU time of %d: %v", pid, err)
	}
	// Fields after the command name (which may hold spaces) start at state
	// (field 3); utime and stime are fields 14 and 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // sysconf(_SC_CLK_TCK) on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}

// readyz returns the status code of a worker's /readyz, 0 if unreachable.
func readyz(addr string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond every 100ms until it holds or timeout passes; it
// returns how long it took and whether cond held.
func waitFor(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *e2e) finished(id string) int64 {
	s := e.status(id)
	return s.Total - s.Counts["pending"]
}

// waitFinished waits until at least n assets of the campaign have an
// outcome.
func (e *e2e) waitFinished(id string, n int64, timeout time.Duration) {
	e.t.Helper()
	if _, ok := waitFor(timeout, func() bool { return e.finished(id) >= n }); !ok {
		e.t.Fatalf("campaign %s: fewer than %d assets finished after %v (%+v)", id, n, timeout, e.status(id))
	}
}

func (e *e2e) submit(args ...string) {
	e.t.Helper()
	out, errs, code := e.run(append([]string{"submit"}, args...)...)
	if code != 0 {
		e.t.Fatalf("submit %v: exit %d\n%s\n%s", args, code, out, errs)
	}
}

// terminalSet returns the assets with a final outcome in the report now.
func (e *e2e) terminalSet(id string) map[int64]bool {
	set := map[int64]bool{}
	for aid, row := range e.report(id) {
		switch row[1] {
		case "reset", "not_found", "invalid", "failed":
			set[aid] = true
		}
	}
	return set
}

// TestWorkerCrashes: a 20,000-asset campaign on three workers (12,000
// without the soak tag); a random worker is SIGKILLed five times (three) at
// random moments and restarted each time.
// Every asset ends with exactly one outcome; an asset whose outcome was in
// Redis before a kill is never called again; assets called twice (their
// call was in flight at a kill, or its outcome not yet written) are at
// most kills × 3 × concurrency (calls in flight, plus twice as many
// finished calls waiting for their group commit).
func TestWorkerCrashes(t *testing.T) {
	// Mostly waiting for asynq's lease expiry and recoverer: run beside
	// the other parallel tests, after the timing-sensitive sequential ones.
	t.Parallel()
	const workers, conc = 3, 8
	// 3 workers × 8 slots at 30-60ms a call finish at most ~530 assets/s:
	// 12,000 assets outlast three kills 1.5-5s apart.
	n, kills := 12000, 3
	if soak {
		n, kills = 20000, 5
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("kill schedule seed %d", seed)
	e := newE2E(t, pdcpfake.Options{Assets: n - 200, Seed: 11, InvalidFraction: 0.005,
		Latency: 30 * time.Millisecond, LatencyJitter: 30 * time.Millisecond})
	start := func() *proc { return e.startWorker("--concurrency", strconv.Itoa(conc)) }
	ws := make([]*proc, workers)
	for i := range ws {
		ws[i] = start()
	}
	e.submit("--campaign", "crash", "--reset-unlisted", "--csv", e.writeIDs("ids.csv", 1, n), "--yes")
	e.waitFinished("crash", 500, time.Minute)
	t0 := time.Now()

	type kill struct {
		at       time.Time
		worker   int
		finished map[int64]bool // outcomes in Redis just before the kill
	}
	var ks []kill
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(1500+rng.IntN(3500)) * time.Millisecond)
		i := rng.IntN(workers)
		fin := e.terminalSet("crash")
		if len(fin) >= n {
			t.Fatalf("the campaign finished before kill %d: make it slower", k+1)
		}
		ws[i].cmd.Process.Signal(syscall.SIGKILL)
		at := time.Now()
		<-ws[i].done
		ws[i] = start()
		ks = append(ks, kill{at: at, worker: i, finished: fin})
		t.Logf("kill %d at +%v: worker %d; %d assets had an outcome", k+1, at.Sub(t0).Round(time.Millisecond), i, len(fin))
	}
	last := ks[len(ks)-1].at
	e.waitState("crash", 4*time.Minute, "done")
	recover := time.Since(last)

	oc := checkOutcomes(e, "crash", n, nil)
	// An asset whose outcome was durable before a kill gets no further call.
	for k, kl := range ks {
		again := 0
		for aid := range kl.finished {
			fin := 0
			for _, c := range oc.calls[aid] {
				if finishing(c.Status) {
					fin++
				}
			}
			if fin != 1 {
				if again++; again <= 10 {
					t.Errorf("asset %d had its outcome before kill %d but got %d finishing calls: %v", aid, k+1, fin, oc.calls[aid])
				}
			}
		}
	}
	// Calls repeated because they were in flight at a kill: the first
	// finishing call of each such asset lies before a kill, the second after.
	for _, aid := range oc.repeated {
		var first time.Time
		for _, c := range oc.calls[aid] {
			if finishing(c.Status) {
				first = c.Time
				break
			}
		}
		// The fake logs a call when it answers, which for a call in flight
		// at a kill may be just after the kill: the worker was gone.
		near := false
		for _, kl := range ks {
			if first.After(kl.at.Add(-5*time.Second)) && first.Before(kl.at.Add(time.Second)) {
				near = true
			}
		}
		if !near {
			t.Errorf("asset %d got a second finishing call although its first (%v) was not in flight at any kill: %v",
				aid, first.Sub(t0), oc.calls[aid])
		}
	}
	// A kill repeats the calls in flight (≤ concurrency) and those whose
	// outcome still waited for its ledger write (≤ 2 × concurrency).
	bound := kills * maxRepeats(conc)
	t.Logf("%d assets, %d workers × concurrency %d, %d kills; assets called again (in flight at a kill): %d (bound %d); "+
		"done %v after the last kill; %d calls in all",
		n, workers, conc, kills, len(oc.repeated), bound, recover.Round(time.Second), len(e.fake.Fake().Log()))
	if len(oc.repeated) > bound {
		t.Errorf("%d assets repeated a finishing call, more than kills × 3 × concurrency = %d", len(oc.repeated), bound)
	}
}

// redisControl stops and restarts the Redis a test runs on, keeping its
// data and address.
type redisControl interface {
	URL() string
	Down(t *testing.T)
	Up(t *testing.T)
}

// miniControl is a miniredis that Close and Restart take down and bring
// back on the same address with the same data.
type miniControl struct{ m *miniredis.Miniredis }

func newMiniControl(t *testing.T) *miniControl {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return &miniControl{m}
}

func (c *miniControl) URL() string     { return "redis://" + c.m.Addr() }
func (c *miniControl) Down(*testing.T) { c.m.Close() }
func (c *miniControl) Up(t *testing.T) {
	if err := c.m.Restart(); err != nil {
		t.Fatalf("restart miniredis: %v", err)
	}
}

// testRedisRestart: Redis goes away mid-campaign and comes back on the same
// address with its data a few seconds later; the workers reconnect by
// themselves and the campaign completes with one outcome per asset and no
// repeated call.
func testRedisRestart(t *testing.T, rc redisControl, gap time.Duration) {
	const n = 6000
	// 2 workers × concurrency 16 at ~40ms a call make about 800 assets/s:
	// the campaign must still be far from done when Redis goes down, or
	// there is no progress left to see after it comes back.
	e := newE2EAt(t, rc.URL(), "lr", pdcpfake.Options{Assets: n - 100, Seed: 21, FailFraction: 0.05, FailTimes: 1,
		Latency: 35 * time.Millisecond, LatencyJitter: 10 * time.Millisecond})
	e.startWorker()
	e.startWorker()
	e.submit("--campaign", "restart", "--reset-unlisted", "--csv", e.writeIDs("ids.csv", 1, n), "--yes", "--backoff-base", "20ms", "--backoff-cap", "200ms")
	e.waitFinished("restart", n/4, time.Minute)
	before := e.finished("restart")
	if before > n-1000 {
		t.Fatalf("%d of %d assets already finished before Redis went down; the test needs work left to see it resume", before, n)
	}
	rc.Down(t)
	downAt := time.Now()
	time.Sleep(gap)
	rc.Up(t)
	upAt := time.Now()
	var resumed time.Duration
	if d, ok := waitFor(time.Minute, func() bool { return e.finished("restart") > before+100 }); ok {
		resumed = d
	} else {
		t.Fatalf("no progress within a minute of Redis coming back")
	}
	e.waitState("restart", 3*time.Minute, "done")
	oc := checkOutcomes(e, "restart", n, nil)
	t.Logf("%d assets; Redis down for %v at %d finished; work resumed %v after Redis came back; done %v after; repeated finishing calls: %d",
		n, upAt.Sub(downAt).Round(100*time.Millisecond), before, resumed.Round(100*time.Millisecond),
		time.Since(upAt).Round(100*time.Millisecond), len(oc.repeated))
	if len(oc.repeated) > 0 {
		t.Errorf("%d assets got a second finishing call across a Redis restart (no worker died): %v", len(oc.repeated), oc.repeated[:min(10, len(oc.repeated))])
	}
}

// TestRedisRestartEmbedded is testRedisRestart on a miniredis closed and
// restarted on its address.
func TestRedisRestartEmbedded(t *testing.T) {
	t.Parallel()
	testRedisRestart(t, newMiniControl(t), 3*time.Second)
}

// testRedisOutage: Redis is down for a while. The workers neither exit nor
// spin (CPU time from /proc stays below 25% of a core, for workers with work
// in hand and for an idle one), /readyz answers 503 during the outage and
// 200 after, and the campaign completes.
//
// doneWithin bounds the time from Redis coming back to the end of the
// campaign, whose remaining work takes about 2s. An outage shorter than
// asynq's 30s task lease must not cost more than a few seconds after it; a
// longer one expires the leases of the batches in hand, which asynq's
// recoverer hands out again within a minute or two.
func testRedisOutage(t *testing.T, rc redisControl, outage, doneWithin time.Duration) {
	const n = 4000
	e := newE2EAt(t, rc.URL(), "lr", pdcpfake.Options{Assets: n, Seed: 31, Latency: 20 * time.Millisecond})
	type w struct {
		name, addr string
		p          *proc
	}
	var ws []w
	for i := 0; i < 2; i++ {
		addr := freeAddr(t)
		ws = append(ws, w{fmt.Sprintf("worker %d", i+1), addr, e.start("worker", "--metrics-addr", addr, "--concurrency", "16", "--shutdown-timeout", "5s")})
	}
	// An idle worker: a namespace with no campaign.
	idleAddr := freeAddr(t)
	ws = append(ws, w{"idle worker", idleAddr, e.start("worker", "--metrics-addr", idleAddr, "--namespace", "idle", "--concurrency", "16")})
	for _, x := range ws {
		if _, ok := waitFor(30*time.Second, func() bool { return readyz(x.addr) == 200 }); !ok {
			t.Fatalf("%s not ready before the outage: /readyz %d", x.name, readyz(x.addr))
		}
	}
	e.submit("--campaign", "outage", "--reset-unlisted", "--csv", e.writeIDs("ids.csv", 1, n), "--yes")
	e.waitFinished("outage", n/5, time.Minute)
	before := e.finished("outage")
	rc.Down(t)
	down := time.Now()
	for _, x := range ws {
		d, ok := waitFor(15*time.Second, func() bool { return readyz(x.addr) == 503 })
		if !ok {
			t.Errorf("%s: /readyz %d %v into the outage, want 503", x.name, readyz(x.addr), d)
		} else {
			t.Logf("%s: /readyz 503 %v after Redis went down", x.name, (time.Since(down)).Round(100*time.Millisecond))
		}
	}
	// Measure from 2s into the outage (the transition is done) to its end.
	time.Sleep(max(0, 2*time.Second-time.Since(down)))
	cpu0 := make([]time.Duration, len(ws))
	for i, x := range ws {
		cpu0[i] = procCPU(t, x.p.cmd.Process.Pid)
	}
	m0 := time.Now()
	time.Sleep(outage - time.Since(down))
	window := time.Since(m0)
	for i, x := range ws {
		select {
		case <-x.p.done:
			t.Fatalf("%s exited during the Redis outage:\n%s", x.name, tail(x.p.output(), 2000))
		default:
		}
		used := procCPU(t, x.p.cmd.Process.Pid) - cpu0[i]
		share := float64(used) / float64(window)
		t.Logf("%s: %v CPU in %v of outage = %.1f%% of a core; /readyz %d", x.name, used, window.Round(100*time.Millisecond), 100*share, readyz(x.addr))
		// A busy loop takes a whole core. asynq's own loops (dequeue,
		// forwarder, heartbeat, janitor) retrying their dials take 6-12%
		// of a core here, with or without work in hand.
		if share > 0.25 {
			t.Errorf("%s used %.1f%% of a core while Redis was down (want < 25%%: no busy loop)", x.name, 100*share)
		}
		if code := readyz(x.addr); code != 503 {
			t.Errorf("%s: /readyz %d at the end of the outage, want 503", x.name, code)
		}
	}
	rc.Up(t)
	up := time.Now()
	for _, x := range ws {
		d, ok := waitFor(30*time.Second, func() bool { return readyz(x.addr) == 200 })
		if !ok {
			t.Errorf("%s: /readyz %d 30s after Redis came back, want 200", x.name, readyz(x.addr))
		} else {
			t.Logf("%s: /readyz 200 %v after Redis came back", x.name, d.Round(100*time.Millisecond))
		}
	}
	// Progress after the outage, one sample a second.
	var timeline []string
	last, atBound := int64(-1), int64(0)
	for start := time.Now(); time.Since(start) < 3*time.Minute; time.Sleep(time.Second) {
		s := e.status("outage")
		fin := s.Total - s.Counts["pending"]
		if time.Since(up) <= doneWithin {
			atBound = fin
		}
		if fin != last {
			timeline = append(timeline, fmt.Sprintf("+%v:%d", time.Since(up).Round(time.Second), fin))
			last = fin
		}
		if s.State == "done" {
			break
		}
	}
	e.waitState("outage", time.Second, "done")
	// A dequeue in flight when Redis went down moves its batch to asynq's
	// active set without the worker ever receiving it: that batch waits
	// for its lease (30 s) and asynq's recoverer (each minute). Each busy
	// worker has at most one dequeue in flight, so all but two batches
	// finish within doneWithin, and those two within lease + recoverer.
	const lostDequeues = 2
	if took, late := time.Since(up), n-atBound; late > lostDequeues*int64(jobs.DefaultBatchSize) ||
		(late > 0 && took > max(doneWithin, leaseRecovery)) {
		t.Errorf("campaign done %v after Redis came back with %d assets left at +%v, want within %v, or at most %d batches "+
			"(dequeues lost at the outage) within %v; progress: %s", took.Round(100*time.Millisecond), late, doneWithin,
			doneWithin, lostDequeues, leaseRecovery, strings.Join(timeline, " "))
	} else if took > doneWithin && late == 0 {
		t.Errorf("campaign done %v after Redis came back, want within %v (the remaining work takes ~2s); progress: %s",
			took.Round(100*time.Millisecond), doneWithin, strings.Join(timeline, " "))
	}
	oc := checkOutcomes(e, "outage", n, nil)
	t.Logf("%d assets, %d finished before an outage of %v; done %v after Redis came back; repeated finishing calls %d; finished after Redis came back: %s",
		n, before, up.Sub(down).Round(100*time.Millisecond), time.Since(up).Round(100*time.Millisecond), len(oc.repeated), strings.Join(timeline, " "))
	// No worker died: an outcome is kept in memory until Redis takes it.
	if len(oc.repeated) > 0 {
		t.Errorf("%d assets got a second finishing call across a Redis outage (no worker died): %v", len(oc.repeated), oc.repeated[:min(10, len(oc.repeated))])
	}
}

// leaseRecovery bounds the wait of a batch whose dequeue was lost as Redis
// went down: asynq's 30 s lease, its recoverer's one-minute tick, the
// batch's own work, and room for a loaded host.
const leaseRecovery = 150 * time.Second

// TestRedisOutageEmbedded is testRedisOutage on a miniredis, down for 15s.
func TestRedisOutageEmbedded(t *testing.T) {
	// Serial: beside the parallel campaigns its 2 s of remaining work
	// took longer than doneWithin.
	testRedisOutage(t, newMiniControl(t), 15*time.Second, 20*time.Second)
}

// TestAPIChaos: 10% of assets fail twice with 500, 5% of calls are reset,
// 2% truncated, 0.2% take 5s, 429 bursts without and then with
// Retry-After, plus scripted assets failing more often than
// --max-attempts. Every asset ends reset/not_found/invalid, except exactly
// those the fake failed max-attempts times (429s do not count: they have
// their own, larger budget); retries happen only after retryable answers;
// no asset is called after a finishing answer.
func TestAPIChaos(t *testing.T) {
	t.Parallel()
	const n, maxAttempts = 5000, 5
	script := map[int64][]pdcpfake.Reply{}
	scriptedFail := map[int64]bool{}
	for id := int64(1); id <= 12; id++ {
		status := 500
		if id%2 == 0 {
			status = 503
		}
		for i := 0; i < maxAttempts+2; i++ {
			script[id] = append(script[id], pdcpfake.Reply{Status: status})
		}
		scriptedFail[id] = true
	}
	// Recovers on the last allowed attempt: four failures and a 429,
	// which does not count against --max-attempts.
	script[13] = []pdcpfake.Reply{{Reset: true}, {Status: 502, Truncate: true}, {Status: 429}, {Status: 500}, {Status: 503}, {Status: 200}}
	e := newE2E(t, pdcpfake.Options{Assets: n - 100, Seed: 41, InvalidFraction: 0.01,
		FailFraction: 0.1, FailTimes: 2, ResetFraction: 0.05, TruncateFraction: 0.02,
		SpikeFraction: 0.002, SpikeLatency: 5 * time.Second, Latency: 20 * time.Millisecond, LatencyJitter: 20 * time.Millisecond,
		ThrottleFraction: 0.05, Script: script})
	for i := 0; i < 2; i++ {
		e.startWorker("--concurrency", "32", "--timeout", "8s")
	}
	e.submit("--campaign", "chaos", "--reset-unlisted", "--csv", e.writeIDs("ids.csv", 1, n), "--yes", "--max-attempts", strconv.Itoa(maxAttempts),
		"--backoff-base", "20ms", "--backoff-cap", "300ms", "--max-failure-ratio", "1")
	f := e.fake.Fake()
	// Switch to Retry-After while most of the campaign is still ahead: the
	// fake's own counter, not a status poll through the binary (slow under
	// -race), says when a quarter of the calls have been made.
	if _, ok := waitFor(2*time.Minute, func() bool { return f.Stats().LabelCalls >= n/4 }); !ok {
		t.Fatalf("fewer than %d calls after 2 minutes", n/4)
	}
	t429a := f.Stats().Throttled
	f.Update(func(o *pdcpfake.Options) { o.RetryAfter = "1" })
	raStart := time.Now()
	time.Sleep(4 * time.Second)
	t429b := f.Stats().Throttled - t429a
	f.Update(func(o *pdcpfake.Options) { o.ThrottleFraction, o.RetryAfter = 0, "" })
	raEnd := time.Now()
	e.waitState("chaos", 3*time.Minute, "done")

	oc := checkOutcomes(e, "chaos", n, func(int64) bool { return true })
	failed, randomFailed := 0, 0
	callsIn := func(from, to time.Time) int {
		k := 0
		for _, c := range f.Log() {
			if !c.Time.Before(from) && c.Time.Before(to) {
				k++
			}
		}
		return k
	}
	for aid := int64(1); aid <= n; aid++ {
		calls, row := oc.calls[aid], oc.rows[aid]
		counted := 0 // calls that count against --max-attempts
		for _, c := range calls {
			if c.Status != 429 {
				counted++
			}
		}
		if att, _ := strconv.Atoi(row[3]); att != len(calls) {
			t.Errorf("asset %d: report says %d attempts, the fake saw %d calls", aid, att, len(calls))
		}
		for i, c := range calls {
			if finishing(c.Status) && i != len(calls)-1 {
				t.Errorf("asset %d called again after a finishing answer %d: %v", aid, c.Status, calls)
			}
			if !finishing(c.Status) && !retryableStatus(c.Status) {
				t.Errorf("asset %d: unexpected answer %d in %v", aid, c.Status, calls)
			}
		}
		if row[1] == "failed" {
			failed++
			if !scriptedFail[aid] {
				randomFailed++
			}
			if counted != maxAttempts {
				t.Errorf("asset %d failed after %d calls besides 429s, want exactly --max-attempts %d: %v", aid, counted, maxAttempts, calls)
			}
		} else if scriptedFail[aid] {
			t.Errorf("asset %d was failed %d times by the fake (more than --max-attempts) but ended %q", aid, maxAttempts+2, row[1])
		}
		if counted > maxAttempts {
			t.Errorf("asset %d got %d calls besides 429s, more than --max-attempts %d", aid, counted, maxAttempts)
		}
	}
	if oc.rows[13][1] != "reset" || len(oc.calls[13]) != 6 {
		t.Errorf("asset 13 (reset, truncated 502, 429, 500, 503, then ok): %v after %v", oc.rows[13], oc.calls[13])
	}
	st := f.Stats()
	t.Logf("%d assets, %d calls: by status %v, resets %d, truncated %d, throttled %d (%d with Retry-After: 1 in %v, %d calls then); "+
		"failed %d (%d scripted beyond --max-attempts, %d by random faults)",
		n, st.LabelCalls, st.ByStatus, st.Resets, st.Truncated, st.Throttled, t429b, raEnd.Sub(raStart).Round(100*time.Millisecond),
		callsIn(raStart, raEnd), failed, len(scriptedFail), randomFailed)
	if st.Resets == 0 || st.Truncated == 0 || t429a == 0 || t429b == 0 {
		t.Errorf("the chaos did not happen: resets %d, truncated %d, 429s %d + %d with Retry-After", st.Resets, st.Truncated, t429a, t429b)
	}
}

// TestGracefulShutdown: SIGTERM a worker while its batches are in flight.
// It exits with code 0 within --shutdown-timeout (plus a small margin);
// another worker finishes the campaign; every asset has exactly one outcome
// and no asset got a second finishing call.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		latency   time.Duration
		spike     float64
		timeout   time.Duration
		maxRepeat int
	}{
		// Calls end well within the timeout: nothing may repeat.
		{"calls finish in time", 200 * time.Millisecond, 0, 5 * time.Second, 0},
		// Some calls (6 s) outlast the timeout: they are abandoned (the
		// fake may still have answered them), so at most the victim's
		// concurrency can repeat. The timeout leaves the outcome writes
		// room on a loaded host (at 2 s, 1 run in 20 missed it at load 46).
		{"calls outlast the timeout", 200 * time.Millisecond, 0.05, 3 * time.Second, 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n, conc = 2000, 16
			e := newE2E(t, pdcpfake.Options{Assets: n, Seed: 51, Latency: tc.latency, LatencyJitter: tc.latency / 2,
				SpikeFraction: tc.spike, SpikeLatency: 6 * time.Second})
			args := []string{"worker", "--metrics-addr", "127.0.0.1:0", "--concurrency", strconv.Itoa(conc),
				"--shutdown-timeout", tc.timeout.String(), "--timeout", "30s"}
			victim := e.start(args...)
			e.submit("--campaign", "term", "--reset-unlisted", "--csv", e.writeIDs("ids.csv", 1, n), "--yes")
			e.waitFinished("term", n/10, time.Minute)
			if f := e.fake.Fake().Stats().InFlight; f == 0 {
				t.Fatalf("no call in flight at the SIGTERM")
			}
			sent := time.Now()
			victim.cmd.Process.Signal(syscall.SIGTERM)
			var took time.Duration
			select {
			case <-victim.done:
				took = time.Since(sent)
			case <-time.After(tc.timeout + 30*time.Second):
				t.Fatalf("worker still running %v after SIGTERM (--shutdown-timeout %v)", time.Since(sent), tc.timeout)
			}
			code := victim.cmd.ProcessState.ExitCode()
			margin := 2 * time.Second
			t.Logf("worker exited %v after SIGTERM with code %d (--shutdown-timeout %v)", took.Round(10*time.Millisecond), code, tc.timeout)
			if took > tc.timeout+margin {
				t.Errorf("worker took %v to exit after SIGTERM, more than --shutdown-timeout %v + %v", took, tc.timeout, margin)
			}
			if code != 0 {
				t.Errorf("worker exit code %d after SIGTERM, want 0:\n%s", code, tail(victim.output(), 2000))
			}
			// The successor works at normal speed, and fast: the slow calls
			// only had to be in flight at the SIGTERM.
			e.fake.Fake().Update(func(o *pdcpfake.Options) {
				o.SpikeFraction, o.Latency, o.LatencyJitter = 0, 5*time.Millisecond, 5*time.Millisecond
			})
			e.start(args...)
			e.waitState("term", 3*time.Minute, "done")
			oc := checkOutcomes(e, "term", n, nil)
			t.Logf("%d assets; repeated finishing calls %d (allowed %d)", n, len(oc.repeated), tc.maxRepeat)
			if len(oc.repeated) > tc.maxRepeat {
				t.Errorf("%d assets got a second finishing call after a graceful stop (allowed %d): %v",
					len(oc.repeated), tc.maxRepeat, oc.repeated[:min(10, len(oc.repeated))])
			}
		})
	}
}

// TestHostileInput submits hostile files through the CLI: each bad row is
// reported as `file:line: "value": reason` and the valid rows are kept;
// empty and header-only inputs exit 2 naming the file.
func TestHostileInput(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	write := func(name string, data []byte) string {
		p := filepath.Join(e.dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	long := strings.Repeat("7", 1<<20+10)
	cols := make([]string, 100)
	for i := range cols {
		cols[i] = "c" + strconv.Itoa(i)
	}
	cols[0] = "43"
	lines := []string{
		"asset_id,name",           // 1 header
		"0,zero",                  // 2
		"-1,neg",                  // 3
		"9223372036854775808,big", // 4
		"1e3,exp",                 // 5
		"0x10,hex",                // 6
		" 42 ,spaces",             // 7 valid 42
		"42abc,suffix",            // 8
		"\u0664\u0662,arabic",     // 9 Arabic-Indic digits
		"\uff19,fullwidth",        // 10
		long + ",long",            // 11
		"4\x005,nul",              // 12
		strings.Join(cols, ","),   // 13 valid 43, 100 columns
		"44;45,semicolons",        // 14
		"46\t47,tab",              // 15
		"9223372036854775807,max", // 16 valid
		"48,ok",                   // 17 valid
		"\"49\",quoted",           // 18 valid
	}
	hostile := write("hostile.csv", []byte(strings.Join(lines, "\n")+"\n"))
	wantBad := map[int]string{
		2: `"0": must be > 0`, 3: `"-1": must be > 0`, 4: `"9223372036854775808": out of int64 range`,
		5: `"1e3": not a decimal integer`, 6: `"0x10": not a decimal integer`, 8: `"42abc": not a decimal integer`,
		9: "\"\u0664\u0662\": not a decimal integer", 10: "\"\uff19\": not a decimal integer",
		11: `"7777777777`, 12: `"4\x005,nul": contains NUL byte`, 14: `"44;45": not a decimal integer`, 15: `"46\t47": not a decimal integer`,
	}
	wantValid := []int64{42, 43, 9223372036854775807, 48, 49}

	out, errs, code := e.run("submit", "--campaign", "hostile", "--csv", hostile, "--yes")
	if code != 0 {
		t.Fatalf("submit of a file with valid and bad rows: exit %d, want 0\n%s\n%s", code, out, tail(errs, 3000))
	}
	t.Logf("bad rows reported:\n%s", errs)
	if len(errs) > 64<<10 {
		t.Errorf("stderr is %d bytes: the 1 MB line was echoed whole", len(errs))
	}
	for line, want := range wantBad {
		prefix := fmt.Sprintf("%s:%d: ", hostile, line)
		found := ""
		for _, l := range strings.Split(errs, "\n") {
			if i := strings.Index(l, prefix); i >= 0 {
				found = l[i+len(prefix):]
			}
		}
		switch {
		case found == "":
			t.Errorf("line %d: no bad-row message %q...", line, prefix)
		case !strings.HasPrefix(found, want):
			t.Errorf("line %d: bad row %q, want %q", line, found, want)
		case line == 11 && !strings.HasSuffix(found, `…": line longer than 1048576 bytes`):
			t.Errorf("line 11: bad row %q, want the value cut to 64 bytes and the reason \"line longer than 1048576 bytes\"", found)
		case !strings.HasPrefix(found, `"`) || !strings.Contains(found, `": `):
			t.Errorf("line %d: bad row %q is not `\"value\": reason`", line, found)
		}
	}
	for _, l := range []int{1, 7, 13, 16, 17, 18} {
		if strings.Contains(errs, fmt.Sprintf("%s:%d: ", hostile, l)) {
			t.Errorf("line %d is valid but reported bad:\n%s", l, errs)
		}
	}
	s := e.status("hostile")
	if s.Total != int64(len(wantValid)) {
		t.Errorf("campaign total %d, want the %d valid rows %v", s.Total, len(wantValid), wantValid)
	}
	if !strings.Contains(out, fmt.Sprintf("%d bad rows", len(wantBad))) {
		t.Errorf("submit output does not count %d bad rows: %s", len(wantBad), out)
	}
	rep, _, _ := e.run("report", "hostile")
	for _, id := range wantValid {
		if !strings.Contains(rep, "\n"+strconv.FormatInt(id, 10)+",") {
			t.Errorf("valid ID %d missing from the campaign:\n%s", id, rep)
		}
	}

	// gzip is accepted.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("id\n1\n2\nx\n3\n"))
	zw.Close()
	gzPath := write("ids.csv.gz", gz.Bytes())
	out, errs, code = e.run("submit", "--campaign", "gz", "--csv", gzPath, "--yes")
	if code != 0 || e.status("gz").Total != 3 || !strings.Contains(errs, gzPath+`:4: "x": not a decimal integer`) {
		t.Errorf("gzip input: exit %d, total %d\n%s\n%s", code, e.status("gz").Total, out, errs)
	}

	// Empty, header-only, only comments, only bad rows: exit 2 naming the file.
	for name, data := range map[string]string{
		"empty.csv": "", "header.csv": "asset_id,name\n", "header-crlf.csv": "\ufeffasset_id\r\n\r\n",
		"comments.csv": "# nothing\n\n", "allbad.csv": "id\n0\nabc\n",
	} {
		p := write(name, []byte(data))
		for _, cmd := range []string{"submit", "run"} {
			out, errs, code := e.run(cmd, "--csv", p, "--yes")
			if code != 2 {
				t.Errorf("%s of %s: exit %d, want 2\n%s\n%s", cmd, name, code, out, errs)
			}
			if !strings.Contains(errs, p) {
				t.Errorf("%s of %s: the message does not name the file: %q", cmd, name, errs)
			}
		}
	}
	// A missing file is a usage error naming it too.
	missing := filepath.Join(e.dir, "missing.csv")
	if _, errs, code := e.run("submit", "--csv", missing, "--yes"); code != 2 || !strings.Contains(errs, missing) {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
	// A damaged file (a gzip cut short) is an input error too: exit 2,
	// naming the file and how far it got, and nothing is submitted.
	var gzb bytes.Buffer
	zw = gzip.NewWriter(&gzb)
	for i := 1; i <= 100000; i++ {
		fmt.Fprintf(zw, "%d\n", i)
	}
	zw.Close()
	cut := write("cut.csv.gz", gzb.Bytes()[:gzb.Len()/2])
	out, errs, code = e.run("submit", "--campaign", "cut", "--csv", cut, "--yes")
	if code != 2 || !strings.Contains(errs, cut+": after line ") || !strings.Contains(errs, "truncated gzip data") {
		t.Errorf("truncated gzip: exit %d, want 2 naming the file and the last line read\n%s\n%s", code, out, errs)
	}
	if _, _, code := e.run("status", "cut"); code == 0 {
		t.Error("a campaign was created from a truncated file")
	}
}

// TestShutdownDuringPause: SIGTERM while every call waits out a long
// Retry-After. Nothing is in flight, so the worker hands its batches back
// and exits at once instead of holding the shutdown for its whole timeout,
// and every handed-back asset is written before it exits.
func TestShutdownDuringPause(t *testing.T) {
	// Serial: beside the parallel campaigns the hand-back took up to 6.7 s,
	// past the 5 s bound, and the test takes 1.5 s alone.
	const n = 500
	e := newE2E(t, pdcpfake.Options{Assets: n, Seed: 61, ThrottleFraction: 1, RetryAfter: "120"})
	victim := e.start("worker", "--metrics-addr", "127.0.0.1:0", "--concurrency", "8", "--shutdown-timeout", "20s")
	e.submit("--campaign", "pause-term", "--reset-unlisted", "--csv", e.writeIDs("ids.csv", 1, n), "--yes")
	if _, ok := waitFor(30*time.Second, func() bool { return e.fake.Fake().Stats().Throttled > 0 }); !ok {
		t.Fatal("no 429 within 30s")
	}
	time.Sleep(time.Second) // the callers are now waiting on the shared pause
	sent := time.Now()
	victim.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-victim.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("worker still running %v after SIGTERM", time.Since(sent))
	}
	took := time.Since(sent)
	t.Logf("worker exited %v after SIGTERM during a 120s Retry-After pause (--shutdown-timeout 20s); %d calls, %d throttled",
		took.Round(10*time.Millisecond), e.fake.Fake().Stats().LabelCalls, e.fake.Fake().Stats().Throttled)
	if took > 5*time.Second {
		t.Errorf("worker took %v to exit with no call in flight, want a few seconds, not --shutdown-timeout", took)
	}
	if code := victim.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if out := victim.output(); strings.Contains(out, "after the worker stopped") {
		t.Errorf("records were dropped at shutdown:\n%s", tail(out, 2000))
	}
	if s := e.status("pause-term"); s.Counts["pending"] != n {
		t.Errorf("counts %v, want all %d pending (throttled, never finished)", s.Counts, n)
	}
}
