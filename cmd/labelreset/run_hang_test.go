//go:build redisservers

package main

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestRunStopBoundedWhenRedisHangs (hostile review 2, finding 5, of issue 15
// item 7): --shutdown-timeout must bound run's stop also during an
// outage. A Redis that hangs (SIGSTOP: connections open, no answers, as
// with a partition or a frozen VM) rather than refusing connections
// makes run take far longer: with --shutdown-timeout 3s, run exits about
// 20s after SIGTERM (25s with --report). The bound allowed here is the
// one TestRunRedisOutageLimit documents (shutdown timeout + a status
// read of up to 5s + 2s grace) plus 2s for a busy host; now the whole
// stop shares one deadline, so the bound is tighter.
func TestRunStopBoundedWhenRedisHangs(t *testing.T) {
	for _, withReport := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "report"}[withReport], func(t *testing.T) {
			testRunStopBoundedWhenRedisHangs(t, withReport)
		})
	}
}

// testRunStopBoundedWhenRedisHangs runs the scenario, with --report when
// withReport (the report write had its own 1-minute bound).
func testRunStopBoundedWhenRedisHangs(t *testing.T, withReport bool) {
	const n = 4000
	r := startRedisServer(t)
	t.Cleanup(func() { r.cmd.Process.Signal(syscall.SIGCONT) })
	e := newE2EAt(t, r.URL(), "hang", pdcpfake.Options{Assets: n, Seed: 93, Latency: 30 * time.Millisecond})
	args := []string{"run", "--campaign", "x", "--csv", e.writeIDs("ids.csv", 1, n), "--yes", "--redis", r.URL(),
		"--concurrency", "16", "--shutdown-timeout", "3s"}
	if withReport {
		args = append(args, "--report", filepath.Join(t.TempDir(), "report.csv"))
	}
	p := e.start(args...)
	e.waitCreated("x")
	e.waitFinished("x", n/5, time.Minute)
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	p.cmd.Process.Signal(syscall.SIGTERM)
	code, took := exitCode(t, p, 2*time.Minute)
	t.Logf("run exited %d %v after SIGTERM with Redis hanging", code, took.Round(100*time.Millisecond))
	if code != exitStopped {
		t.Errorf("run exited %d after SIGTERM with Redis hanging, want %d (stopped)\n%s", code, exitStopped, tail(p.output(), 1500))
	}
	// One deadline for the whole stop: --shutdown-timeout + stopGrace,
	// plus 3s for a busy host (measured: 5.5-6s).
	if limit := 3*time.Second + stopGrace + 3*time.Second; took > limit {
		t.Errorf("run took %v to stop after SIGTERM with --shutdown-timeout 3s and Redis hanging, want at most %v\n%s",
			took.Round(100*time.Millisecond), limit, tail(p.output(), 1500))
	}
}
