package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestSecondWorkerSameMetricsAddr: two workers on one host with the same
// --metrics-addr. The second one's port is in use: a configuration error
// (exit 2) naming the flag and the address, and it takes no batch.
func TestSecondWorkerSameMetricsAddr(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	addr := freeAddr(t)
	first := e.start("worker", "--metrics-addr", addr, "--shutdown-timeout", "5s")
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first worker never served %s: %v\n%s", addr, err, first.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, errs, code := e.run("worker", "--metrics-addr", addr, "--shutdown-timeout", "5s")
	want := "--metrics-addr " + addr + ": address already in use"
	if code != exitUsage || !strings.Contains(errs, want) {
		t.Fatalf("second worker: exit %d, want %d with %q; stderr:\n%s", code, exitUsage, want, errs)
	}
}

// TestListenFlagsInUse: every other listen flag says the same: serve
// --addr, scheduler --metrics-addr and run --metrics-addr (before run
// submits anything).
func TestListenFlagsInUse(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	csv := e.writeIDs("ids.csv", 1, 3)
	sched := filepath.Join(e.dir, "schedules.yaml")
	if err := os.WriteFile(sched, []byte("schedules:\n  - name: s\n    cron: \"0 3 * * *\"\n    source:\n      csv:\n        path: "+csv+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flag string
		args []string
	}{
		{"--addr", []string{"serve", "--insecure-no-auth", "--addr", addr}},
		{"--metrics-addr", []string{"scheduler", "--config", sched, "--metrics-addr", addr}},
		{"--metrics-addr", []string{"run", "--campaign", "port", "--ids", "1,2,3", "--metrics-addr", addr}},
	} {
		_, errs, code := e.run(c.args...)
		want := c.flag + " " + addr + ": address already in use"
		if code != exitUsage || !strings.Contains(errs, want) {
			t.Errorf("%s: exit %d, want %d with %q; stderr:\n%s", c.args[0], code, exitUsage, want, errs)
		}
	}
	if out, _, _ := e.run("campaigns", "--json"); strings.Contains(out, `"port"`) {
		t.Errorf("run submitted its campaign although its metrics port was in use:\n%s", out)
	}
}
