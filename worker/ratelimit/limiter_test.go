package ratelimit

import (
	"context"
	"errors"
	"math"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// grants records when Wait returned nil, relative to start.
type grants struct {
	start time.Time
	mu    sync.Mutex
	at    [][]time.Duration // per limiter
}

// hammer runs perLimiter goroutines on each limiter, calling Wait(team)
// until ctx ends; after, if not nil, runs after each grant (e.g. a simulated
// request).
func hammer(ctx context.Context, ls []*Limiter, perLimiter int, team string, after func(i int)) *grants {
	g := &grants{start: time.Now(), at: make([][]time.Duration, len(ls))}
	var wg sync.WaitGroup
	for i, l := range ls {
		for range perLimiter {
			wg.Go(func() {
				for {
					if err := l.Wait(ctx, team); err != nil {
						return
					}
					d := time.Since(g.start)
					if ctx.Err() != nil {
						return
					}
					g.mu.Lock()
					g.at[i] = append(g.at[i], d)
					g.mu.Unlock()
					if after != nil {
						after(i)
					}
				}
			})
		}
	}
	wg.Wait()
	return g
}

// perWindow counts all grants in consecutive windows of length w over
// [0, total).
func (g *grants) perWindow(w, total time.Duration) []int {
	out := make([]int, int(total/w))
	for _, at := range g.at {
		for _, d := range at {
			if i := int(d / w); i < len(out) {
				out[i]++
			}
		}
	}
	return out
}

func (g *grants) all() []time.Duration {
	var out []time.Duration
	for _, at := range g.at {
		out = append(out, at...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func TestFidelityAcrossProcesses(t *testing.T) {
	const (
		rate, burst = 400, 40
		procs, gor  = 3, 32
		duration    = 5 * time.Second
	)
	tr := setup(t)
	var ls []*Limiter
	var hooks []*countHook
	for range procs {
		l, h := tr.limiter(t, Config{Rate: rate, Burst: burst})
		ls, hooks = append(ls, l), append(hooks, h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	g := hammer(ctx, ls, gor, "", nil)

	wins := g.perWindow(time.Second, duration)
	sum, max := 0, 0
	for _, n := range wins {
		sum += n
		if n > max {
			max = n
		}
	}
	mean := float64(sum) / float64(len(wins))
	var cmds int64
	for _, h := range hooks {
		cmds += h.cmds.Load()
	}
	perProc := make([]int, procs)
	for i := range procs {
		perProc[i] = len(g.at[i])
	}
	t.Logf("grants per 1s window %v, mean %.1f/s, per process %v, %.2f Redis commands per grant",
		wins, mean, perProc, float64(cmds)/float64(sum))
	if max > rate+burst {
		t.Errorf("max grants in a 1s window = %d, want <= Rate+Burst = %d", max, rate+burst)
	}
	if mean < 0.97*rate {
		t.Errorf("mean grants per second = %.1f, want >= %.1f (0.97*Rate)", mean, 0.97*rate)
	}
	for i, n := range perProc {
		if n < sum/procs/3 {
			t.Errorf("process %d got %d of %d grants: starved", i, n, sum)
		}
	}
}

func TestPauseUntilBlocksOtherProcesses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		grace time.Duration // propagation allowed after PauseUntil returns
	}{
		{name: "limited", cfg: Config{Rate: 500}, grace: 5 * time.Millisecond},
		{name: "unlimited", cfg: Config{PollInterval: 20 * time.Millisecond}, grace: 40 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := setup(t)
			pauser, _ := tr.limiter(t, tc.cfg)
			a, _ := tr.limiter(t, tc.cfg)
			b, _ := tr.limiter(t, tc.cfg)
			var pauseSet, pauseEnd time.Duration
			var g *grants
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				g = hammer(ctx, []*Limiter{a, b}, 4, "", func(int) {
					time.Sleep(time.Millisecond) // keep the unlimited mode from flooding memory
				})
			}()
			time.Sleep(300 * time.Millisecond)
			until := time.Now().Add(600 * time.Millisecond)
			if err := pauser.PauseUntil(ctx, until); err != nil {
				t.Fatalf("PauseUntil: %v", err)
			}
			setAt := time.Now() // the pause is in Redis from here on
			// An earlier time must not shorten the pause, and repeating is harmless.
			if err := pauser.PauseUntil(ctx, time.Now().Add(100*time.Millisecond)); err != nil {
				t.Fatalf("PauseUntil (earlier): %v", err)
			}
			if err := pauser.PauseUntil(ctx, until); err != nil {
				t.Fatalf("PauseUntil (again): %v", err)
			}
			time.Sleep(time.Until(until) + 400*time.Millisecond)
			cancel()
			<-done
			pauseSet = setAt.Sub(g.start) + tc.grace
			pauseEnd = until.Sub(g.start)

			var during, before, after int
			for _, d := range g.all() {
				switch {
				case d < pauseSet-tc.grace:
					before++
				case d >= pauseSet && d < pauseEnd:
					during++
					t.Logf("grant %v after PauseUntil returned", d-pauseSet+tc.grace)
				case d >= pauseEnd:
					after++
				}
			}
			t.Logf("grants before %d, during %d, after %d", before, during, after)
			if during != 0 {
				t.Errorf("got %d grants during the pause, want 0", during)
			}
			if before == 0 || after == 0 {
				t.Errorf("got %d grants before and %d after the pause, want some of both", before, after)
			}
			if got := testutil.ToFloat64(pauser.m.pauses); got != 3 {
				t.Errorf("pauses_total = %v, want 3", got)
			}
		})
	}
}

// server simulates PDCP throttling: a token bucket of limit/s with a small
// burst; limit 0 accepts everything.
type server struct {
	mu        sync.Mutex
	limit     float64
	tokens    float64
	last      time.Time
	ok, tooMy int
}

func (s *server) do() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.limit == 0 {
		s.ok++
		return true
	}
	s.tokens = math.Min(s.limit/10, s.tokens+now.Sub(s.last).Seconds()*s.limit)
	s.last = now
	if s.tokens >= 1 {
		s.tokens--
		s.ok++
		return true
	}
	s.tooMy++
	return false
}

func (s *server) counts() (ok, throttled int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, throttled = s.ok, s.tooMy
	s.ok, s.tooMy = 0, 0
	return ok, throttled
}

func (s *server) setLimit(l float64) {
	s.mu.Lock()
	s.limit = l
	s.mu.Unlock()
}

func TestAIMDConvergesToServerLimit(t *testing.T) {
	const (
		rate, serverLimit = 400, 200
		throttledPhase    = 12 * time.Second
		measureFrom       = 6 * time.Second
		recoverPhase      = 3 * time.Second
	)
	tr := setup(t)
	cfg := Config{Rate: rate, AIMD: true}
	var ls []*Limiter
	for range 3 {
		l, _ := tr.limiter(t, cfg)
		ls = append(ls, l)
	}
	srv := &server{limit: serverLimit, last: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hammer(ctx, ls, 32, "", func(i int) {
			if !srv.do() {
				ls[i].Throttled(ctx)
			}
		})
	}()

	// Sample once per second: accepted and throttled requests, effective rate.
	var okSum, thrSum int
	var rates []float64
	for s := time.Second; s <= throttledPhase; s += time.Second {
		time.Sleep(time.Second)
		ok, thr := srv.counts()
		r := ls[0].EffectiveRate()
		rates = append(rates, r)
		t.Logf("t=%2.0fs effective %.1f/s, accepted %d, throttled %d", s.Seconds(), r, ok, thr)
		if s > measureFrom {
			okSum, thrSum = okSum+ok, thrSum+thr
		}
	}
	secs := (throttledPhase - measureFrom).Seconds()
	var rateSum float64
	for _, r := range rates[int(measureFrom/time.Second):] {
		rateSum += r
	}
	meanRate := rateSum / float64(len(rates)-int(measureFrom/time.Second))
	sent := float64(okSum + thrSum)
	t.Logf("steady state: sent %.1f/s, accepted %.1f/s, 429 share %.1f%%, mean effective rate %.1f/s",
		sent/secs, float64(okSum)/secs, 100*float64(thrSum)/sent, meanRate)
	if meanRate < 0.75*serverLimit || meanRate > 1.15*serverLimit {
		t.Errorf("mean effective rate %.1f/s, want near the server limit %d/s", meanRate, serverLimit)
	}
	if share := float64(thrSum) / sent; share > 0.10 {
		t.Errorf("429 share %.1f%%, want <= 10%%", 100*share)
	}

	// Throttling stops: the rate climbs back by about IncreasePerSecond.
	before := ls[0].EffectiveRate()
	srv.setLimit(0)
	time.Sleep(recoverPhase)
	after := ls[0].EffectiveRate()
	cancel()
	<-done
	inc := rate * 0.02 * recoverPhase.Seconds()
	t.Logf("recovery: %.1f/s -> %.1f/s in %v", before, after, recoverPhase)
	if after < math.Min(rate, before+0.6*inc) {
		t.Errorf("effective rate went from %.1f to %.1f in %v, want an increase of about %.0f", before, after, recoverPhase, inc)
	}
}

func TestRedisDownFailsSafe(t *testing.T) {
	closedPort := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{name: "closed port", addr: closedPort},
		{name: "miniredis closed", addr: func(t *testing.T) string {
			mr := miniredis.RunT(t)
			addr := mr.Addr()
			mr.Close()
			return addr
		}},
		{name: "error reply", addr: func(t *testing.T) string {
			mr := miniredis.RunT(t)
			mr.SetError("LOADING Redis is loading the dataset in memory")
			return mr.Addr()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const wait = 2 * time.Second
			c, h := newCountingClient(t, &redis.Options{Addr: tc.addr(t)})
			l, err := New(c, Config{Key: "down", Rate: 100}, prometheus.NewRegistry())
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer l.Close()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			errs := make(chan error, 8)
			for range cap(errs) {
				go func() { errs <- l.Wait(ctx, "") }()
			}
			for range cap(errs) {
				if err := <-errs; !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Wait = %v, want context.DeadlineExceeded", err)
				}
			}
			cmds, dials := h.cmds.Load(), h.dials.Load()
			errCount := testutil.ToFloat64(l.m.errors)
			t.Logf("in %v: %d commands, %d dials, errors_total %v", wait, cmds, dials, errCount)
			if max := int64(20 * wait.Seconds()); cmds > max {
				t.Errorf("sent %d commands in %v, want <= %d (no spinning)", cmds, wait, max)
			}
			if errCount == 0 {
				t.Errorf("errors_total = 0, want > 0")
			}
		})
	}
}

func TestRedisRecovers(t *testing.T) {
	// Start against a failing miniredis, then let it answer: waiters get
	// their tokens once Redis is back.
	mr := miniredis.RunT(t)
	mr.SetError("LOADING Redis is loading the dataset in memory")
	c, _ := newCountingClient(t, &redis.Options{Addr: mr.Addr()})
	l, err := New(c, Config{Key: "recover", Rate: 100}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- l.Wait(ctx, "") }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("Wait returned %v while Redis failed, want it to block", err)
	default:
	}
	mr.SetError("")
	if err := <-errc; err != nil {
		t.Fatalf("Wait after recovery = %v, want nil", err)
	}
}

// gcraGrants is the package doc's budget: the grants a limiter of rate and
// burst hands out within d of Redis time to callers that always wait,
// floor((d + tau)/T) with T = 1/rate and tau = burst*T - 30ms (at least T).
func gcraGrants(rate float64, burst int, d time.Duration) int {
	T := 1e6 / rate
	tau := max(float64(burst)*T-float64(jitterReserve.Microseconds()), T)
	return int(math.Floor((float64(d.Microseconds()) + tau) / T))
}

// teamCases are the per-team limits of TestTeamLimit and
// TestTeamLimitOnServerClock: team "a" waits on two limiters (processes),
// team "b" on one of them.
var teamCases = []struct {
	name string
	cfg  Config
	// budget is what the binding limit grants in d of Redis time: to each
	// team, or to both together when shared.
	budget func(d time.Duration) int
	shared bool
}{
	// the team limit (100/s, burst 5) binds, each team has its own
	{name: "team below account", cfg: Config{Rate: 1000, TeamRate: 100, TeamBurst: 5},
		budget: func(d time.Duration) int { return gcraGrants(100, 5, d) }},
	// the account limit (100/s, burst 10) binds, both teams share it
	{name: "account below team", cfg: Config{Rate: 100, Burst: 10, TeamRate: 1000},
		budget: func(d time.Duration) int { return gcraGrants(100, 10, d) }, shared: true},
	// no account limit, only the team's
	{name: "team only", cfg: Config{TeamRate: 100, TeamBurst: 5},
		budget: func(d time.Duration) int { return gcraGrants(100, 5, d) }},
}

// TestTeamLimit: on a Redis clock that the test moves (the limiter has no
// other), each team gets exactly its budget, no more (the limit holds) and
// no less (the team limit is not stricter than configured, and one team's
// grants do not use the other's budget), however busy the host is.
//
// Counting grants in wall-clock time cannot give a lower bound: on a busy
// host a dispenser that is not scheduled in time loses the budget of the
// moments it missed (GCRA keeps only tau), which is no defect, as the
// limit promises at most, never at least. Here the clock stands still
// until every due grant has arrived.
func TestTeamLimit(t *testing.T) {
	const (
		// step is at most tau - T of every limit above, so callers that
		// took all that was due lose nothing when the clock moves on.
		step  = 10 * time.Millisecond
		steps = 50 // 0.5 s of Redis time
	)
	for _, tc := range teamCases {
		t.Run(tc.name, func(t *testing.T) {
			tr, clock := setupClock(t)
			l1, _ := tr.limiter(t, tc.cfg)
			l2, _ := tr.limiter(t, tc.cfg)
			ctx, cancel := context.WithCancel(context.Background())
			var na, nb atomic.Int64
			var wg sync.WaitGroup
			wg.Go(func() { hammer(ctx, []*Limiter{l1, l2}, 8, "a", func(int) { na.Add(1) }) })
			// another team in parallel
			wg.Go(func() { hammer(ctx, []*Limiter{l2}, 8, "b", func(int) { nb.Add(1) }) })
			defer wg.Wait()
			defer cancel()

			// got reports the grants of each budget: both teams together
			// when they share one.
			got := func() []int64 {
				if tc.shared {
					return []int64{na.Load() + nb.Load()}
				}
				return []int64{na.Load(), nb.Load()}
			}
			for i := range steps + 1 {
				d := time.Duration(i) * step
				clock(d)
				want := int64(tc.budget(d))
				// The dispensers retry on their own: wait (generously)
				// until every due grant has arrived.
				deadline := time.Now().Add(30 * time.Second)
				for slices.Min(got()) < want && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				for _, n := range got() {
					if n != want {
						t.Fatalf("after %v of Redis time: grants %v, want %d each (budget %s, shared %v)",
							d, got(), want, tc.name, tc.shared)
					}
				}
			}
			// The clock stands still: nothing more is due.
			time.Sleep(50 * time.Millisecond)
			want := int64(tc.budget(steps * step))
			for _, n := range got() {
				if n != want {
					t.Errorf("clock stopped at %v: grants %v, want %d each", steps*step, got(), want)
				}
			}
			t.Logf("grants after %v of Redis time: %v (shared %v)", steps*step, got(), tc.shared)
		})
	}
}

// TestTeamLimitOnServerClock runs TestTeamLimit's cases on the server's
// own clock (the real Redis when REDIS_ADDR is set) for 1.5 s and checks
// the promise: at most the budget of 1.5 s. (Load can only lower the
// count, so there is no lower bound here; TestTeamLimit has the exact one.)
func TestTeamLimitOnServerClock(t *testing.T) {
	const duration = 1500 * time.Millisecond
	for _, tc := range teamCases {
		t.Run(tc.name, func(t *testing.T) {
			tr := setup(t)
			l1, _ := tr.limiter(t, tc.cfg)
			l2, _ := tr.limiter(t, tc.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), duration)
			defer cancel()
			var other *grants
			done := make(chan struct{})
			go func() {
				defer close(done)
				other = hammer(ctx, []*Limiter{l2}, 8, "b", nil)
			}()
			g := hammer(ctx, []*Limiter{l1, l2}, 8, "a", nil)
			<-done
			n, no := len(g.all()), len(other.all())
			// Grants are recorded between start and the deadline, so on
			// the server clock they fall within duration.
			limit := tc.budget(duration)
			t.Logf("team a: %d grants, team b: %d grants in %v; at most %d", n, no, duration, limit)
			counts := []int{n, no}
			if tc.shared {
				counts = []int{n + no}
			}
			for _, c := range counts {
				if c > limit {
					t.Errorf("grants %v in %v, want at most %d each (shared %v)", counts, duration, limit, tc.shared)
				}
			}
		})
	}
}

func TestUnlimitedMakesNoRedisCallPerWait(t *testing.T) {
	tr := setup(t)
	cfg := Config{PollInterval: 20 * time.Millisecond}
	l, h := tr.limiter(t, cfg)
	other, _ := tr.limiter(t, cfg)
	ctx := context.Background()
	time.Sleep(50 * time.Millisecond) // let the poller start
	before := h.cmds.Load()
	start := time.Now()
	const n = 100000
	for range n {
		if err := l.Wait(ctx, ""); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	elapsed := time.Since(start)
	polls := int64(elapsed/cfg.PollInterval) + 2
	if got := h.cmds.Load() - before; got > polls {
		t.Errorf("%d Waits in %v sent %d commands, want <= %d (poller only)", n, elapsed, got, polls)
	}

	// Own pause: effective at once.
	until := time.Now().Add(200 * time.Millisecond)
	if err := l.PauseUntil(ctx, until); err != nil {
		t.Fatalf("PauseUntil: %v", err)
	}
	if err := l.Wait(ctx, ""); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if early := time.Until(until); early > time.Millisecond {
		t.Errorf("Wait returned %v before the own pause ended", early)
	}

	// Another process's pause: effective after one poll.
	until = time.Now().Add(300 * time.Millisecond)
	if err := other.PauseUntil(ctx, until); err != nil {
		t.Fatalf("PauseUntil: %v", err)
	}
	time.Sleep(2 * cfg.PollInterval)
	if err := l.Wait(ctx, ""); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if early := time.Until(until); early > 5*time.Millisecond {
		t.Errorf("Wait returned %v before the shared pause ended", early)
	}
	if l.EffectiveRate() != 0 {
		t.Errorf("EffectiveRate() = %v, want 0 when unlimited", l.EffectiveRate())
	}
}

func TestClose(t *testing.T) {
	tr := setup(t)
	reg := prometheus.NewRegistry()
	c, _ := tr.client(t)
	cfg := Config{Key: tr.key, Rate: 10, Burst: 1}
	l, err := New(c, cfg, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := context.Background()
	if err := l.Wait(ctx, ""); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	// The next token is 100ms away; Close ends the pending Wait.
	errc := make(chan error, 1)
	go func() { errc <- l.Wait(ctx, "") }()
	time.Sleep(10 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) && err != nil {
		t.Errorf("pending Wait = %v, want ErrClosed or nil", err)
	}
	if err := l.Wait(ctx, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close = %v, want ErrClosed", err)
	}
	// The metrics are gone: a new limiter may register on the same registry.
	l2, err := New(c, cfg, reg)
	if err != nil {
		t.Fatalf("New after Close on the same registry: %v", err)
	}
	l2.Close()
}

func TestWaitHonoursContext(t *testing.T) {
	tr := setup(t)
	l, _ := tr.limiter(t, Config{Rate: 1, Burst: 1})
	ctx := context.Background()
	if err := l.Wait(ctx, ""); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := l.Wait(cctx, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("Wait returned %v after the deadline, want promptly", d)
	}
	done, cancel2 := context.WithCancel(ctx)
	cancel2()
	if err := l.Wait(done, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestKeysShareOneSlotAndExpire(t *testing.T) {
	tr := setup(t)
	l, _ := tr.limiter(t, Config{Rate: 100, AIMD: true, TeamRate: 50})
	ctx := context.Background()
	if err := l.Wait(ctx, "team-1"); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	l.Throttled(ctx)
	if err := l.PauseUntil(ctx, time.Now().Add(50*time.Millisecond)); err != nil {
		t.Fatalf("PauseUntil: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: tr.addr})
	defer c.Close()
	ks, err := c.Keys(ctx, "lr:rl:*"+tr.key+"*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	sort.Strings(ks)
	want := []string{"aimd", "pause", "tat", "team:team-1:tat"}
	if len(ks) != len(want) {
		t.Fatalf("keys = %q, want %d keys", ks, len(want))
	}
	for i, k := range ks {
		if w := "lr:rl:{" + tr.key + "}:" + want[i]; k != w {
			t.Errorf("key %d = %q, want %q", i, k, w)
		}
		if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("PTTL(%s) = %v, want > 0", k, ttl)
		}
	}
}

func TestNoScriptFallsBackToEval(t *testing.T) {
	tr := setup(t)
	l, _ := tr.limiter(t, Config{Rate: 1000})
	ctx := context.Background()
	if err := l.Wait(ctx, ""); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: tr.addr})
	defer c.Close()
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := l.Wait(cctx, ""); err != nil {
		t.Fatalf("Wait after SCRIPT FLUSH: %v", err)
	}
	if got := testutil.ToFloat64(l.m.errors); got != 0 {
		t.Errorf("errors_total = %v, want 0 (NOSCRIPT is handled)", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty key", Config{Rate: 1}, "Key is empty"},
		{"braces in key", Config{Key: "a{b}", Rate: 1}, "hash tag"},
		{"negative rate", Config{Key: "k", Rate: -1}, "Rate is -1"},
		{"NaN rate", Config{Key: "k", Rate: math.NaN()}, "Rate is NaN"},
		{"negative burst", Config{Key: "k", Rate: 1, Burst: -1}, "Burst is -1"},
		{"team burst without rate", Config{Key: "k", Rate: 1, TeamBurst: 3}, "TeamRate is 0"},
		{"AIMD unlimited", Config{Key: "k", AIMD: true}, "AIMD needs a Rate"},
		{"decrease factor", Config{Key: "k", Rate: 1, AIMD: true, DecreaseFactor: 1.5}, "DecreaseFactor"},
		{"min rate above rate", Config{Key: "k", Rate: 10, AIMD: true, MinRate: 20}, "MinRate 20 exceeds"},
		{"negative chunk", Config{Key: "k", Rate: 1, MaxChunk: -1}, "MaxChunk"},
		{"tiny poll", Config{Key: "k", PollInterval: time.Microsecond}, "at least 1ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(c, tc.cfg, nil)
			if err == nil {
				l.Close()
				t.Fatalf("New succeeded, want an error containing %q", tc.want)
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want ErrInvalidConfig containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(nil, Config{Key: "k"}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(nil) = %v, want ErrInvalidConfig", err)
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		in   Config
		want Config
	}{
		{Config{Key: "k", Rate: 400}, Config{Key: "k", Rate: 400, Burst: 40, DecreaseFactor: 0.85, IncreasePerSecond: 8, MinRate: 20, MaxChunk: 8, PollInterval: 100 * time.Millisecond}},
		{Config{Key: "k", Rate: 5}, Config{Key: "k", Rate: 5, Burst: 1, DecreaseFactor: 0.85, IncreasePerSecond: 0.1, MinRate: 1, MaxChunk: 1, PollInterval: 100 * time.Millisecond}},
		{Config{Key: "k", Rate: 1e6, TeamRate: 50}, Config{Key: "k", Rate: 1e6, Burst: 1e5, TeamRate: 50, TeamBurst: 5, DecreaseFactor: 0.85, IncreasePerSecond: 2e4, MinRate: 5e4, MaxChunk: 64, PollInterval: 100 * time.Millisecond}},
		{Config{Key: "k", Rate: 0.5}, Config{Key: "k", Rate: 0.5, Burst: 1, DecreaseFactor: 0.85, IncreasePerSecond: 0.01, MinRate: 0.5, MaxChunk: 1, PollInterval: 100 * time.Millisecond}},
	} {
		got, err := tc.in.withDefaults()
		if err != nil {
			t.Fatalf("withDefaults(%+v): %v", tc.in, err)
		}
		if got != tc.want {
			t.Errorf("withDefaults(%+v)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func TestMetrics(t *testing.T) {
	tr := setup(t)
	reg := prometheus.NewRegistry()
	c, _ := tr.client(t)
	l, err := New(c, Config{Key: tr.key, Rate: 10, Burst: 1, AIMD: true}, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer l.Close()
	ctx := context.Background()
	for range 3 {
		if err := l.Wait(ctx, ""); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	l.Throttled(ctx)
	l.Throttled(ctx) // same window: no second decrease
	if err := l.PauseUntil(ctx, time.Now().Add(time.Second)); err != nil {
		t.Fatalf("PauseUntil: %v", err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	for _, tc := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"throttled_total", l.m.throttled, 2},
		{"pauses_total", l.m.pauses, 1},
		{"errors_total", l.m.errors, 0},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := l.EffectiveRate(); got != 8.5 {
		t.Errorf("EffectiveRate() = %v, want 8.5 (one decrease of 10 by 0.85)", got)
	}
	n, err := testutil.GatherAndCount(reg, "labelreset_ratelimit_wait_seconds")
	if err != nil || n != 1 {
		t.Errorf("wait_seconds series = %d, %v; want 1", n, err)
	}
	gauges := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if g := mf.GetMetric()[0].GetGauge(); g != nil {
			gauges[strings.TrimPrefix(mf.GetName(), "labelreset_ratelimit_")] = g.GetValue()
		}
	}
	want := map[string]float64{"configured_rate": 10, "effective_rate": 8.5, "paused": 1, "near_limit": 1}
	for k, w := range want {
		if gauges[k] != w {
			t.Errorf("%s = %v, want %v", k, gauges[k], w)
		}
	}
	if _, err := New(c, Config{Key: tr.key, Rate: 10}, reg); err == nil || !strings.Contains(err.Error(), "WrapRegistererWith") {
		t.Errorf("second New on the same registry = %v, want an error suggesting WrapRegistererWith", err)
	}
}

func TestExtremeRates(t *testing.T) {
	// Arguments reach Lua as strings: exponents and tiny fractions must
	// parse on both engines.
	for _, cfg := range []Config{
		{Rate: 1e6},
		{Rate: 2.5e7, AIMD: true},
		{Rate: 0.5, AIMD: true, IncreasePerSecond: 1e-7},
		{Rate: 3, TeamRate: 1e7},
	} {
		t.Run(fmtFloat(cfg.Rate), func(t *testing.T) {
			tr := setup(t)
			l, _ := tr.limiter(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := l.Wait(ctx, "t"); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			l.Throttled(ctx)
			if err := l.Wait(ctx, "t"); err != nil && cfg.Rate > 1 {
				t.Fatalf("second Wait: %v", err)
			}
			if got := testutil.ToFloat64(l.m.errors); got != 0 {
				t.Errorf("errors_total = %v, want 0", got)
			}
		})
	}
}

// TestBurstReserveAndPauseResume: a fresh bucket grants the burst less the
// jitter reserve (never less than one), and a pause ends with one token
// instead of a full burst; the burst comes back only after idle time.
func TestBurstReserveAndPauseResume(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		rate       float64
		burst, at0 int
	}{
		{rate: 400, burst: 40, at0: 28}, // 30 ms at 400/s = 12 held back
		{rate: 50, burst: 5, at0: 3},    // 1.5 held back: 2
		{rate: 10, burst: 1, at0: 1},    // never the last one
	} {
		tr := setup(t)
		l, _ := tr.limiter(t, Config{Rate: tc.rate, Burst: tc.burst})
		r, err := l.take(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if r.granted != tc.at0 {
			t.Errorf("rate %v burst %d: fresh bucket granted %d at once, want %d", tc.rate, tc.burst, r.granted, tc.at0)
		}
	}

	tr := setup(t)
	l, _ := tr.limiter(t, Config{Rate: 400, Burst: 40, AIMD: true})
	const pause = 300 * time.Millisecond
	end := time.Now().Add(pause)
	if err := l.PauseUntil(ctx, end); err != nil {
		t.Fatal(err)
	}
	if r, err := l.take(ctx, "", 100); err != nil || !r.paused || r.granted != 0 {
		t.Fatalf("take during the pause = %+v, %v; want paused, nothing granted", r, err)
	}
	time.Sleep(time.Until(end) + 5*time.Millisecond)
	var r takeResult
	var err error
	for r.granted == 0 { // the server clock may be a moment behind
		if r, err = l.take(ctx, "", 100); err != nil {
			t.Fatal(err)
		}
	}
	late := time.Since(end)
	// One token at the end of the pause, then Rate: 1 + late*400.
	if limit := 2 + int(late.Seconds()*400); r.granted > limit {
		t.Errorf("first take %v after the pause granted %d, want <= %d (no burst after a pause)", late, r.granted, limit)
	}
	time.Sleep(200 * time.Millisecond) // idle: the burst refills
	if r, err = l.take(ctx, "", 100); err != nil || r.granted != 28 {
		t.Errorf("take after 200 ms idle = %+v, %v; want 28 granted", r, err)
	}
}
