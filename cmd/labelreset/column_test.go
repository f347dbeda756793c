package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// TestPlanNamesIDColumn: the plan of submit and run says which column the
// IDs came from and why; --column chooses it; a header naming no ID
// column over two columns of IDs (the ports of a "port,host" file) is a
// usage error that names the file and line and lists the columns.
func TestPlanNamesIDColumn(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	write := func(name, text string) string {
		path := filepath.Join(e.dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ambiguous := write("ports.csv", "port,host\n443,12\n80,13\n")
	named := write("assets.csv", "port,asset\n443,12\n80,13\n")
	for _, cmd := range []string{"submit", "run"} {
		_, errs, code := e.run(cmd, "--csv", ambiguous, "--dry-run")
		if code != 2 || !strings.Contains(errs, "ports.csv:1:") || !strings.Contains(errs, `the columns are 1 "port", 2 "host"`) ||
			!strings.Contains(errs, "--column NAME|N") {
			t.Errorf("%s of a port,host file: exit %d, stderr %q; want 2 naming ports.csv:1, the columns and --column", cmd, code, errs)
		}
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--csv", ambiguous, "--column", "host"}, `IDs from:       column 2 "host" (chosen)`},
			{[]string{"--csv", ambiguous, "--column", "2"}, `IDs from:       column 2 "host" (chosen)`},
			{[]string{"--csv", named}, `IDs from:       column 2 "asset" (header name)`},
		} {
			out, errs, code := e.run(append([]string{cmd, "--dry-run"}, tc.args...)...)
			if code != 0 || !strings.Contains(out, tc.want) || !strings.Contains(out, "valid IDs:      2") {
				t.Errorf("%s %v: exit %d, %s%s; want the plan with %q and 2 valid IDs", cmd, tc.args, code, out, errs, tc.want)
			}
		}
	}
	if _, errs, code := e.run("submit", "--ids", "1,2", "--column", "2", "--dry-run"); code != 2 || !strings.Contains(errs, "--column") {
		t.Errorf("--column with --ids: exit %d, %q; want a usage error", code, errs)
	}
	// A real run says which column on stderr.
	_, errs, code := e.run("run", "--csv", named, "--campaign", "col", "--yes")
	if code != 0 || !strings.Contains(errs, `IDs from column 2 "asset" (header name)`) {
		t.Errorf("run: exit %d, stderr %q; want the column named", code, errs)
	}
}

// TestReportPathColumn: `report` ends each row with the path an asset's
// outcome took, in CSV and jsonl (bulk: reset without a call, as express
// verification records it; per_asset: called; empty: no call).
func TestReportPathColumn(t *testing.T) {
	ctx := context.Background()
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	store := jobs.NewStore(e.redis.Client, jobs.StoreOptions{Namespace: e.redis.Namespace})
	def := &jobs.Campaign{ID: "paths", Name: "paths", Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: 100, Policy: jobs.DefaultPolicy()}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2", "3"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := store.Ledger().Record(ctx, "paths", []jobs.BatchRecords{{Batch: 0, Records: []jobs.Record{
		{AssetID: 1, Outcome: jobs.OutcomeReset, Status: 200, FinishedAt: now},
		{AssetID: 2, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now},
		{AssetID: 3, Outcome: jobs.OutcomeNotInInventory, FinishedAt: now},
	}}}, now); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{1: "bulk", 2: "per_asset", 3: ""}
	rows := e.report("paths") // checks the header
	for id, p := range want {
		if row := rows[id]; len(row) != 8 || row[7] != p {
			t.Errorf("csv row of asset %d: %q, want path %q last", id, row, p)
		}
	}
	out, errs, code := e.run("report", "paths", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("report jsonl: exit %d: %s", code, errs)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var row struct {
			AssetID int64   `json:"asset_id"`
			Path    *string `json:"path"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil || row.Path == nil || *row.Path != want[row.AssetID] {
			t.Errorf("jsonl line %s (%v): want path %q", line, err, want[row.AssetID])
		}
	}
}
