package jobs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestLedgerKeepsFullErrors: a failed asset keeps its whole error (the
// "gave up after N attempts" at its end included) and PDCP's error_id; a
// re-driven asset that then succeeds drops both; the batch's ledger hash
// itself holds only compact records.
func TestLedgerKeepsFullErrors(t *testing.T) {
	env := redistest.New(t)
	ctx := t.Context()
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	if _, err := submitIDs(t, store, newDef("errs"), 1, 3, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	msg := "HTTP 500 INTERNAL_ERROR: " + strings.Repeat("upstream timed out ", 5) + "(gave up after 8 attempts)"
	now := time.Now()
	recs := []jobs.Record{
		{AssetID: 1, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 8, Error: msg, ErrorID: "req-1", FinishedAt: now},
		{AssetID: 2, Outcome: jobs.OutcomeInvalid, Status: 400, Attempts: 1, Error: "HTTP 400 INVALID_ID: bad", ErrorID: "req-2", FinishedAt: now},
		{AssetID: 3, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now},
	}
	if _, err := store.Ledger().Record(ctx, "errs", []jobs.BatchRecords{{Batch: 0, Records: recs}}, now); err != nil {
		t.Fatal(err)
	}
	got := loadAll(t, store, "errs")
	for i, want := range recs {
		if got[i].Error != want.Error || got[i].ErrorID != want.ErrorID {
			t.Errorf("asset %d: error %q, error_id %q; want %q, %q", want.AssetID, got[i].Error, got[i].ErrorID, want.Error, want.ErrorID)
		}
	}
	vals, err := env.Client.HGetAll(ctx, env.Namespace+":{errs}:l:0").Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range vals {
		if len(v) > 64 {
			t.Errorf("ledger record of asset %s is %d bytes (%q): the hash leaves Redis' listpack encoding", f, len(v), v)
		}
	}

	// Failure reasons count the full text, not the record's marker.
	reasons := func() map[string]int64 {
		t.Helper()
		rs, err := store.FailureReasons(ctx, "errs", 0)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		for _, r := range rs {
			m[r.Reason] = r.Count
		}
		return m
	}
	// The failed asset's reason: its full text, the attempt count masked,
	// cut to MaxFailureReasonBytes.
	reason := strings.Replace(msg, "8 attempts", "# attempts", 1)[:jobs.MaxFailureReasonBytes]
	if got := reasons(); got[reason] != 1 || got[recs[1].Error] != 1 || len(got) != 2 {
		t.Errorf("failure reasons %v, want the failed and the invalid asset's full errors once each", got)
	}

	// Re-drive the failed asset; it succeeds: its error and error_id go.
	if n, err := store.Redrive(ctx, "errs", []string{jobs.OutcomeFailed}); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v; want 1 asset", n, err)
	}
	if got := reasons(); got[reason] != 0 || len(got) != 1 {
		t.Errorf("failure reasons after the retry %v, want only the invalid asset's", got)
	}
	if got := loadAll(t, store, "errs"); got[0].Error != msg || got[0].ErrorID != "req-1" {
		t.Errorf("re-queued asset: error %q, error_id %q; want the last answer's kept until it runs", got[0].Error, got[0].ErrorID)
	}
	ok := []jobs.Record{{AssetID: 1, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 9, FinishedAt: now}}
	if _, err := store.Ledger().Record(ctx, "errs", []jobs.BatchRecords{{Batch: 0, Records: ok}}, now); err != nil {
		t.Fatal(err)
	}
	if got := loadAll(t, store, "errs"); got[0].Outcome != jobs.OutcomeReset || got[0].Error != "" || got[0].ErrorID != "" {
		t.Errorf("re-driven asset reset: %+v, want no error and no error_id", got[0])
	}
	if n, err := env.Client.HLen(ctx, env.Namespace+":{errs}:errors").Result(); err != nil || n != 1 {
		t.Errorf("error hash: %d entries (%v), want 1 (the invalid asset's)", n, err)
	}
	if err := store.Delete(ctx, "errs"); err != nil {
		t.Fatal(err)
	}
	if n, err := env.Client.Exists(ctx, env.Namespace+":{errs}:errors").Result(); err != nil || n != 0 {
		t.Errorf("error hash after delete: exists %d (%v), want gone", n, err)
	}
}

// TestLedgerDecodesEarlierRecords: records an earlier version wrote (its
// error cut at 48 bytes, no error_id, no error hash) still read as they
// were written.
func TestLedgerDecodesEarlierRecords(t *testing.T) {
	env := redistest.New(t)
	ctx := t.Context()
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	if _, err := submitIDs(t, store, newDef("old"), 1, 2, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	cut := "HTTP 500 INTERNAL_ERROR: Internal Server Error ("
	if err := env.Client.HSet(ctx, env.Namespace+":{old}:l:0",
		"1", "f,500,8,1764770000,"+cut,
		"2", "r,200,1,1764770000,").Err(); err != nil {
		t.Fatal(err)
	}
	got := loadAll(t, store, "old")
	if got[0].Outcome != jobs.OutcomeFailed || got[0].Attempts != 8 || got[0].Error != cut || got[0].ErrorID != "" {
		t.Errorf("earlier failed record: %+v, want failed, 8 attempts, error %q, no error_id", got[0], cut)
	}
	if got[1].Outcome != jobs.OutcomeReset || got[1].Error != "" {
		t.Errorf("earlier reset record: %+v", got[1])
	}
}

// loadAll returns the records of a campaign in asset order.
func loadAll(t *testing.T, store *jobs.Store, id string) []jobs.Record {
	t.Helper()
	var out []jobs.Record
	if err := store.Records(t.Context(), id, func(r jobs.Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
