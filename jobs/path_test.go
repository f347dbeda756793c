package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestRecordPath: a reset without a call is the bulk path, any call the
// per-asset path, no call and no reset no path.
func TestRecordPath(t *testing.T) {
	for _, tc := range []struct {
		rec  jobs.Record
		want string
	}{
		{jobs.Record{Outcome: jobs.OutcomeReset, Status: 200}, jobs.PathBulk},
		{jobs.Record{Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1}, jobs.PathPerAsset},
		{jobs.Record{Outcome: jobs.OutcomeFailed, Attempts: 3}, jobs.PathPerAsset},
		{jobs.Record{Outcome: jobs.OutcomeCancelled, Attempts: 2}, jobs.PathPerAsset},
		{jobs.Record{Outcome: jobs.OutcomeCancelled}, ""},
		{jobs.Record{Outcome: jobs.OutcomeNotInInventory}, ""},
		{jobs.Record{Outcome: jobs.OutcomeUnchanged}, ""},
		{jobs.Record{Outcome: jobs.OutcomeRestored, Attempts: 1}, jobs.PathPerAsset},
		{jobs.Record{Outcome: jobs.OutcomePending}, ""},
	} {
		if got := tc.rec.Path(); got != tc.want {
			t.Errorf("%s with %d attempts: path %q, want %q", tc.rec.Outcome, tc.rec.Attempts, got, tc.want)
		}
	}
}

// TestReportPathColumn: both formats end each row with the path, after
// every column of earlier versions.
func TestReportPathColumn(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	recs := []jobs.Record{
		{AssetID: 1, Outcome: jobs.OutcomeReset, Status: 200, FinishedAt: at},
		{AssetID: 2, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 2, FinishedAt: at},
		{AssetID: 3, Outcome: jobs.OutcomeNotInInventory, FinishedAt: at},
	}
	var csvOut, jsonOut bytes.Buffer
	for _, w := range []struct {
		buf *bytes.Buffer
		f   jobs.ReportFormat
	}{{&csvOut, jobs.ReportCSV}, {&jsonOut, jobs.ReportJSONL}} {
		rw, err := jobs.NewReportWriter(w.buf, w.f, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := rw.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := rw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	want := "asset_id,outcome,http_status,attempts,error,finished_at,error_id,path\n" +
		"1,reset,200,0,,2026-12-03T10:00:00Z,,bulk\n" +
		"2,reset,200,2,,2026-12-03T10:00:00Z,,per_asset\n" +
		"3,not_in_inventory,,0,,2026-12-03T10:00:00Z,,\n"
	if csvOut.String() != want {
		t.Errorf("csv report:\n%s\nwant\n%s", csvOut.String(), want)
	}
	var paths []string
	for _, line := range strings.Split(strings.TrimSpace(jsonOut.String()), "\n") {
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatal(err)
		}
		p, ok := row["path"].(string)
		if !ok || len(row) != 8 {
			t.Errorf("jsonl row %s: want 8 fields with a string path", line)
		}
		paths = append(paths, p)
	}
	if got := strings.Join(paths, "|"); got != "bulk|per_asset|" {
		t.Errorf("jsonl paths %q, want bulk|per_asset|", got)
	}
}

// TestRecordResetWithoutCall: what express verification records (reset,
// status 200, no attempt) replaces "cancelled" in a cancelled campaign,
// moving the counts and leaving it cancelled, and finishes a running
// campaign (done); the report says bulk. Run on a real Redis
// (REDIS_ADDR) it is the real recordScript.
func TestRecordResetWithoutCall(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	verified := func(ids ...int64) []jobs.BatchRecords {
		br := jobs.BatchRecords{Batch: 0}
		for _, id := range ids {
			br.Records = append(br.Records, jobs.Record{AssetID: id, Outcome: jobs.OutcomeReset, Status: 200, FinishedAt: time.Now()})
		}
		return []jobs.BatchRecords{br}
	}
	paths := func(id string) map[int64]string {
		out := map[int64]string{}
		if err := store.Records(ctx, id, func(r jobs.Record) error { out[r.AssetID] = r.Outcome + "/" + r.Path(); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}

	if _, err := submitIDs(t, store, newDef("cx"), 1, 3, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Cancel(ctx, "cx"); err != nil {
		t.Fatal(err)
	}
	c, err := store.Get(ctx, "cx")
	if err != nil {
		t.Fatal(err)
	}
	if c.Counts[jobs.OutcomeCancelled] != 3 || c.FinishedAt.IsZero() {
		t.Fatalf("after cancel: counts %v finished %v; want 3 cancelled and a finish time", c.Counts, c.FinishedAt)
	}
	ch, err := store.Ledger().RecordIncarnation(ctx, "cx", c.LedgerIdentity(), verified(1, 2), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err = store.Get(ctx, "cx")
	if err != nil {
		t.Fatal(err)
	}
	if ch != jobs.ChangeFinished || c.State != jobs.StateCancelled || c.Counts[jobs.OutcomeReset] != 2 || c.Counts[jobs.OutcomeCancelled] != 1 ||
		c.Finished() != 3 {
		t.Errorf("reset over cancelled: change %v, state %s, counts %v; want cancelled, 2 reset and 1 cancelled", ch, c.State, c.Counts)
	}
	if got := paths("cx"); got[1] != "reset/bulk" || got[2] != "reset/bulk" || got[3] != "cancelled/" {
		t.Errorf("cancelled campaign's records: %v; want 1 and 2 reset by bulk, 3 cancelled without a path", got)
	}

	if _, err := submitIDs(t, store, newDef("run"), 1, 3, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	r, err := store.Get(ctx, "run")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Ledger().RecordIncarnation(ctx, "run", r.LedgerIdentity(), verified(1, 2, 3), time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err = store.Get(ctx, "run"); err != nil {
		t.Fatal(err)
	}
	if r.State != jobs.StateDone || r.Counts[jobs.OutcomeReset] != 3 || r.FinishedAt.IsZero() {
		t.Errorf("running campaign all verified: state %s counts %v finished %v; want done with 3 reset", r.State, r.Counts, r.FinishedAt)
	}
	if got := paths("run"); got[1] != "reset/bulk" || got[3] != "reset/bulk" {
		t.Errorf("running campaign's records: %v; want reset by bulk", got)
	}
}
