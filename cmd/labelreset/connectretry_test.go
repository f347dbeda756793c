package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// TestConnectRetryWaitsForRedis: a Redis that comes up after the process
// is connected to, with retries 500ms apart, then doubling.
func TestConnectRetryWaitsForRedis(t *testing.T) {
	t.Parallel()
	addr, forward := refusingAddr(t)
	var logs bytes.Buffer
	a := newApp(nil, io.Discard, io.Discard, func(string) string { return "" })
	a.log = slog.New(slog.NewJSONHandler(&logs, nil))
	mr := miniredis.RunT(t)
	up := time.AfterFunc(3*time.Second, func() { forward(mr.Addr()) })
	defer up.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, rdb, err := a.connectRetry(ctx, &redisFlags{url: "redis://" + addr})
	if err != nil {
		t.Fatalf("connectRetry: %v", err)
	}
	a.closeRedis(rdb)
	var delays []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			RetryIn time.Duration `json:"retry_in"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		delays = append(delays, rec.RetryIn.String())
	}
	// How many retries fit before Redis is up depends on how long a
	// failed connect takes; their delays do not.
	want := "500ms 1s 2s 4s"
	if got := strings.Join(delays, " "); len(delays) == 0 || !strings.HasPrefix(want+" ", got+" ") {
		t.Errorf("retry delays %q, want a start of %q", got, want)
	}
	t.Logf("retry delays %q", strings.Join(delays, " "))
}

// TestConnectRetryEndsWithContext: with Redis never up, connectRetry
// returns the connection error once ctx ends, not after its next delay.
func TestConnectRetryEndsWithContext(t *testing.T) {
	t.Parallel()
	a := newApp(nil, io.Discard, io.Discard, func(string) string { return "" })
	a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	addr, _ := refusingAddr(t)
	_, _, err := a.connectRetry(ctx, &redisFlags{url: "redis://" + addr})
	if err == nil {
		t.Fatal("connectRetry succeeded with no Redis")
	}
	// Delays 500ms, 1s, 2s: the third wait is cut by ctx at 2s.
	if el := time.Since(start); el > 3500*time.Millisecond {
		t.Errorf("connectRetry returned %v after start, want about 2s (its context's end)", el)
	}
}

// refusingAddr holds a loopback port whose connections are closed at once,
// so that no Redis of a parallel test can take it while the test wants it
// down. forward(target) makes it a Redis from then on: later connections
// are relayed to target. The port is never let go while the test runs: a
// port freed for the test's own Redis to bind could be taken in between
// (as any process's outgoing connection's local port, under load).
func refusingAddr(t *testing.T) (addr string, forward func(target string)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var to atomic.Value
	to.Store("")
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			target := to.Load().(string)
			if target == "" {
				c.Close()
				continue
			}
			wg.Go(func() { relay(c, target) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String(), func(target string) { to.Store(target) }
}

// relay copies between c and a new connection to target until either
// side ends.
func relay(c net.Conn, target string) {
	defer c.Close()
	u, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); done <- struct{}{} }()
	go func() { io.Copy(c, u); done <- struct{}{} }()
	<-done
}
