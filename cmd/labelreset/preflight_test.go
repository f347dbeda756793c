package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestPreflightStops: a closed port or a refused key stops run and submit
// at once with the reason and the matching exit code, before anything is
// enqueued and without a label call; a producer without a key of its own
// still submits (its workers bring theirs).
func TestPreflightStops(t *testing.T) {
	t.Parallel()
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	addr := closedAddr(t)
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want []string // in stderr
	}{
		{"run, closed port", []string{"PDCP_API_SERVER=http://" + addr}, []string{"run", "--ids", "1,2,3"},
			exitFailed, []string{"unreachable", addr, "connection refused", "nothing was enqueued", "--no-preflight"}},
		{"run, wrong key", []string{"PDCP_API_KEY=wrong-key-0123"}, []string{"run", "--ids", "1,2,3", "--yes"},
			exitUsage, []string{"API key or team refused", "HTTP 401", "check the API key", "nothing was enqueued"}},
		{"submit, closed port", []string{"PDCP_API_SERVER=http://" + addr}, []string{"submit", "--ids", "1,2,3", "--yes"},
			exitFailed, []string{"unreachable", addr, "connection refused"}},
		{"submit, wrong key", []string{"PDCP_API_KEY=wrong-key-0123"}, []string{"submit", "--ids", "1,2,3", "--yes"},
			exitUsage, []string{"API key or team refused"}},
		// A campaign recording a server its own configuration refuses
		// (plain http:// to another host without --insecure-http) is one
		// no worker configured the same way would take.
		{"submit, refused configuration", []string{"PDCP_API_SERVER=http://10.1.2.3"}, []string{"submit", "--ids", "1,2,3", "--yes"},
			exitUsage, []string{"refusing plain http://", "nothing was enqueued"}},
	}
	for _, tc := range tests {
		before := e.namespaceKeys()
		env := e.env
		e.env = append(slices.Clone(env), tc.env...)
		out, errs, code := e.run(tc.args...)
		e.env = env
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", tc.name, code, tc.code, out, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, w, errs)
			}
		}
		if strings.Contains(out+errs, "wrong-key-0123") {
			t.Errorf("%s: the API key was printed:\n%s%s", tc.name, out, errs)
		}
		if after := e.namespaceKeys(); after != before {
			t.Errorf("%s: Redis keys of the namespace %d -> %d, want nothing enqueued", tc.name, before, after)
		}
	}
	if n := e.fake.Fake().Stats().LabelCalls; n != 0 {
		t.Errorf("%d label calls, want none", n)
	}

	// No key on the producer: nothing to check, submit works as before.
	env := e.env
	e.env = append(slices.Clone(env), "PDCP_API_KEY=")
	out, errs, code := e.run("submit", "--campaign", "keyless", "--ids", "1,2,3", "--yes")
	e.env = env
	if code != 0 || !strings.Contains(out, "campaign keyless created") {
		t.Errorf("submit without a key: exit %d\n%s%s", code, out, errs)
	}
}

// TestPreflightServerErrorWarns: a 5xx to the preflight is a warning; the
// campaign runs (the label calls succeed).
func TestPreflightServerErrorWarns(t *testing.T) {
	t.Parallel()
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"message":"upstream down","code":"BAD_GATEWAY"}`)
			return
		}
		io.WriteString(w, `{"message":"All labels removed successfully"}`)
	}))
	t.Cleanup(srv.Close)
	out, errs, code := e.run("run", "--campaign", "warned", "--ids", "1,2,3", "--api-server", srv.URL,
		"--no-snapshot") // its listing always fails: a snapshot would never complete
	if code != 0 || !strings.Contains(out, "reset 3") {
		t.Fatalf("run: exit %d, want 0 with 3 reset\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "preflight: warning: API server error "+srv.URL+": HTTP 502") {
		t.Errorf("stderr lacks the preflight warning:\n%s", errs)
	}
}

// TestNoPreflight: --no-preflight skips the check; the campaign is
// enqueued, its assets fail on the closed port, and the summaries of run
// and status say why.
func TestNoPreflight(t *testing.T) {
	t.Parallel()
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	addr := closedAddr(t)
	out, errs, code := e.run("run", "--campaign", "skipped", "--ids", "1,2,3", "--no-preflight",
		"--api-server", "http://"+addr, "--max-attempts", "1", "--no-snapshot") // nothing to list on a closed port
	if code != exitFailed || !strings.Contains(out, "failed 3") {
		t.Fatalf("run --no-preflight: exit %d, want %d with 3 failed\n%s%s", code, exitFailed, out, errs)
	}
	if strings.Contains(errs, "preflight") {
		t.Errorf("--no-preflight still ran the preflight:\n%s", errs)
	}
	// While running, the repeated network errors are warned about.
	if w := "3 network errors in the last"; !strings.Contains(errs, w) || !strings.Contains(errs, addr) {
		t.Errorf("stderr lacks %q naming %s:\n%s", w, addr, errs)
	}
	// Every summary names the cause, with its count: one reason, whatever
	// the per-asset detail (the address is masked; stderr names it).
	want := "top failure reasons: 3 × dial tcp #.#.#.#:#: "
	if !strings.Contains(out, want) {
		t.Errorf("run's summary lacks %q:\n%s", want, out)
	}
	if st, _, _ := e.run("status", "skipped"); !strings.Contains(st, want) {
		t.Errorf("status lacks %q:\n%s", want, st)
	}
}
