package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// ownGoroutines returns the stacks of the running goroutines, by ID,
// that code of this module started (outside tests): created by it, or by
// a WaitGroup.Go running its code. Goroutines a library starts for itself
// (go-redis dials a connection in one of its own) are the library's
// business, and goleak's below.
func ownGoroutines(t *testing.T) map[string]string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(filepath.Dir(file))) + "/"
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	own := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		_, created, _ := strings.Cut(g, "\ncreated by ")
		ours := strings.Contains(created, root) ||
			strings.HasPrefix(created, "sync.(*WaitGroup).Go") && strings.Contains(g, root)
		if !ours || strings.Contains(g, "_test.go:") {
			continue
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		own[id] = g
	}
	return own
}

// checkStopped runs cmd, which returns when the command has returned, and
// fails the test for every goroutine running this module's code that the
// command left behind: checked at once, since one that is still ending
// when the command returns is what a missing wait looks like. goleak then
// checks, with its retries, for goroutines of any code.
func checkStopped(t *testing.T, cmd func()) {
	t.Helper()
	before := ownGoroutines(t)
	opts := goleak.IgnoreCurrent()
	cmd()
	for id, g := range ownGoroutines(t) {
		if _, ok := before[id]; !ok {
			t.Errorf("goroutine left running after the command returned:\n%s", g)
		}
	}
	goleak.VerifyNone(t, opts)
}

// localAddr is a free loopback address for a listener of the command
// under test.
func localAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// getUntilOK polls url until it answers 200; keep-alives off, so the
// test's own client leaves no connection goroutine behind.
func getUntilOK(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v after %v", url, err, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeLeavesNoGoroutines: serve, with its Redis health loop, token
// file watcher and SIGHUP handler running, returns only after every
// goroutine it started has ended.
func TestServeLeavesNoGoroutines(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	tokens := filepath.Join(e.dir, "tokens.txt")
	if err := os.WriteFile(tokens, []byte("tok-leak-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := localAddr(t)
	checkStopped(t, func() {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		p := e.startInProcess(ctx, nil, "serve", "--addr", addr, "--tokens-file", tokens, "--tokens-reload", "50ms",
			"--shutdown-timeout", "5s")
		getUntilOK(t, "http://"+addr+"/readyz", 20*time.Second)
		stop()
		if code := p.exit(t, 20*time.Second); code != 0 {
			t.Fatalf("serve: exit %d\n%s", code, p.stderr.String())
		}
	})
}

// TestSchedulerLeavesNoGoroutines: the scheduler, with its Redis health
// loop and its metrics server running, returns only after every goroutine
// it started has ended.
func TestSchedulerLeavesNoGoroutines(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	cfg := filepath.Join(e.dir, "schedules.yaml")
	ids := e.writeIDs("ids.csv", 1, 3)
	yaml := "schedules:\n  - name: yearly\n    cron: \"0 0 1 1 *\"\n    source:\n      csv:\n        path: " + ids + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := localAddr(t)
	checkStopped(t, func() {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		p := e.startInProcess(ctx, nil, "scheduler", "--config", cfg, "--metrics-addr", addr, "--shutdown-timeout", "5s")
		getUntilOK(t, "http://"+addr+"/readyz", 20*time.Second)
		stop()
		if code := p.exit(t, 20*time.Second); code != 0 {
			t.Fatalf("scheduler: exit %d\n%s", code, p.stderr.String())
		}
	})
}

// TestWorkerLeavesNoGoroutines: the worker, with its metrics server
// running, returns only after every goroutine it started has ended.
func TestWorkerLeavesNoGoroutines(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	addr := localAddr(t)
	checkStopped(t, func() {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		p := e.startInProcess(ctx, nil, "worker", "--metrics-addr", addr, "--shutdown-timeout", "5s")
		getUntilOK(t, "http://"+addr+"/readyz", 20*time.Second)
		stop()
		if code := p.exit(t, 20*time.Second); code != 0 {
			t.Fatalf("worker: exit %d\n%s", code, p.stderr.String())
		}
	})
}
