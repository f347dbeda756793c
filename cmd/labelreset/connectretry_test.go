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
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// TestConnectRetryWaitsForRedis: a Redis that comes up after the process
// is connected to, with retries 500ms apart, then doubling.
func TestConnectRetryWaitsForRedis(t *testing.T) {
	t.Parallel()
	addr, release := refusingAddr(t)
	var logs bytes.Buffer
	a := newApp(nil, io.Discard, io.Discard, func(string) string { return "" })
	a.log = slog.New(slog.NewJSONHandler(&logs, nil))
	mr := miniredis.NewMiniRedis()
	up := time.AfterFunc(3*time.Second, func() {
		release()
		if err := mr.StartAddr(addr); err != nil {
			t.Errorf("start Redis at %s: %v", addr, err)
		}
	})
	defer up.Stop()
	defer mr.Close()

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
// down; release frees the port for the test's own Redis.
func refusingAddr(t *testing.T) (addr string, release func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var once sync.Once
	release = func() {
		once.Do(func() {
			ln.Close()
			<-done
		})
	}
	t.Cleanup(release)
	return ln.Addr().String(), release
}
