//go:build redisservers

package main

// The whole pipeline on Redis Cluster (3 masters) and on Sentinel (a
// master, a replica, a sentinel), real redis-server processes started by
// redisproc_test.go's helpers.

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// testPipeline runs submit, two workers, status, pause/resume, report,
// campaigns and retry through the binary on the Redis behind e, and checks
// one outcome per asset at each end (the fake answers in 40 ms, so the
// campaign is still running when pause comes). 2% of the assets always fail (so the
// campaign has failed assets to re-drive), until the fake is fixed.
func testPipeline(t *testing.T, e *e2e, n int) {
	const conc, workers = 16, 2
	var ws []*proc
	for i := 0; i < workers; i++ {
		ws = append(ws, e.startWorker("--concurrency", strconv.Itoa(conc)))
	}
	f := e.fake.Fake()
	// --reset-unlisted: the IDs past the fake's inventory must reach it,
	// so that its 404s are counted not_found (the snapshot would record
	// them not_in_inventory without a call).
	e.submit("--campaign", "pipe", "--csv", e.writeIDs("ids.csv", 1, n), "--yes", "--max-attempts", "2",
		"--backoff-base", "10ms", "--backoff-cap", "50ms", "--max-failure-ratio", "1", "--reset-unlisted")
	e.waitFinished("pipe", int64(n/5), 2*time.Minute)

	// Pause: once the command returns, at most the calls in flight finish.
	out, errs, code := e.run("pause", "pipe")
	if code != 0 || !strings.Contains(out, "paused") {
		t.Fatalf("pause: exit %d: %s %s", code, out, errs)
	}
	p1 := e.finished("pipe")
	time.Sleep(2 * time.Second)
	p2 := e.finished("pipe")
	if s := e.status("pipe"); s.State != "paused" {
		t.Errorf("state after pause: %s", s.State)
	}
	if p2-p1 > workers*conc {
		t.Errorf("%d assets finished in the 2s after pause returned, more than the %d calls that may be in flight", p2-p1, workers*conc)
	}
	t.Logf("paused at %d finished; %d more in the 2s after pause returned", p1, p2-p1)
	if out, errs, code := e.run("resume", "pipe"); code != 0 || !strings.Contains(out, "running") {
		t.Fatalf("resume: exit %d: %s %s", code, out, errs)
	}
	s := e.waitState("pipe", 3*time.Minute, "done")
	failing := 0
	for aid := int64(1); aid <= int64(n); aid++ {
		if f.Kind(aid) == pdcpfake.KindFailing {
			failing++
		}
	}
	oc := checkOutcomes(e, "pipe", n, func(aid int64) bool { return f.Kind(aid) == pdcpfake.KindFailing })
	if s.Counts["failed"] != int64(failing) || failing == 0 {
		t.Errorf("failed %d, want the %d assets the fake always fails", s.Counts["failed"], failing)
	}
	if len(oc.repeated) > 0 {
		t.Errorf("%d assets got a second finishing call: %v", len(oc.repeated), oc.repeated[:min(10, len(oc.repeated))])
	}
	out, errs, code = e.run("campaigns", "--json")
	var list []statusOut
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].ID != "pipe" {
		t.Errorf("campaigns --json: exit %d: %s %s", code, out, errs)
	}

	// Re-drive the failed assets once the fake stops failing them.
	f.Update(func(o *pdcpfake.Options) { o.FailFraction = 0 })
	out, errs, code = e.run("retry", "pipe", "--outcome", "failed")
	if code != 0 || !strings.Contains(out, strconv.Itoa(failing)+" assets re-enqueued") {
		t.Fatalf("retry: exit %d: %s %s", code, out, errs)
	}
	if _, ok := waitFor(2*time.Minute, func() bool {
		s := e.status("pipe")
		return s.State == "done" && s.Counts["failed"] == 0
	}); !ok {
		t.Fatalf("re-drive did not finish: %+v", e.status("pipe"))
	}
	oc = checkOutcomes(e, "pipe", n, nil)
	for aid, row := range oc.rows {
		if len(oc.calls[aid]) == 3 && row[3] != "3" {
			t.Errorf("re-driven asset %d: report attempts %s, want 3 (2 failed + 1)", aid, row[3])
		}
	}
	if len(oc.repeated) > 0 {
		t.Errorf("%d assets got a second finishing call after the re-drive", len(oc.repeated))
	}
	if out, _, code := e.run("report", "pipe", "--only", "failed"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("report --only failed after the re-drive: exit %d\n%s", code, out)
	}
	for i, w := range ws {
		if m := redisErrRE.FindString(w.output()); m != "" {
			t.Errorf("worker %d logged a Redis error: %q\n%s", i+1, m, tail(w.output(), 3000))
		}
	}
	t.Logf("%d assets, %d failed then re-driven to reset, %d calls", n, failing, len(f.Log()))
}

// redisErrRE finds Redis errors that betray a key layout or script the
// server refuses (cluster slots, unknown commands, script errors).
var redisErrRE = regexp.MustCompile(`(CROSSSLOT|MOVED|ASK |CLUSTERDOWN|NOSCRIPT|ERR [^"]*|WRONGTYPE|READONLY)[^\n]{0,200}`)

// TestClusterPipeline: the pipeline on a 3-master Redis Cluster.
func TestClusterPipeline(t *testing.T) {
	nodes := startCluster(t, 3)
	addrs := make([]string, len(nodes))
	for i, s := range nodes {
		addrs[i] = s.Addr()
	}
	e := newE2EAt(t, "redis-cluster://"+strings.Join(addrs, ","), "lr", pdcpfake.Options{Assets: 2950, Seed: 61,
		FailFraction: 0.02, FailTimes: -1, InvalidFraction: 0.01, Latency: 40 * time.Millisecond})
	testPipeline(t, e, 3000)
	// The keys are spread over the masters (the cluster is really used).
	for _, s := range nodes {
		out, _ := s.cli("DBSIZE")
		t.Logf("node %s: %s keys", s.Addr(), out)
	}
}

// TestSentinelPipeline: the pipeline through a sentinel (one master, one
// replica, quorum 1).
func TestSentinelPipeline(t *testing.T) {
	master := startRedisServer(t)
	replica := startRedisServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	if _, ok := waitFor(20*time.Second, func() bool {
		out, _ := replica.cli("INFO", "replication")
		return strings.Contains(out, "master_link_status:up")
	}); !ok {
		t.Fatal("replica not linked to the master after 20s")
	}
	sen := startSentinel(t, "mymaster", master)
	e := newE2EAt(t, "redis-sentinel://"+sen.Addr()+"/mymaster", "lr", pdcpfake.Options{Assets: 2950, Seed: 71,
		FailFraction: 0.02, FailTimes: -1, InvalidFraction: 0.01, Latency: 40 * time.Millisecond})
	testPipeline(t, e, 3000)
	out, _ := replica.cli("DBSIZE")
	t.Logf("replica holds %s keys", out)
}

// TestSentinelFailover: the sentinel promotes the replica mid-campaign
// (SENTINEL FAILOVER); the workers follow the new master by themselves and
// the campaign completes with one outcome per asset. Replication is
// asynchronous, so an outcome acknowledged by the old master just before
// the switch may be lost and its asset called again: at most the calls in
// flight of every worker.
func TestSentinelFailover(t *testing.T) {
	t.Parallel() // mostly waiting for asynq's recoverer, like TestWorkerCrashes
	const n, conc, workers = 5000, 16, 2
	master := startRedisServer(t)
	replica := startRedisServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	if _, ok := waitFor(20*time.Second, func() bool {
		out, _ := replica.cli("INFO", "replication")
		return strings.Contains(out, "master_link_status:up")
	}); !ok {
		t.Fatal("replica not linked to the master after 20s")
	}
	sen := startSentinel(t, "mymaster", master)
	// The sentinel must have discovered the replica before it can promote it.
	if _, ok := waitFor(30*time.Second, func() bool {
		out, _ := sen.cli("SENTINEL", "replicas", "mymaster")
		return strings.Contains(out, strconv.Itoa(replica.port))
	}); !ok {
		t.Fatal("sentinel has not discovered the replica after 30s")
	}
	e := newE2EAt(t, "redis-sentinel://"+sen.Addr()+"/mymaster", "lr", pdcpfake.Options{Assets: n, Seed: 81,
		Latency: 10 * time.Millisecond, LatencyJitter: 10 * time.Millisecond})
	for i := 0; i < workers; i++ {
		e.startWorker("--concurrency", strconv.Itoa(conc))
	}
	e.submit("--campaign", "failover", "--csv", e.writeIDs("ids.csv", 1, n), "--yes")
	e.waitFinished("failover", n/3, 2*time.Minute)
	before := e.finished("failover")
	if out, err := sen.cli("SENTINEL", "FAILOVER", "mymaster"); err != nil || out != "OK" {
		t.Fatalf("SENTINEL FAILOVER: %q %v", out, err)
	}
	at := time.Now()
	if _, ok := waitFor(30*time.Second, func() bool {
		out, _ := sen.cli("SENTINEL", "get-master-addr-by-name", "mymaster")
		return strings.Contains(out, strconv.Itoa(replica.port))
	}); !ok {
		t.Fatal("the replica was not promoted within 30s")
	}
	promoted := time.Since(at)
	e.waitState("failover", 3*time.Minute, "done")
	oc := checkOutcomes(e, "failover", n, nil)
	t.Logf("%d assets, failover at %d finished, replica promoted in %v, done %v after the failover; repeated finishing calls %d (bound %d)",
		n, before, promoted.Round(100*time.Millisecond), time.Since(at).Round(100*time.Millisecond), len(oc.repeated), workers*maxRepeats(conc))
	// Calls in flight plus outcomes waiting for their (replicated) write:
	// at most three times the concurrency per worker.
	if len(oc.repeated) > workers*maxRepeats(conc) {
		t.Errorf("%d assets got a second finishing call across a failover, more than the %d calls in flight or unrecorded", len(oc.repeated), workers*maxRepeats(conc))
	}
}
