//go:build redisservers

package main

// Redis outages seen by 'run' and by the stop of every long-running
// command, on real redis-server processes (and a sentinel) that the tests
// kill; never the shared Redis.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// Kill ends the server with SIGKILL (a crash: no shutdown, AOF as last
// fsynced) and waits for the process to end.
func (r *redisServer) Kill(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("redis-server on %d still running 20s after SIGKILL", r.port)
	}
}

// exitCode waits up to timeout for p to exit and returns its exit code and
// how long the wait took; the test fails if p is still running.
func exitCode(t *testing.T, p *proc, timeout time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("still running %v later:\n%s", timeout, tail(p.output(), 3000))
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

// waitCreated waits until the campaign exists (a 'run' just started
// submits it).
func (e *e2e) waitCreated(id string) {
	e.t.Helper()
	if _, ok := waitFor(time.Minute, func() bool { _, _, code := e.run("status", id, "--json"); return code == 0 }); !ok {
		e.t.Fatalf("campaign %s not created within a minute", id)
	}
}

// TestRunRedisKilledAndRestarted: Redis is SIGKILLed during 'labelreset
// run --redis' and started again 6s later. run rides the outage out, as
// workers do: it exits 0 only once every asset has its outcome.
func TestRunRedisKilledAndRestarted(t *testing.T) {
	const n = 4000
	r := startRedisServer(t)
	e := newE2EAt(t, r.URL(), "lr", pdcpfake.Options{Assets: n, Seed: 91, Latency: 30 * time.Millisecond})
	p := e.start("run", "--campaign", "x", "--csv", e.writeIDs("ids.csv", 1, n), "--yes", "--redis", r.URL(),
		"--concurrency", "16", "--shutdown-timeout", "5s")
	e.waitCreated("x")
	e.waitFinished("x", n/5, time.Minute)
	before := e.finished("x")
	if before > n-1000 {
		t.Fatalf("%d of %d assets already finished before Redis went down; the test needs work left", before, n)
	}
	r.Kill(t)
	down := time.Now()
	time.Sleep(6 * time.Second)
	r.Up(t)
	up := time.Now()
	code, _ := exitCode(t, p, 3*time.Minute)
	out := p.output()
	if strings.Contains(out, "panic") {
		t.Errorf("run panicked:\n%s", tail(out, 3000))
	}
	s := e.status("x")
	t.Logf("%d assets, %d finished when Redis was killed; down %v; run exited %d %v after Redis came back; state %s, pending %d",
		n, before, up.Sub(down).Round(100*time.Millisecond), code, time.Since(up).Round(100*time.Millisecond), s.State, s.Counts["pending"])
	if code != 0 {
		t.Fatalf("run exit %d, want 0 (every asset recorded); state %s, pending %d\n%s", code, s.State, s.Counts["pending"], tail(out, 3000))
	}
	if s.State != "done" || s.Counts["pending"] != 0 {
		t.Fatalf("run exited 0 with the campaign %s and %d assets pending", s.State, s.Counts["pending"])
	}
	oc := checkOutcomes(e, "x", n, nil)
	t.Logf("repeated finishing calls across the outage: %d", len(oc.repeated))
}

// TestRunRedisOutageLimit: Redis (with a password) is killed during 'run'
// and stays down. After --redis-outage-limit run stops by itself, without a
// panic, with exit code 3, says why and prints the commands that continue
// the campaign, with neither the Redis password nor the API key.
func TestRunRedisOutageLimit(t *testing.T) {
	const n, redisPW, apiKey = 4000, "redis-pw-7f3a9c", "pdcp-key-2b8e41"
	r := startRedisServer(t, "--requirepass", redisPW)
	url := "redis://:" + redisPW + "@" + r.Addr()
	e := newE2EAt(t, url, "outns", pdcpfake.Options{APIKey: apiKey, Assets: n, Seed: 92, Latency: 30 * time.Millisecond})
	p := e.start("run", "--campaign", "x", "--csv", e.writeIDs("ids.csv", 1, n), "--yes", "--redis", url,
		"--concurrency", "16", "--shutdown-timeout", "5s", "--redis-outage-limit", "5s")
	e.waitCreated("x")
	e.waitFinished("x", n/5, time.Minute)
	r.Kill(t)
	// 5s limit + a status read of up to 5s + 5s shutdown timeout + 2s
	// grace, with room for a busy host.
	code, took := exitCode(t, p, 45*time.Second)
	out := p.output()
	t.Logf("run exited %d %v after Redis was killed; its last lines:\n%s", code, took.Round(100*time.Millisecond), tail(out, 1200))
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
		t.Errorf("run panicked:\n%s", tail(out, 3000))
	}
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	for _, want := range []string{"Redis unreachable", "limit 5s", "labelreset worker --redis 'redis://:xxxxx@" + r.Addr() + "' --namespace outns",
		"labelreset status x --namespace outns --watch"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, secret := range []string{redisPW, apiKey} {
		if strings.Contains(out, secret) {
			t.Errorf("output contains the secret %q", secret)
		}
	}
	if took > 35*time.Second {
		t.Errorf("run took %v after Redis went down with --redis-outage-limit 5s --shutdown-timeout 5s, want < 35s", took)
	}
	// The campaign is still there to continue once Redis is back.
	r.Up(t)
	if s := e.status("x"); s.State != "running" || s.Counts["pending"] == 0 {
		t.Errorf("after the restart the campaign is %s with %d pending; want running with work left", s.State, s.Counts["pending"])
	}
}

// TestStopDuringRedisOutage: worker, serve and scheduler each get SIGTERM
// with --shutdown-timeout 5s while their Redis is down (standalone, or a
// sentinel whose master and sentinel are both down) and exit within 12s.
// A worker holding outcomes it could not write exits non-zero and says so.
func TestStopDuringRedisOutage(t *testing.T) {
	const bound = 12 * time.Second
	type setup struct {
		url  string
		kill func(t *testing.T)
	}
	standalone := func(t *testing.T) setup {
		r := startRedisServer(t)
		return setup{r.URL(), r.Kill}
	}
	sentinel := func(t *testing.T) setup {
		m := startRedisServer(t)
		s := startSentinel(t, "mymaster", m)
		return setup{"redis-sentinel://" + s.Addr() + "/mymaster", func(t *testing.T) { s.Kill(t); m.Kill(t) }}
	}
	stop := func(t *testing.T, p *proc, what string) (int, string) {
		t.Helper()
		p.cmd.Process.Signal(syscall.SIGTERM)
		code, took := exitCode(t, p, time.Minute)
		t.Logf("%s: exit %d %v after SIGTERM", what, code, took.Round(100*time.Millisecond))
		if took > bound {
			t.Errorf("%s stopped %v after SIGTERM with --shutdown-timeout 5s, want within %v", what, took.Round(100*time.Millisecond), bound)
		}
		return code, p.output()
	}
	schedules := func(e *e2e) string {
		cfg := filepath.Join(e.dir, "schedules.yaml")
		ids := e.writeIDs("sched.csv", 1, 3)
		os.WriteFile(cfg, []byte(fmt.Sprintf("schedules:\n  - name: every-second\n    cron: \"@every 1s\"\n    max_assets: 1000\n    source:\n      csv:\n        path: %s\n", ids)), 0o600)
		return cfg
	}

	t.Run("worker with outcomes in hand", func(t *testing.T) {
		su := standalone(t)
		const n = 3000
		e := newE2EAt(t, su.url, "lr", pdcpfake.Options{Assets: n, Seed: 93, Latency: 200 * time.Millisecond})
		p := e.start("worker", "--metrics-addr", freeAddr(t), "--concurrency", "16", "--shutdown-timeout", "5s")
		e.submit("--campaign", "w", "--csv", e.writeIDs("ids.csv", 1, n), "--yes")
		e.waitFinished("w", 100, time.Minute)
		su.kill(t)
		time.Sleep(2 * time.Second) // calls in flight finish; their outcomes cannot be written
		code, out := stop(t, p, "worker")
		if code == 0 || !strings.Contains(out, "could not be written") {
			t.Errorf("exit %d; want non-zero and a message that outcomes could not be written:\n%s", code, tail(out, 2000))
		}
	})
	for _, tc := range []struct {
		name  string
		redis func(*testing.T) setup
	}{{"worker sentinel", sentinel}, {"worker standalone", standalone}} {
		t.Run(tc.name, func(t *testing.T) {
			su := tc.redis(t)
			e := newE2EAt(t, su.url, "lr", pdcpfake.Options{Assets: 10})
			addr := freeAddr(t)
			p := e.start("worker", "--metrics-addr", addr, "--concurrency", "16", "--shutdown-timeout", "5s")
			waitHTTP(t, "http://"+addr+"/readyz", 200)
			su.kill(t)
			time.Sleep(3 * time.Second)
			if code, out := stop(t, p, "idle worker"); code != 0 {
				t.Errorf("idle worker exit %d, want 0 (nothing to record):\n%s", code, tail(out, 2000))
			}
		})
	}
	t.Run("serve sentinel", func(t *testing.T) {
		su := sentinel(t)
		e := newE2EAt(t, su.url, "lr", pdcpfake.Options{Assets: 10})
		e.env = append(e.env, "LABELRESET_API_TOKENS="+testToken)
		addr := freeAddr(t)
		p := e.start("serve", "--addr", addr, "--shutdown-timeout", "5s")
		waitHTTP(t, "http://"+addr+"/readyz", 200)
		su.kill(t)
		time.Sleep(3 * time.Second)
		// A request in progress: its Redis read waits for the sentinel
		// (about 20s), and the graceful stop waits for the request.
		go func() {
			req, _ := http.NewRequest("GET", "http://"+addr+"/v1/campaigns", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			if resp, err := (&http.Client{Timeout: time.Minute}).Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		time.Sleep(time.Second)
		// Exit 1 when the request had to be cut off ("graceful shutdown:
		// context deadline exceeded"): only the time is asserted.
		stop(t, p, "serve with a request in progress")
	})
	t.Run("scheduler sentinel", func(t *testing.T) {
		su := sentinel(t)
		e := newE2EAt(t, su.url, "lr", pdcpfake.Options{Assets: 10})
		addr := freeAddr(t)
		p := e.start("scheduler", "--config", schedules(e), "--metrics-addr", addr, "--shutdown-timeout", "5s")
		waitHTTP(t, "http://"+addr+"/readyz", 200)
		su.kill(t)
		time.Sleep(3 * time.Second)
		if code, out := stop(t, p, "scheduler"); code != 0 {
			t.Errorf("scheduler exit %d, want 0:\n%s", code, tail(out, 2000))
		}
	})
}
