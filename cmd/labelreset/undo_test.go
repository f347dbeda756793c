package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// The end-to-end tests of snapshot, undo and verify (issue 17): the
// built binary, the fake PDCP over HTTP with varied labels, a real Redis
// (REDIS_ADDR) or the embedded one for run and undo --snapshot.

// runIn is run with dir as the working directory (run writes its
// snapshot file there; "" is the test's own).
func (e *e2e) runIn(dir string, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env, cmd.Dir = e.env, dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// withoutRedis drops REDIS_URL, so run and undo --snapshot use the
// embedded Redis.
func (e *e2e) withoutRedis() {
	var env []string
	for _, kv := range e.env {
		if !strings.HasPrefix(kv, "REDIS_URL=") {
			env = append(env, kv)
		}
	}
	e.env = env
}

// fakeLabels reads every asset's labels from the fake over HTTP
// (GET /_fake/labels), as a test driving a pdcp-fake process would.
func (e *e2e) fakeLabels() map[int64][]string {
	e.t.Helper()
	return (&fakeProc{t: e.t, url: e.fake.URL()}).labels()
}

// sameLabels compares label sets asset by asset, order ignored, and
// reports every asset that differs.
func sameLabels(t *testing.T, what string, want, got map[int64][]string) {
	t.Helper()
	bad := 0
	for id, w := range want {
		g := got[id]
		ws, gs := slices.Sorted(slices.Values(w)), slices.Sorted(slices.Values(g))
		if !slices.Equal(ws, gs) {
			if bad++; bad <= 10 {
				t.Errorf("%s: asset %d: labels %q, want %q", what, id, gs, ws)
			}
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d assets differ in all", what, bad)
	}
}

// idRange is "first,...,last".
func idRange(first, last int) string {
	ids := make([]string, 0, last-first+1)
	for i := first; i <= last; i++ {
		ids = append(ids, strconv.Itoa(i))
	}
	return strings.Join(ids, ",")
}

// withLabels counts the assets of ids that hold labels.
func withLabels(labels map[int64][]string, first, last int64) int64 {
	n := int64(0)
	for id := first; id <= last; id++ {
		if len(labels[id]) > 0 {
			n++
		}
	}
	return n
}

// TestRunWritesSnapshotFileAndUndoRestoresIt: run on the embedded Redis
// writes the snapshot file and says where (also in --json), refuses to
// start when the file exists (no PDCP label call), and undo --snapshot on
// the embedded Redis puts every asset's labels back, compared asset by
// asset. The file's team and server are enforced.
func TestRunWritesSnapshotFileAndUndoRestoresIt(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 300, Labels: pdcpfake.LabelsVaried, Seed: 7})
	e.withoutRedis()
	before := e.fakeLabels()
	if n := withLabels(before, 1, 300); n == 0 || n == 300 {
		t.Fatalf("fake seeded %d of 300 assets with labels: want some with and some without", n)
	}
	dir := t.TempDir()
	out, errs, code := e.runIn(dir, "run", "--campaign", "c1", "--ids", idRange(1, 310), "--yes", "--json")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
	}
	file := filepath.Join(dir, "labelreset-c1.snapshot.jsonl.gz")
	var sum struct {
		SnapshotFile string           `json:"snapshot_file"`
		Counts       map[string]int64 `json:"counts"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("run --json: %v:\n%s", err, out)
	}
	if sum.SnapshotFile != "labelreset-c1.snapshot.jsonl.gz" || !strings.Contains(errs, "labelreset-c1.snapshot.jsonl.gz") {
		t.Errorf("run --json snapshot_file %q, stderr:\n%s\nwant the file named in both", sum.SnapshotFile, errs)
	}
	if !strings.Contains(errs, "labelreset-c1.snapshot.jsonl.gz rewritten with the outcomes") {
		t.Errorf("run did not say that it rewrote the snapshot file with the outcomes:\n%s", errs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in run's directory, want only the snapshot file (no temporary file left)", len(ents))
	}
	// Rewritten with the outcomes, the file says which assets were reset:
	// --exact can use it (the file as first written could not).
	if out, errs, code := e.runIn(dir, "undo", "--snapshot", "labelreset-c1.snapshot.jsonl.gz", "--exact", "--dry-run"); code != 0 {
		t.Errorf("undo --snapshot --exact --dry-run of run's rewritten file: exit %d, want 0\n%s\n%s", code, out, errs)
	}
	if sum.Counts["reset"] != 300 || sum.Counts["not_in_inventory"] != 10 {
		t.Errorf("counts %v, want reset 300 and not_in_inventory 10", sum.Counts)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("snapshot file: %v", err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("snapshot file is not gzipped")
	}
	if after := e.fakeLabels(); withLabels(after, 1, 300) != 0 {
		t.Fatalf("after run, %d assets still hold labels", withLabels(after, 1, 300))
	}

	// The file exists: a second run refuses before calling anything.
	calls := e.fake.Fake().Stats().LabelCalls
	if _, errs, code := e.runIn(dir, "run", "--campaign", "c1", "--ids", "1,2", "--yes"); code != 2 || !strings.Contains(errs, "labelreset-c1.snapshot.jsonl.gz") {
		t.Errorf("run over an existing snapshot file: exit %d, want 2 naming it: %s", code, errs)
	}
	other := filepath.Join(dir, "mine.jsonl")
	os.WriteFile(other, []byte("keep"), 0o600)
	if _, errs, code := e.runIn(dir, "run", "--ids", "1,2", "--yes", "--snapshot-file", other); code != 2 || !strings.Contains(errs, "not overwritten") {
		t.Errorf("run --snapshot-file over an existing file: exit %d, want 2: %s", code, errs)
	}
	if got := e.fake.Fake().Stats().LabelCalls; got != calls {
		t.Errorf("refused runs made %d label calls", got-calls)
	}

	// Another team or server than the file's: refused unless told.
	for _, args := range [][]string{{"--team-id", "other-team"}, {"--api-server", "http://127.0.0.1:1"}} {
		_, errs, code := e.runIn(dir, append([]string{"undo", "--snapshot", file, "--yes"}, args...)...)
		if code != 2 || !strings.Contains(errs, "--use-configured-target") {
			t.Errorf("undo --snapshot %v: exit %d, want 2 naming --use-configured-target: %s", args, code, errs)
		}
	}
	if got := e.fake.Fake().Stats().LabelCalls; got != calls {
		t.Errorf("refused undos made %d label calls", got-calls)
	}

	// The dry run says how many assets get labels back, and calls nothing.
	reqs := e.fake.Fake().Stats().Requests
	out, errs, code = e.runIn(dir, "undo", "--snapshot", file, "--dry-run", "--json")
	var dry struct {
		Plan struct {
			Restore   int64 `json:"restore"`
			Unchanged int64 `json:"unchanged"`
		} `json:"plan"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &dry) != nil {
		t.Fatalf("undo --dry-run: exit %d\n%s\n%s", code, out, errs)
	}
	if want := withLabels(before, 1, 300); dry.Plan.Restore != want || dry.Plan.Unchanged != 300-want {
		t.Errorf("undo --dry-run: restore %d unchanged %d, want %d and %d", dry.Plan.Restore, dry.Plan.Unchanged, want, 300-want)
	}
	if got := e.fake.Fake().Stats().Requests; got != reqs {
		t.Errorf("undo --dry-run made %d PDCP requests", got-reqs)
	}

	// Above --confirm-above without --yes or a terminal: refused, as run does.
	if _, errs, code := e.runIn(dir, "undo", "--snapshot", file, "--confirm-above", "10"); code != 2 || !strings.Contains(errs, "--confirm-above 10") {
		t.Errorf("undo --snapshot above --confirm-above: exit %d, want 2: %s", code, errs)
	}
	if got := e.fake.Fake().Stats().LabelCalls; got != calls {
		t.Errorf("unconfirmed undo made %d label calls", got-calls)
	}
	out, errs, code = e.runIn(dir, "undo", "--snapshot", file, "--yes", "--campaign", "back")
	if code != 0 {
		t.Fatalf("undo --snapshot: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "restore campaign back created") || !strings.Contains(out, "restored") {
		t.Errorf("undo --snapshot output:\n%s\n%s", out, errs)
	}
	sameLabels(t, "after undo --snapshot", before, e.fakeLabels())
}

// TestRunDemoWritesNoSnapshotFile: --demo snapshots (its IDs beyond the
// fake end not_in_inventory) but writes no file.
func TestRunDemoWritesNoSnapshotFile(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{})
	e.withoutRedis()
	dir := t.TempDir()
	out, errs, code := e.runIn(dir, "run", "--demo", "--demo-assets", "200")
	if code != 0 || !strings.Contains(out, "reset 200") || !strings.Contains(out, "not_in_inventory 6") {
		t.Fatalf("run --demo: exit %d\n%s\n%s", code, out, errs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("run --demo wrote %v", ents)
	}
	if strings.Contains(errs, "snapshot.jsonl") {
		t.Errorf("run --demo mentions a snapshot file:\n%s", errs)
	}
}

// TestUndoCampaignAndVerify: on a real Redis with a worker, a campaign
// resets; verify exits 0, then 1 once one asset holds a removed label
// again (its report names it); status shows what the snapshot found;
// undo puts every asset's labels back (asset by asset), a second undo
// returns the same restore campaign, and verify of the restore exits 0.
func TestUndoCampaignAndVerify(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 200, Labels: pdcpfake.LabelsVaried, Seed: 3})
	before := e.fakeLabels()
	e.startWorker()
	if out, errs, code := e.run("submit", "--campaign", "src", "--ids", idRange(1, 205), "--yes"); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	s := e.waitState("src", time.Minute, "done")
	if s.Counts["reset"] != 200 || s.Counts["not_in_inventory"] != 5 {
		t.Fatalf("src counts %v, want reset 200 and not_in_inventory 5", s.Counts)
	}
	out, _, _ := e.run("status", "src")
	with := withLabels(before, 1, 200)
	for _, want := range []string{"snapshot:  complete", fmt.Sprintf("with labels:      %d of 205", with), "not in inventory: 5", "top labels:"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	if out, errs, code := e.run("verify", "src"); code != 0 || !strings.Contains(out, fmt.Sprintf("all %d checked assets ok; %d assets reset with no label known to check", with, 200-with)) {
		t.Errorf("verify after the reset: exit %d, want 0\n%s\n%s", code, out, errs)
	}
	// Someone puts a removed label back on one asset: verify sees it.
	var wrongID int64
	for id := int64(1); id <= 200 && wrongID == 0; id++ {
		if len(before[id]) > 0 {
			wrongID = id
		}
	}
	body, _ := json.Marshal(map[string][]string{"labels": {before[wrongID][0]}})
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/v1/asset/%d/labels", e.fake.URL(), wrongID), bytes.NewReader(body))
	req.Header.Set("X-Api-Key", "test-key")
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST labels to the fake: %v %v", resp, err)
	}
	report := filepath.Join(e.dir, "verify.csv")
	out, errs, code := e.run("verify", "src", "--report", report)
	if code != 1 || !strings.Contains(out, "1 wrong") {
		t.Errorf("verify with one asset wrong: exit %d, want 1\n%s\n%s", code, out, errs)
	}
	rows := readCSV(t, report)
	if len(rows) != 206 {
		t.Errorf("verify report: %d rows, want a header and 205", len(rows))
	}
	for _, r := range rows[1:] {
		id, _ := strconv.ParseInt(r[0], 10, 64)
		switch {
		case id == wrongID:
			var involved []string
			if r[2] != "wrong" || json.Unmarshal([]byte(r[3]), &involved) != nil || !slices.Equal(involved, before[wrongID][:1]) {
				t.Errorf("report row of the wrong asset: %q, want wrong with %q", r, before[wrongID][:1])
			}
		case id > 200 && (r[1] != "not_in_inventory" || r[2] != "skipped"):
			t.Errorf("report row of an unlisted asset: %q", r)
		case id <= 200 && len(before[id]) == 0 && r[2] != "unchecked":
			t.Errorf("report row of an asset reset without labels: %q, want unchecked (nothing to check)", r)
		case id != wrongID && id <= 200 && len(before[id]) > 0 && r[2] != "ok":
			t.Errorf("report row: %q, want ok", r)
		}
	}

	// Undo: dry run, then for real, twice.
	out, errs, code = e.run("undo", "src", "--dry-run")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d assets get labels back", with)) {
		t.Errorf("undo --dry-run: exit %d\n%s\n%s", code, out, errs)
	}
	var undone struct {
		ID       string `json:"id"`
		Existing bool   `json:"existing"`
	}
	out, errs, code = e.run("undo", "src", "--yes", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &undone) != nil || undone.ID == "" {
		t.Fatalf("undo: exit %d\n%s\n%s", code, out, errs)
	}
	e.waitState(undone.ID, time.Minute, "done")
	sameLabels(t, "after undo", before, e.fakeLabels())
	first := undone.ID
	out, _, code = e.run("undo", "src", "--yes", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &undone) != nil || undone.ID != first || !undone.Existing {
		t.Errorf("second undo: exit %d, %+v, want the existing %s", code, undone, first)
	}
	if out, errs, code := e.run("verify", first); code != 0 || !strings.Contains(out, "checked assets ok") {
		t.Errorf("verify of the restore: exit %d, want 0\n%s\n%s", code, out, errs)
	}
	if out, _, _ := e.run("campaigns"); !strings.Contains(out, "restore") {
		t.Errorf("campaigns does not show the restore mode:\n%s", out)
	}

	// snapshot -o: gzip by suffix, never over an existing file without --force.
	gz := filepath.Join(e.dir, "src.jsonl.gz")
	if _, errs, code := e.run("snapshot", "src", "-o", gz); code != 0 {
		t.Fatalf("snapshot -o: exit %d: %s", code, errs)
	}
	if _, errs, code := e.run("snapshot", "src", "-o", gz); code != 2 || !strings.Contains(errs, "--force") {
		t.Errorf("snapshot -o over an existing file: exit %d, want 2: %s", code, errs)
	}
	if _, errs, code := e.run("snapshot", "src", "-o", gz, "--force"); code != 0 {
		t.Errorf("snapshot -o --force: exit %d: %s", code, errs)
	}
	f, err := os.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("snapshot .gz: %v", err)
	}
	var lines int
	for dec := json.NewDecoder(zr); dec.More(); lines++ {
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("snapshot line %d: %v", lines+1, err)
		}
	}
	if lines != 201 {
		t.Errorf("snapshot: %d lines, want a header and 200 assets", lines)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestPlanSnapshot: a dry run states the snapshot and makes no request;
// --no-snapshot says the campaign cannot be undone, and a stale
// LABELRESET_NO_SNAPSHOT does not turn the snapshot off; --preview lists
// the inventory with GET requests only and shows what it would find.
func TestPlanSnapshot(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 60, Labels: pdcpfake.LabelsVaried, Seed: 5, ListLimitCap: 7})
	e.env = append(e.env, "LABELRESET_NO_SNAPSHOT=1", "LABELRESET_RESET_UNLISTED=1")
	out, errs, code := e.run("submit", "--ids", idRange(1, 50), "--dry-run")
	if code != 0 || !strings.Contains(out, "the labels of every asset are recorded before any reset") ||
		!strings.Contains(out, "makes no PDCP request") || !strings.Contains(out, "end not_in_inventory, uncalled") {
		t.Errorf("dry run: exit %d, want the snapshot stated (environment ignored)\n%s\n%s", code, out, errs)
	}
	if got := e.fake.Fake().Stats().Requests; got != 0 {
		t.Errorf("dry run made %d PDCP requests", got)
	}
	if out, _, _ := e.run("run", "--ids", "1", "--dry-run", "--no-snapshot"); !strings.Contains(out, "this campaign cannot be undone") {
		t.Errorf("--no-snapshot plan:\n%s", out)
	}
	labels := e.fakeLabels()
	out, errs, code = e.run("submit", "--ids", idRange(1, 50)+",9999", "--dry-run", "--preview")
	if code != 0 {
		t.Fatalf("--preview: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{fmt.Sprintf("with labels:      %d of 51", withLabels(labels, 1, 50)),
		fmt.Sprintf("without labels:   %d", 50-withLabels(labels, 1, 50)), "not in inventory: 1",
		"top labels:", "10 listing requests (60 assets listed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("--preview lacks %q:\n%s", want, out)
		}
	}
	st := e.fake.Fake().Stats()
	if st.ByMethod["GET"] == 0 || st.ByMethod["GET"] != st.Requests || st.LabelCalls != 0 {
		t.Errorf("--preview requests by method %v (label calls %d), want GETs only", st.ByMethod, st.LabelCalls)
	}
	if _, errs, code := e.run("submit", "--ids", "1", "--preview"); code != 2 || !strings.Contains(errs, "--dry-run") {
		t.Errorf("--preview without --dry-run: exit %d, want 2: %s", code, errs)
	}
}

// TestUndoRunningCampaign: undo of a campaign still running cancels it
// first and says so; afterwards every asset holds its labels again, the
// ones reset and the ones never called alike.
func TestUndoRunningCampaign(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 300, Labels: pdcpfake.LabelsVaried, Seed: 11})
	before := e.fakeLabels()
	e.startWorker("--rate", "20")
	if out, errs, code := e.run("submit", "--campaign", "live", "--ids", idRange(1, 300), "--yes"); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	deadline := time.Now().Add(time.Minute)
	for e.status("live").Counts["reset"] < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("no resets within a minute: %+v", e.status("live"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, errs, code := e.run("undo", "live", "--yes")
	if code != 0 || !strings.Contains(out, "cancelled it first") || !strings.Contains(out, "restore campaign ") {
		t.Fatalf("undo of a running campaign: exit %d\n%s\n%s", code, out, errs)
	}
	if s := e.status("live"); s.State != "cancelled" {
		t.Errorf("source state %s, want cancelled", s.State)
	}
	var id string
	fmt.Sscanf(out[strings.Index(out, "restore campaign "):], "restore campaign %s created", &id)
	id = strings.TrimSuffix(id, ":")
	s := e.waitState(id, 2*time.Minute, "done")
	if s.Counts["restored"] == 0 || s.Counts["unchanged"] == 0 {
		t.Errorf("restore counts %v, want some restored and some unchanged (never called)", s.Counts)
	}
	sameLabels(t, "after undo of a running campaign", before, e.fakeLabels())
}

// TestVerifyWithoutSnapshot: a remove campaign without a snapshot is
// verified against its label list; a delete campaign without one cannot
// be, and verify says why.
func TestVerifyWithoutSnapshot(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 50})
	e.startWorker()
	for _, args := range [][]string{
		{"--campaign", "rm", "--ids", idRange(1, 50), "--labels", "env:prod,critical"},
		{"--campaign", "del", "--ids", "1,2"},
	} {
		if out, errs, code := e.run(append([]string{"submit", "--yes", "--no-snapshot"}, args...)...); code != 0 {
			t.Fatalf("submit %v: exit %d\n%s\n%s", args, code, out, errs)
		}
	}
	e.waitState("rm", time.Minute, "done")
	e.waitState("del", time.Minute, "done")
	if out, errs, code := e.run("verify", "rm", "--json"); code != 0 || !strings.Contains(out, `"ok": 50`) {
		t.Errorf("verify of a remove campaign without snapshot: exit %d, want 0 with 50 ok\n%s\n%s", code, out, errs)
	}
	if _, errs, code := e.run("verify", "del"); code != 1 || !strings.Contains(errs, "no record of which labels") {
		t.Errorf("verify of a delete campaign without snapshot: exit %d, want 1 saying why: %s", code, errs)
	}
	if _, errs, code := e.run("undo", "del", "--yes"); code == 0 || !strings.Contains(errs, "snapshot") {
		t.Errorf("undo of a campaign without snapshot: exit %d, want a refusal naming the snapshot: %s", code, errs)
	}
}

// TestUndoAboveConfirmAbove: an undo of more assets than --confirm-above,
// without --yes or a terminal, stages the restore pending like submit;
// approving it restores the labels.
func TestUndoAboveConfirmAbove(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 40})
	before := e.fakeLabels()
	e.startWorker()
	if out, errs, code := e.run("submit", "--campaign", "s", "--ids", idRange(1, 40), "--yes"); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	e.waitState("s", time.Minute, "done")
	var undone struct {
		ID       string `json:"id"`
		Campaign struct {
			State string `json:"state"`
		} `json:"campaign"`
	}
	out, errs, code := e.run("undo", "s", "--confirm-above", "10", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &undone) != nil || undone.Campaign.State != "pending" {
		t.Fatalf("undo above --confirm-above: exit %d, want a pending restore\n%s\n%s", code, out, errs)
	}
	if got := e.fake.Fake().Stats().LabelCalls; got != 40 {
		t.Errorf("%d label calls before the approval, want the 40 resets only", got)
	}
	if _, errs, code := e.run("approve", undone.ID); code != 0 {
		t.Fatalf("approve: exit %d: %s", code, errs)
	}
	e.waitState(undone.ID, time.Minute, "done")
	sameLabels(t, "after the approved undo", before, e.fakeLabels())
}

// TestUndoSnapshotFileTwiceOnRedis: undo --snapshot of the same file,
// twice, on a Redis the workers share, creates one restore campaign: the
// second run finds it instead of calling every asset again, and asking
// the other --exact is refused, naming it.
func TestUndoSnapshotFileTwiceOnRedis(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 20, Labels: pdcpfake.LabelsVaried})
	file := filepath.Join(t.TempDir(), "c.jsonl")
	reset := true
	var b strings.Builder
	hdr, _ := json.Marshal(jobs.SnapshotHeader{Format: jobs.SnapshotFormat, Campaign: "c", Mode: jobs.ModeDelete,
		Server: e.fake.URL(), TakenAt: time.Now().UTC(), Assets: 3})
	b.Write(append(hdr, '\n'))
	for id := int64(1); id <= 3; id++ {
		l, _ := json.Marshal(jobs.SnapshotLine{AssetID: id, Labels: []string{"x"}, Reset: &reset})
		b.Write(append(l, '\n'))
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 2)
	for i := range ids {
		out, errs, code := e.run("undo", "--snapshot", file, "--yes", "--json")
		if code != 0 {
			t.Fatalf("undo --snapshot #%d: exit %d\n%s\n%s", i+1, code, out, errs)
		}
		var res struct {
			ID       string `json:"id"`
			Existing bool   `json:"existing"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("undo --snapshot --json: %v\n%s", err, out)
		}
		if res.Existing != (i == 1) {
			t.Errorf("undo --snapshot #%d: existing %v, want %v", i+1, res.Existing, i == 1)
		}
		ids[i] = res.ID
	}
	if ids[0] != ids[1] {
		t.Errorf("the same file undone twice made two restore campaigns, %s and %s", ids[0], ids[1])
	}
	if _, errs, code := e.run("undo", "--snapshot", file, "--yes", "--exact"); code == 0 || !strings.Contains(errs, ids[0]) {
		t.Errorf("undo --snapshot --exact after a plain one: exit %d, want a refusal naming %s: %s", code, ids[0], errs)
	}
}
