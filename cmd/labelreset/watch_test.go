package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// syncBuffer is a bytes.Buffer that a running command writes to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// inProcess is one run of the CLI in this process, with the test's
// environment.
type inProcess struct {
	app            *app
	stdout, stderr syncBuffer
	code           chan int
}

// startInProcess runs the CLI in-process until ctx ends or it returns;
// tune adjusts the app before it starts.
func (e *e2e) startInProcess(ctx context.Context, tune func(*app), args ...string) *inProcess {
	env := map[string]string{}
	for _, kv := range e.env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	p := &inProcess{code: make(chan int, 1)}
	p.app = newApp(strings.NewReader(""), &p.stdout, &p.stderr, func(k string) string { return env[k] })
	if tune != nil {
		tune(p.app)
	}
	go func() { p.code <- p.app.main(ctx, args) }()
	return p
}

// waitStderr waits until the command's stderr contains want.
func (p *inProcess) waitStderr(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr lacks %q after %v:\n%s", want, timeout, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exit waits for the command's exit code.
func (p *inProcess) exit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case code := <-p.code:
		return code
	case <-time.After(timeout):
		t.Fatalf("command still running after %v:\n%s", timeout, p.stderr.String())
		return -1
	}
}

// TestStatusWatchHoldHints: status --watch on a pending campaign says how
// to approve it, on a paused one how to resume it, and Ctrl-C ends it
// with exit 0 and no error text.
func TestStatusWatchHoldHints(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	if out, errs, code := e.run("submit", "--campaign", "held", "--ids", "1,2,3,4,5", "--confirm-above", "3"); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	ns := " --namespace " + e.redis.Namespace
	// Plain status says it too, on stderr: stdout stays the status.
	out, errs, code := e.run("status", "held")
	if want := "labelreset approve held" + ns; code != 0 || !strings.Contains(errs, want) || strings.Contains(out, want) {
		t.Errorf("status of a pending campaign: exit %d, want the hint %q on stderr only:\nstdout:\n%s\nstderr:\n%s", code, want, out, errs)
	}
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	w := e.startInProcess(ctx, nil, "status", "held", "--watch")
	w.waitStderr(t, "campaign held waits for approval: release it with `labelreset approve held"+ns+"`", 30*time.Second)

	for _, cmd := range []string{"approve", "pause"} {
		if out, errs, code := e.run(cmd, "held"); code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", cmd, code, out, errs)
		}
	}
	w.waitStderr(t, "campaign held is paused: continue it with `labelreset resume held"+ns+"`", 30*time.Second)

	interrupt()
	if code := w.exit(t, 30*time.Second); code != 0 {
		t.Errorf("status --watch after Ctrl-C: exit %d, want 0\n%s", code, w.stderr.String())
	}
	if errs := w.stderr.String(); strings.Contains(errs, "labelreset:") || strings.Contains(errs, "context canceled") {
		t.Errorf("status --watch after Ctrl-C printed an error:\n%s", errs)
	}
}

// TestStatusWatchNoWorker: a running campaign that no worker takes gets a
// warning naming the worker command; once a worker runs it, the watch
// ends with the campaign done.
func TestStatusWatchNoWorker(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	if out, errs, code := e.run("submit", "--campaign", "idle", "--ids", "1,2,3", "--yes"); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	w := e.startInProcess(context.Background(), func(a *app) { a.stallAfter = time.Second }, "status", "idle", "--watch")
	w.waitStderr(t, "s — is `labelreset worker` running against this Redis (namespace "+e.redis.Namespace+")?", 30*time.Second)
	if !strings.Contains(w.stderr.String(), "no worker has taken a batch for ") {
		t.Errorf("the warning does not say for how long:\n%s", w.stderr.String())
	}

	e.startWorker()
	if code := w.exit(t, 60*time.Second); code != 0 {
		t.Errorf("status --watch: exit %d, want 0\n%s", code, w.stderr.String())
	}
	if !strings.Contains(w.stdout.String(), "state:     done") {
		t.Errorf("status after the watch lacks the done state:\n%s", w.stdout.String())
	}
	if n := strings.Count(w.stderr.String(), "no worker has taken a batch"); n != 1 {
		t.Errorf("warned %d times, want once:\n%s", n, w.stderr.String())
	}
}

// TestStatusWatchFinalLineOnce: watching a finished campaign draws its
// line once.
func TestStatusWatchFinalLineOnce(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	if out, errs, code := e.run("run", "--campaign", "over", "--ids", "1,2,3"); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
	}
	w := e.startInProcess(context.Background(), nil, "status", "over", "--watch")
	if code := w.exit(t, 30*time.Second); code != 0 {
		t.Fatalf("status --watch: exit %d\n%s", code, w.stderr.String())
	}
	if n := strings.Count(w.stderr.String(), "[done]"); n != 1 {
		t.Errorf("final line drawn %d times, want once:\n%s", n, w.stderr.String())
	}
}
