package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// metricValue reads one sample (name with its labels, as exposed) from a
// /metrics endpoint; -1 when it is not there.
func metricValue(t *testing.T, addr, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", sample, v)
			}
			return f
		}
	}
	return -1
}

// TestRunLeavesOtherCampaignsAlone (issue 15 item 4): on a shared Redis
// and namespace, campaign A is submitted for PDCP server 1 and waits for a
// worker. `run` of campaign B against server 2 works B only: server 2
// gets no call for A's IDs and A's assets get no outcome. A worker for
// server 2 leaves A alone too, says so once in its log and counts the
// skips; a worker for server 1 then finishes A there.
func TestRunLeavesOtherCampaignsAlone(t *testing.T) {
	t.Parallel()
	const nA = 400
	e := newE2E(t, pdcpfake.Options{Assets: 2000}) // server 1, PDCP_API_SERVER of every command
	fake2 := pdcpfake.NewServer(pdcpfake.Options{APIKey: "test-key", Assets: 2000})
	t.Cleanup(fake2.Close)
	f1, f2 := e.fake.Fake(), fake2.Fake()

	csvA := e.writeIDs("a.csv", 1, nA)
	if out, errs, code := e.run("submit", "--campaign", "A", "--csv", csvA, "--yes"); code != 0 {
		t.Fatalf("submit A: exit %d: %s %s", code, out, errs)
	}
	if s := e.status("A"); s.State != "running" {
		t.Fatalf("A is %s, want running (waiting for a worker)", s.State)
	}
	if out, _, _ := e.run("status", "A", "--json"); !strings.Contains(out, `"api_server": "`+e.fake.URL()+`"`) {
		t.Errorf("status of A does not show the API server it was planned against (%s):\n%s", e.fake.URL(), out)
	}

	out, errs, code := e.run("run", "--campaign", "B", "--ids", "1001,1002,1003,1004,1005",
		"--api-server", fake2.URL(), "--concurrency", "8")
	if code != 0 || !strings.Contains(out, "campaign B done: 5 assets — reset 5") {
		t.Fatalf("run B: exit %d\n%s\n%s", code, out, errs)
	}
	checkAUntouched := func(when string) {
		t.Helper()
		for id := int64(1); id <= nA; id++ {
			if c := f2.Calls(id); len(c) > 0 {
				t.Fatalf("%s: server 2 got %d calls for asset %d of campaign A (planned for server 1)", when, len(c), id)
			}
		}
		s := e.status("A")
		for o, n := range s.Counts {
			if o != "pending" && n != 0 {
				t.Fatalf("%s: campaign A has %d assets %s, want no outcome (counts %v)", when, n, o, s.Counts)
			}
		}
		if s.State != "running" {
			t.Fatalf("%s: campaign A is %s, want running", when, s.State)
		}
	}
	checkAUntouched("after run B")

	// A worker for server 2 on the shared Redis: skips A's batches, says
	// so once, counts them.
	addr := freeAddr(t)
	w2 := e.start("worker", "--api-server", fake2.URL(), "--metrics-addr", addr, "--concurrency", "8", "--shutdown-timeout", "5s")
	const sample = `labelreset_batches_skipped_total{reason="api_server_mismatch"}`
	deadline := time.Now().Add(90 * time.Second)
	for metricValue(t, addr, sample) < 8 { // each of A's 4 batches skipped twice
		if time.Now().After(deadline) {
			t.Fatalf("worker for server 2: %s = %v after 90s, want >= 8\n%s", sample, metricValue(t, addr, sample), tail(w2.output(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkAUntouched("with a worker for server 2")
	if n := strings.Count(w2.output(), "planned against another server"); n != 1 {
		t.Errorf("worker for server 2 logged the skip of campaign A %d times, want once:\n%s", n, tail(w2.output(), 3000))
	}
	if !strings.Contains(w2.output(), "campaign=A") {
		t.Errorf("the skip log does not name campaign A:\n%s", tail(w2.output(), 3000))
	}

	// The worker for server 1 finishes A there.
	e.startWorker()
	s := e.waitState("A", 2*time.Minute, "done")
	if s.Counts["reset"] != nA {
		t.Errorf("campaign A: %v, want %d reset", s.Counts, nA)
	}
	for id := int64(1); id <= nA; id++ {
		if len(f1.Calls(id)) != 1 || len(f2.Calls(id)) != 0 {
			t.Fatalf("asset %d: %d calls to server 1, %d to server 2; want 1 and 0", id, len(f1.Calls(id)), len(f2.Calls(id)))
		}
	}
	if s := e.status("B"); s.TeamID != "" || s.State != "done" {
		t.Errorf("campaign B: %+v", s)
	}
}

// TestLegacyCampaignWithoutServer: a campaign stored by an earlier
// version, without an API server, is worked by any worker, as before.
func TestLegacyCampaignWithoutServer(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	if out, errs, code := e.run("submit", "--campaign", "old", "--ids", "1,2,3", "--yes"); code != 0 {
		t.Fatalf("submit: exit %d: %s %s", code, out, errs)
	}
	meta := e.redis.Namespace + ":{old}:meta"
	if n, err := e.redis.Client.HDel(context.Background(), meta, "server").Result(); err != nil || n != 1 {
		t.Fatalf("HDEL %s server: %d, %v (the campaign should have recorded its server)", meta, n, err)
	}
	// A worker for another server than the one submit used: the legacy
	// campaign names none, so it is worked, as before.
	fake2 := pdcpfake.NewServer(pdcpfake.Options{APIKey: "test-key", Assets: 100})
	t.Cleanup(fake2.Close)
	e.startWorker("--api-server", fake2.URL()+"/")
	if s := e.waitState("old", time.Minute, "done"); s.Counts["reset"] != 3 {
		t.Errorf("legacy campaign: %+v, want 3 reset", s)
	}
	for id := int64(1); id <= 3; id++ {
		if n := len(fake2.Fake().Calls(id)); n != 1 {
			t.Errorf("asset %d: %d calls to the worker's server, want 1", id, n)
		}
	}
}
