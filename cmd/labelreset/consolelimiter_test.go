package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
	"github.com/labelreset/labelreset/worker/ratelimit"
)

// TestConsoleLimiterReadsTheWorkersBudget: serve's console reads the
// limiter the workers of the same API key and server share (the same
// limiterKey, resolved the same way), and shows nothing for campaigns of
// another server or without an API key.
func TestConsoleLimiterReadsTheWorkersBudget(t *testing.T) {
	env := redistest.New(t)
	getenv := func(k string) string {
		return map[string]string{"PDCP_API_KEY": "key-of-the-account", "PDCP_API_SERVER": "http://127.0.0.1:9"}[k]
	}
	a := newApp(strings.NewReader(""), io.Discard, io.Discard, getenv)
	a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := a.parseServeFlags([]string{"--namespace", env.Namespace, "--rate", "40",
		"--credentials", filepath.Join(t.TempDir(), "none.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	server, err := a.apiServer(f.apiServer, f.credentials)
	if err != nil {
		t.Fatal(err)
	}
	read := a.consoleLimiter(f, server, env.Client)
	if read == nil {
		t.Fatal("no limiter reader with an API key in the environment")
	}

	// A worker's limiter, keyed as buildWorker keys it.
	af := &apiFlags{credentials: f.credentials}
	ccfg, err := af.resolve(getenv, 1)
	if err != nil {
		t.Fatal(err)
	}
	lim, err := ratelimit.New(env.Client, ratelimit.Config{Key: limiterKey(f.rf.namespace, ccfg), Rate: 40, AIMD: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	until := time.Now().Add(5 * time.Second)
	if err := lim.PauseUntil(context.Background(), until); err != nil {
		t.Fatal(err)
	}
	st, err := read(context.Background(), &jobs.Campaign{ID: "c", Server: server})
	if err != nil || st == nil {
		t.Fatalf("state: %v %v", st, err)
	}
	if st.Rate != 40 || st.PausedUntil.Sub(until).Abs() > time.Second {
		t.Fatalf("state %+v: want rate 40 paused until about %v", st, until)
	}
	if st, err := read(context.Background(), &jobs.Campaign{ID: "c", Server: client.DefaultServer}); st != nil || err != nil {
		t.Fatalf("campaign of another server: %+v %v, want not known", st, err)
	}

	noKey := newApp(strings.NewReader(""), io.Discard, io.Discard, func(string) string { return "" })
	noKey.log = a.log
	if noKey.consoleLimiter(f, server, env.Client) != nil {
		t.Fatal("a limiter reader without an API key")
	}
}
