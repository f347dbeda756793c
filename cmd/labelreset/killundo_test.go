package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// The hard-kill counterpart of worker/snapshot_e2e_test.go's graceful
// stops (issue 17): the built binaries, the pdcp-fake process, and a
// worker SIGKILLed during the snapshot and again during the restore.

var (
	fakeBinOnce sync.Once
	fakeBin     string
	fakeBinErr  error
)

// pdcpFakeBinary builds cmd/pdcp-fake once, beside the labelreset binary
// (TestMain removes that directory). Only the tests that need the fake as
// a process pay for the build.
func pdcpFakeBinary(t *testing.T) string {
	t.Helper()
	fakeBinOnce.Do(func() {
		fakeBin = filepath.Join(filepath.Dir(binary), "pdcp-fake")
		out, err := exec.Command("go", "build", "-o", fakeBin, "../pdcp-fake").CombinedOutput()
		if err != nil {
			fakeBinErr = fmt.Errorf("build pdcp-fake: %w\n%s", err, out)
		}
	})
	if fakeBinErr != nil {
		t.Fatal(fakeBinErr)
	}
	return fakeBin
}

// fakeProc is a pdcp-fake process, driven over HTTP only.
type fakeProc struct {
	t   *testing.T
	url string
}

// startFakeProc starts pdcp-fake with args on a free loopback port and
// waits for its listening line.
func startFakeProc(t *testing.T, args ...string) *fakeProc {
	t.Helper()
	cmd := exec.Command(pdcpFakeBinary(t), append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	urlc := make(chan string, 1)
	var logMu sync.Mutex
	var logs strings.Builder
	go func() {
		re := regexp.MustCompile(`listening on (http://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	select {
	case u := <-urlc:
		return &fakeProc{t: t, url: u}
	case <-done:
	case <-time.After(time.Minute):
	}
	logMu.Lock()
	defer logMu.Unlock()
	t.Fatalf("pdcp-fake did not start listening:\n%s", logs.String())
	return nil
}

// get decodes the JSON answer of GET path into v.
func (f *fakeProc) get(path string, v any) {
	f.t.Helper()
	resp, err := http.Get(f.url + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
}

func (f *fakeProc) stats() pdcpfake.Stats {
	var s pdcpfake.Stats
	f.get("/_fake/stats", &s)
	return s
}

// labels is every asset's labels (GET /_fake/labels).
func (f *fakeProc) labels() map[int64][]string {
	f.t.Helper()
	var raw map[string][]string
	f.get("/_fake/labels", &raw)
	out := make(map[int64][]string, len(raw))
	for k, v := range raw {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			f.t.Fatal(err)
		}
		out[id] = v
	}
	return out
}

// calls is the fake's log of label calls (GET /_fake/calls).
func (f *fakeProc) calls() []pdcpfake.Call {
	f.t.Helper()
	resp, err := http.Get(f.url + "/_fake/calls")
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []pdcpfake.Call
	for dec := json.NewDecoder(resp.Body); dec.More(); {
		var c pdcpfake.Call
		if err := dec.Decode(&c); err != nil {
			f.t.Fatalf("GET /_fake/calls: %v", err)
		}
		out = append(out, c)
	}
	return out
}

// snapStatus is status --json with the snapshot's progress.
type snapStatus struct {
	State    string           `json:"state"`
	Total    int64            `json:"total"`
	Counts   map[string]int64 `json:"counts"`
	Snapshot *struct {
		Complete   bool      `json:"complete"`
		Pages      int64     `json:"pages"`
		Listed     int64     `json:"listed"`
		FinishedAt time.Time `json:"finished_at"`
	} `json:"snapshot"`
}

func (e *e2e) snapStatus(id string) snapStatus {
	e.t.Helper()
	out, errs, code := e.run("status", id, "--json")
	if code != 0 {
		e.t.Fatalf("status %s: exit %d: %s", id, code, errs)
	}
	var s snapStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("status %s --json %q: %v", id, out, err)
	}
	return s
}

// pollUntil calls cond until it is true, failing the test after timeout
// with what. Generous timeouts: the host may be busy and -race slow.
func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKillWorkerDuringSnapshotAndRestore: 10,000 assets with varied
// labels on a pdcp-fake process that caps pages at 300, fails a tenth of
// the listing requests, fails label calls (503, 429) and labels 30% of
// the assets again right after their reset. A worker is SIGKILLed halfway
// through the snapshot: its successor continues from the checkpoint (it
// lists only what was not checkpointed), no label call arrives before the
// snapshot is complete, every asset gets one outcome and the IDs outside
// the inventory none but not_in_inventory. Undo's worker is SIGKILLed
// halfway through the restore; after its successor, every asset holds its
// original labels plus what was added after its reset, asset by asset.
// verify then finds the source's removed labels back (exit 1) and the
// restore's labels present (exit 0).
//
// Each kill waits for asynq to recover the killed worker's active tasks
// (a 30 s lease, then a recoverer pass once a minute), so the test takes
// a few minutes whatever the host.
func TestKillWorkerDuringSnapshotAndRestore(t *testing.T) {
	t.Parallel()
	const (
		n        = 10000
		unlisted = 40
		pageCap  = 300
	)
	fake := startFakeProc(t, "--assets", strconv.Itoa(n), "--seed", "17", "--labels", "varied",
		"--list-limit-cap", strconv.Itoa(pageCap), "--list-fail-fraction", "0.1",
		"--fail-fraction", "0.03", "--fail-status", "503", "--throttle-fraction", "0.01",
		"--edit-after-reset", "0.3")
	r := redistest.New(t)
	e := &e2e{t: t, redis: r, dir: t.TempDir()}
	e.env = append(os.Environ(),
		"REDIS_URL="+r.URL, "LABELRESET_NAMESPACE="+r.Namespace,
		"PDCP_API_KEY=test-key", "PDCP_API_SERVER="+fake.url, "PDCP_TEAM_ID=",
		"HOME="+e.dir, "LABELRESET_RATE=0",
	)
	before := fake.labels()
	if len(before) != n {
		t.Fatalf("the fake lists %d assets, want %d", len(before), n)
	}
	withLabels := 0
	for _, l := range before {
		if slices.Contains(l, "edited-later") {
			t.Fatalf("a seeded asset carries the edit label already: %q", l)
		}
		if len(l) > 0 {
			withLabels++
		}
	}
	if withLabels == 0 || withLabels == n {
		t.Fatalf("%d of %d assets seeded with labels: want both kinds", withLabels, n)
	}

	// The snapshot, killed halfway. --rate 5 makes its ~40 pages take
	// some 8 s, room for status to see it half done.
	// One CSV of all IDs: a campaign of one segment, one snapshot task.
	var b strings.Builder
	b.WriteString("asset_id\n")
	for id := 1; id <= n; id++ {
		fmt.Fprintf(&b, "%d\n", id)
	}
	for id := 50001; id < 50001+unlisted; id++ {
		fmt.Fprintf(&b, "%d\n", id)
	}
	all := filepath.Join(e.dir, "ids.csv")
	if err := os.WriteFile(all, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	victim := e.startWorker("--rate", "5")
	if out, errs, code := e.run("submit", "--campaign", "src", "--csv", all, "--yes"); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	var atKill snapStatus
	pollUntil(t, 2*time.Minute, "the snapshot never got halfway before completing", func() bool {
		atKill = e.snapStatus("src")
		if atKill.Snapshot != nil && atKill.Snapshot.Complete {
			t.Fatalf("the snapshot completed before the kill (listed %d): too fast for this test", atKill.Snapshot.Listed)
		}
		return atKill.Snapshot != nil && atKill.Snapshot.Listed >= n/2
	})
	victim.cmd.Process.Kill()
	<-victim.done
	killStats := fake.stats()
	if killStats.LabelCalls != 0 {
		t.Fatalf("%d label calls before the snapshot completed", killStats.LabelCalls)
	}
	t.Logf("killed the worker with the snapshot at %d pages, %d assets listed (checkpointed); fake answered %d listing requests (%d failed)",
		atKill.Snapshot.Pages, atKill.Snapshot.Listed, killStats.ListCalls, killStats.ByStatus[500])

	successor := e.startWorker()
	src := e.waitSnap("src", 5*time.Minute)
	endStats := fake.stats()
	okPages := func(s pdcpfake.Stats) int64 { return s.ListCalls - s.ByStatus[500] }
	full := src.Snapshot.Pages // non-empty pages of the whole listing, as checkpointed
	// The successor lists what was not checkpointed at the kill, plus the
	// empty page that ends the listing; starting over would list it all.
	if second, most := okPages(endStats)-okPages(killStats), full-atKill.Snapshot.Pages+1; second > most {
		t.Errorf("the successor listed %d pages, want at most %d (the %d of the listing's %d pages not checkpointed at the kill, and the empty one): it started over",
			second, most, full-atKill.Snapshot.Pages, full)
	}
	if total := okPages(endStats); total >= 2*full {
		t.Errorf("%d pages listed in all, want fewer than two listings (%d)", total, 2*full)
	}
	if src.Snapshot.Listed > n+n/4 {
		t.Errorf("snapshot listed %d assets of an inventory of %d", src.Snapshot.Listed, n)
	}
	t.Logf("snapshot complete: %d pages, %d assets listed; fake answered %d listing requests (%d failed)",
		full, src.Snapshot.Listed, endStats.ListCalls, endStats.ByStatus[500])

	calls := fake.calls()
	if len(calls) == 0 {
		t.Fatal("the fake logged no label call")
	}
	first := calls[0].Time
	for _, c := range calls {
		if c.Time.Before(first) {
			first = c.Time
		}
	}
	if first.Before(src.Snapshot.FinishedAt) {
		t.Errorf("first label call at %s, before the snapshot completed at %s", first.Format(time.RFC3339Nano), src.Snapshot.FinishedAt.Format(time.RFC3339Nano))
	}
	called := map[int64]bool{}
	for _, c := range calls {
		called[c.AssetID] = true
	}
	rows := e.report("src")
	if len(rows) != n+unlisted {
		t.Fatalf("report has %d rows, want %d", len(rows), n+unlisted)
	}
	for id := int64(1); id <= n; id++ {
		if got := rows[id][1]; got != "reset" {
			t.Errorf("asset %d: outcome %q, want reset", id, got)
		}
	}
	for id := int64(50001); id < 50001+unlisted; id++ {
		if got := rows[id][1]; got != "not_in_inventory" || rows[id][3] != "0" || called[id] {
			t.Errorf("asset %d (not in the inventory): outcome %q after %s attempts, called %v; want not_in_inventory, uncalled",
				id, got, rows[id][3], called[id])
		}
	}
	// What others added after each reset, to be kept by the undo.
	afterReset := fake.labels()
	edited := 0
	for id, l := range afterReset {
		switch {
		case len(l) == 0:
		case len(l) == 1 && l[0] == "edited-later":
			edited++
		default:
			t.Fatalf("asset %d holds %q after its reset", id, l)
		}
	}
	if edited < n/10 {
		t.Fatalf("%d assets edited after their reset, want about 30%%", edited)
	}

	// The restore, killed halfway: by then its worker is the only one.
	successor.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-successor.done:
	case <-time.After(time.Minute):
		t.Fatal("the snapshot's successor did not stop within a minute of SIGTERM")
	}
	var undone struct {
		ID string `json:"id"`
	}
	victim = e.startWorker("--rate", "100")
	out, errs, code := e.run("undo", "src", "--yes", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &undone) != nil || undone.ID == "" {
		t.Fatalf("undo: exit %d\n%s\n%s", code, out, errs)
	}
	pollUntil(t, 3*time.Minute, "the restore never got going", func() bool {
		s := e.snapStatus(undone.ID)
		if s.State == "done" {
			t.Fatalf("the restore finished before the kill: too fast for this test")
		}
		return s.Counts["restored"] >= 200
	})
	victim.cmd.Process.Kill()
	<-victim.done
	s := e.snapStatus(undone.ID)
	if s.Counts["restored"] >= int64(withLabels) {
		t.Fatalf("the restore was complete at the kill (%v)", s.Counts)
	}
	t.Logf("killed the worker with the restore at %v", s.Counts)
	e.startWorker()
	s = e.waitSnap(undone.ID, 5*time.Minute)
	if s.Counts["restored"] != int64(withLabels) || s.Counts["restored"]+s.Counts["unchanged"] != s.Total {
		t.Errorf("restore counts %v of %d, want restored %d and the rest unchanged", s.Counts, s.Total, withLabels)
	}
	restoreRows := e.report(undone.ID)
	if int64(len(restoreRows)) != s.Total {
		t.Errorf("restore report has %d rows, want %d", len(restoreRows), s.Total)
	}
	for id, row := range restoreRows {
		want := "unchanged"
		if len(before[id]) > 0 {
			want = "restored"
		}
		if row[1] != want {
			t.Errorf("restore: asset %d: outcome %q, want %q", id, row[1], want)
		}
	}
	want := make(map[int64][]string, n)
	for id, l := range before {
		want[id] = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(l), afterReset[id]...))))
	}
	sameLabels(t, "after the undo", want, fake.labels())

	// verify: the source's removed labels are back (every asset that had
	// some is wrong now); the restore's are all there.
	var v struct {
		OK     bool             `json:"ok"`
		Counts map[string]int64 `json:"counts"`
	}
	out, errs, code = e.run("verify", "src", "--json")
	if code != 1 || json.Unmarshal([]byte(out), &v) != nil || v.Counts["wrong"] != int64(withLabels) {
		t.Errorf("verify of the undone source: exit %d, counts %v; want exit 1 with %d wrong\n%s\n%s", code, v.Counts, withLabels, out, errs)
	}
	out, errs, code = e.run("verify", undone.ID, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || !v.OK || v.Counts["ok"] != int64(withLabels) {
		t.Errorf("verify of the restore: exit %d, counts %v; want exit 0 with %d ok\n%s\n%s", code, v.Counts, withLabels, out, errs)
	}
}

// waitSnap polls status until campaign id is done.
func (e *e2e) waitSnap(id string, timeout time.Duration) snapStatus {
	e.t.Helper()
	var s snapStatus
	pollUntil(e.t, timeout, "campaign "+id+" not done", func() bool {
		s = e.snapStatus(id)
		return s.State == "done"
	})
	return s
}
