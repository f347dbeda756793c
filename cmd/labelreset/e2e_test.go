package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// binary is the labelreset binary built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	// The parallel tests here mostly wait (for leases, outages, rate
	// limits, latency) in processes of their own, so more of them than
	// the default GOMAXPROCS can overlap; an explicit -parallel wins.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", "8")
	}
	dir, err := os.MkdirTemp("", "labelreset-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "labelreset")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build labelreset:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// e2e is one test's Redis, fake PDCP and environment for the binary.
type e2e struct {
	t     *testing.T
	redis *redistest.Env
	fake  *pdcpfake.Server
	env   []string
	dir   string
}

func newE2E(t *testing.T, opts pdcpfake.Options) *e2e {
	t.Helper()
	e := &e2e{t: t, redis: redistest.New(t), fake: pdcpfake.NewServer(opts), dir: t.TempDir()}
	t.Cleanup(e.fake.Close)
	e.env = append(os.Environ(),
		"REDIS_URL="+e.redis.URL, "LABELRESET_NAMESPACE="+e.redis.Namespace,
		"PDCP_API_KEY="+keyOf(opts), "PDCP_API_SERVER="+e.fake.URL(), "PDCP_TEAM_ID=",
		"HOME="+e.dir,       // no ~/.pdcp/credentials.yaml of the machine
		"LABELRESET_RATE=0", // unlimited unless a test sets --rate: tests measure the pipeline, not the default budget
	)
	return e
}

func keyOf(o pdcpfake.Options) string {
	if o.APIKey == "" {
		return "test-key"
	}
	return o.APIKey
}

// run runs the binary to completion and returns stdout, stderr and the
// exit code.
func (e *e2e) run(args ...string) (string, string, int) {
	e.t.Helper()
	return e.runIn("", args...)
}

// proc is a long-running binary (a worker).
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (e *e2e) start(args ...string) *proc {
	e.t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), done: make(chan struct{})}
	p.cmd.Env = e.env
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	e.t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if e.t.Failed() {
			e.t.Logf("output of %v:\n%s", args, tail(p.output(), 3000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (e *e2e) startWorker(extra ...string) *proc {
	return e.start(append([]string{"worker", "--metrics-addr", "127.0.0.1:0", "--concurrency", "16", "--shutdown-timeout", "5s"}, extra...)...)
}

func (e *e2e) writeIDs(name string, first, n int) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	var b strings.Builder
	b.WriteString("asset_id,name\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%d,asset-%d\n", first+i, first+i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

type statusOut struct {
	ID     string           `json:"id"`
	State  string           `json:"state"`
	Total  int64            `json:"total"`
	Counts map[string]int64 `json:"counts"`
	Reason string           `json:"reason"`
	TeamID string           `json:"team_id"`
}

func (e *e2e) status(id string) statusOut {
	e.t.Helper()
	out, errs, code := e.run("status", id, "--json")
	if code != 0 {
		e.t.Fatalf("status exit %d: %s", code, errs)
	}
	var s statusOut
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("status output %q: %v", out, err)
	}
	return s
}

func (e *e2e) waitState(id string, timeout time.Duration, states ...string) statusOut {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var s statusOut
	for time.Now().Before(deadline) {
		s = e.status(id)
		for _, st := range states {
			if s.State == st {
				return s
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	e.t.Fatalf("campaign %s is %s (%v) after %v, want %v", id, s.State, s.Counts, timeout, states)
	return s
}

// report reads the campaign's CSV report through the binary.
func (e *e2e) report(id string) map[int64][]string {
	e.t.Helper()
	out, errs, code := e.run("report", id, "--format", "csv")
	if code != 0 {
		e.t.Fatalf("report exit %d: %s", code, errs)
	}
	rows := map[int64][]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Scan() // header
	if sc.Text() != "asset_id,outcome,http_status,attempts,error,finished_at,error_id,path" {
		e.t.Fatalf("report header %q", sc.Text())
	}
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		id, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			e.t.Fatalf("report row %q", sc.Text())
		}
		if _, dup := rows[id]; dup {
			e.t.Fatalf("asset %d twice in the report", id)
		}
		rows[id] = f
	}
	return rows
}

// checkOneOutcome asserts every asset 1..n has exactly one report row,
// the outcome the fake's kind implies, and that no asset was called again
// after an answer that finished it (200/404/400). It returns how many
// assets saw a repeated finishing call.
func (e *e2e) checkOneOutcome(id string, n int) (repeats int) {
	e.t.Helper()
	rows := e.report(id)
	if len(rows) != n {
		e.t.Fatalf("report has %d rows, want %d", len(rows), n)
	}
	f := e.fake.Fake()
	for aid := int64(1); aid <= int64(n); aid++ {
		want := map[string]string{pdcpfake.KindOK: "reset", pdcpfake.KindFlaky: "reset",
			pdcpfake.KindNotFound: "not_found", pdcpfake.KindInvalid: "invalid"}[f.Kind(aid)]
		if got := rows[aid][1]; got != want {
			e.t.Errorf("asset %d (%s): outcome %q, want %q", aid, f.Kind(aid), got, want)
		}
		finishing := 0
		for _, c := range f.Calls(aid) {
			if c.Status == 200 || c.Status == 404 || c.Status == 400 {
				finishing++
			}
		}
		if finishing == 0 {
			e.t.Errorf("asset %d never got a finishing answer", aid)
		}
		if finishing > 1 {
			repeats++
		}
	}
	return repeats
}

// TestTwoWorkersSeparateSubmit: a separate submit process and two worker
// processes on one Redis give exactly one outcome per asset.
func TestTwoWorkersSeparateSubmit(t *testing.T) {
	t.Parallel()
	const n = 6000
	e := newE2E(t, pdcpfake.Options{Assets: n - 300, Seed: 3, InvalidFraction: 0.01, FailFraction: 0.1, FailTimes: 2,
		Latency: time.Millisecond})
	e.startWorker()
	e.startWorker()
	csv := e.writeIDs("ids.csv", 1, n)
	out, errs, code := e.run("submit", "--campaign", "two", "--csv", csv, "--yes", "--reset-unlisted", "--backoff-base", "20ms", "--backoff-cap", "200ms")
	if code != 0 {
		t.Fatalf("submit exit %d: %s %s", code, out, errs)
	}
	s := e.waitState("two", 2*time.Minute, "done")
	if s.Total != n {
		t.Errorf("total %d, want %d", s.Total, n)
	}
	if r := e.checkOneOutcome("two", n); r != 0 {
		t.Errorf("%d assets got a second finishing call without any crash", r)
	}
	// The same submit again enqueues nothing and says so.
	out, _, code = e.run("submit", "--campaign", "two", "--csv", csv, "--yes", "--reset-unlisted")
	if code != 0 || !strings.Contains(out, "nothing new enqueued") {
		t.Errorf("re-submit: exit %d, output %q", code, out)
	}
}

// maxRepeats bounds the calls one SIGKILLed worker with concurrency conc
// can make its successors repeat: its calls in flight (conc) plus finished
// calls whose outcome still waited for its group commit (2 × conc pending
// tokens, worker.pendingPerSlot).
func maxRepeats(conc int) int { return 3 * conc }

// TestKillWorker: SIGKILL a worker mid-campaign and start another; the
// campaign completes, every asset has one outcome, and only calls in
// flight at the kill or whose outcome was still waiting for its ledger
// write repeat (at most three times the killed worker's concurrency).
func TestKillWorker(t *testing.T) {
	t.Parallel()
	const n, conc = 8000, 16
	e := newE2E(t, pdcpfake.Options{Assets: n, Seed: 5, Latency: 3 * time.Millisecond})
	victim := e.startWorker("--concurrency", strconv.Itoa(conc))
	csv := e.writeIDs("ids.csv", 1, n)
	if out, errs, code := e.run("submit", "--campaign", "kill", "--csv", csv, "--yes", "--reset-unlisted"); code != 0 {
		t.Fatalf("submit exit %d: %s %s", code, out, errs)
	}
	deadline := time.Now().Add(time.Minute)
	for e.status("kill").Counts["reset"] < n/4 {
		if time.Now().After(deadline) {
			t.Fatal("no progress before the kill")
		}
		time.Sleep(100 * time.Millisecond)
	}
	victim.cmd.Process.Kill()
	<-victim.done
	e.startWorker("--concurrency", strconv.Itoa(conc))
	e.waitState("kill", 4*time.Minute, "done")
	repeats := e.checkOneOutcome("kill", n)
	t.Logf("assets called again after the kill (in flight or not yet recorded at SIGKILL): %d (bound %d)", repeats, maxRepeats(conc))
	if repeats > maxRepeats(conc) {
		t.Errorf("%d assets repeated a finishing call, more than three times the concurrency %d", repeats, conc)
	}
}
