package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestFailureReasons: the ledger's writes count failed and invalid
// outcomes by reason (a record written twice counts once, resets do not
// count), a retry takes its re-queued assets out of the counts, the
// number of reasons is bounded, and Delete removes the counts.
func TestFailureReasons(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	const n = 200
	if _, err := submitIDs(t, store, newDef("reasons"), 1, n, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	refused := "dial tcp 127.0.0.1:1: connection refused" // within the ledger's error bytes
	refusedReason := "dial tcp #.#.#.#:#: connection refused"
	now := time.Now()
	rec := func(id int64, outcome string, status int, msg string) jobs.Record {
		return jobs.Record{AssetID: id, Outcome: outcome, Status: status, Attempts: 1, Error: msg, FinishedAt: now}
	}
	// Batch 0 (IDs 1..100): 3 refused, 2 HTTP 500 without text, 1 invalid,
	// the rest reset.
	var b0 []jobs.Record
	for id := int64(1); id <= 100; id++ {
		switch {
		case id <= 3:
			b0 = append(b0, rec(id, jobs.OutcomeFailed, 0, refused))
		case id <= 5:
			b0 = append(b0, rec(id, jobs.OutcomeFailed, 500, ""))
		case id == 6:
			b0 = append(b0, rec(id, jobs.OutcomeInvalid, 400, "HTTP 400 INVALID_ID: Invalid asset ID format"))
		default:
			b0 = append(b0, rec(id, jobs.OutcomeReset, 200, ""))
		}
	}
	l := store.Ledger()
	for range 2 { // a redelivered batch writes nothing new
		if _, err := l.Record(ctx, "reasons", []jobs.BatchRecords{{Batch: 0, Records: b0}}, now); err != nil {
			t.Fatal(err)
		}
	}
	got, err := store.FailureReasons(ctx, "reasons", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []jobs.FailureReason{{refusedReason, 3}, {"HTTP 500", 2}, {"HTTP 400 INVALID_ID: Invalid asset ID format", 1}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("reasons (-want +got):\n%s", d)
	}
	if top, _ := store.FailureReasons(ctx, "reasons", 1); len(top) != 1 || top[0].Reason != refusedReason {
		t.Errorf("top 1 = %v, want %q", top, refusedReason)
	}

	// A retry of the failed assets takes them out of the counts.
	if m, err := store.Redrive(ctx, "reasons", []string{jobs.OutcomeFailed}); err != nil || m != 5 {
		t.Fatalf("Redrive = %d, %v; want 5", m, err)
	}
	got, _ = store.FailureReasons(ctx, "reasons", 0)
	if d := cmp.Diff([]jobs.FailureReason{{"HTTP 400 INVALID_ID: Invalid asset ID format", 1}}, got); d != "" {
		t.Errorf("after the retry (-want +got):\n%s", d)
	}

	// Batch 1 (IDs 101..200): every asset with its own message (letters:
	// digits would be masked into one reason); the counts keep
	// MaxFailureReasons reasons and put the rest under other.
	var b1 []jobs.Record
	for id := int64(101); id <= n; id++ {
		b1 = append(b1, rec(id, jobs.OutcomeFailed, 500, "HTTP 500: error "+letters(id)))
	}
	if _, err := l.Record(ctx, "reasons", []jobs.BatchRecords{{Batch: 1, Records: b1}}, now); err != nil {
		t.Fatal(err)
	}
	got, _ = store.FailureReasons(ctx, "reasons", 0)
	var total int64
	for _, r := range got {
		total += r.Count
	}
	if len(got) > jobs.MaxFailureReasons+1 || total != 101 || got[0].Reason != jobs.OtherFailureReason {
		t.Errorf("%d reasons totalling %d, first %v; want at most %d totalling 101, %q first",
			len(got), total, got[0], jobs.MaxFailureReasons+1, jobs.OtherFailureReason)
	}

	if err := store.Delete(ctx, "reasons"); err != nil {
		t.Fatal(err)
	}
	if got, err := store.FailureReasons(ctx, "reasons", 0); err != nil || len(got) != 0 {
		t.Errorf("after Delete: %v, %v; want no reasons", got, err)
	}
	if _, err := store.Get(ctx, "reasons"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
}

// letters spells n in the letters g..z, which are not hex digits: a text
// that failure reasons keep as it is.
func letters(n int64) string {
	var b []byte
	for ; n > 0; n /= 20 {
		b = append(b, byte('g'+n%20))
	}
	return string(b)
}

// TestFailureReasonsNormalised: what differs per asset in an error text
// (addresses, ports, IDs, error_id-like hex, attempt counts) does not
// make a reason of its own, a leading HTTP status is kept, and a reason is
// cut to MaxFailureReasonBytes; a failed asset's error in the ledger stays
// as it was.
func TestFailureReasonsNormalised(t *testing.T) {
	ctx := t.Context()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	if _, err := submitIDs(t, store, newDef("norm"), 1, 100, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	long := "HTTP 502 BAD_GATEWAY " + strings.Repeat("é", 60) // an odd prefix: the cut falls inside an é
	var recs []jobs.Record
	for id := int64(1); id <= 40; id++ {
		var msg string
		switch id % 4 {
		case 0:
			msg = fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", 40000+id)
		case 1:
			msg = fmt.Sprintf("HTTP 500 INTERNAL_ERROR: asset %d failed, error_id %x (gave up after %d attempts)", id, 0xdeadbeef00+id, id%7+1)
		case 2:
			msg = fmt.Sprintf("HTTP 404 NOT_FOUND: asset %d", id)
		case 3:
			msg = long + fmt.Sprint(id)
		}
		recs = append(recs, jobs.Record{AssetID: id, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 1, Error: msg, FinishedAt: now})
	}
	if _, err := store.Ledger().Record(ctx, "norm", []jobs.BatchRecords{{Batch: 0, Records: recs}}, now); err != nil {
		t.Fatal(err)
	}
	got, err := store.FailureReasons(ctx, "norm", 0)
	if err != nil {
		t.Fatal(err)
	}
	cut := "HTTP 502 BAD_GATEWAY " + strings.Repeat("é", (jobs.MaxFailureReasonBytes-len("HTTP 502 BAD_GATEWAY "))/2)
	want := []jobs.FailureReason{
		{"HTTP 404 NOT_FOUND: asset #", 10},
		{"HTTP 500 INTERNAL_ERROR: asset # failed, error_id # (gave up after # attempts)", 10},
		{cut, 10},
		{"dial tcp #.#.#.#:#: connect: connection refused", 10},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("reasons (-want +got):\n%s", d)
	}
	for _, r := range got {
		if len(r.Reason) > jobs.MaxFailureReasonBytes || !utf8.ValidString(r.Reason) {
			t.Errorf("reason %q: %d bytes, valid UTF-8 %v; want at most %d, valid", r.Reason, len(r.Reason), utf8.ValidString(r.Reason), jobs.MaxFailureReasonBytes)
		}
	}
	if rs := loadAll(t, store, "norm"); rs[0].Error != recs[0].Error {
		t.Errorf("ledger error %q, want the asset's own %q", rs[0].Error, recs[0].Error)
	}
}

// TestFailureReasonsCountDownOther: a reason counted under other while the
// hash was full, and later under its own field, is counted down from both:
// a retry of all its assets leaves no count behind.
func TestFailureReasonsCountDownOther(t *testing.T) {
	ctx := t.Context()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	if _, err := submitIDs(t, store, newDef("other"), 1, 300, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	record := func(batch int, recs []jobs.Record) {
		t.Helper()
		if _, err := store.Ledger().Record(ctx, "other", []jobs.BatchRecords{{Batch: batch, Records: recs}}, now); err != nil {
			t.Fatal(err)
		}
	}
	failed := func(id int64, outcome, msg string) jobs.Record {
		return jobs.Record{AssetID: id, Outcome: outcome, Status: 500, Attempts: 1, Error: msg, FinishedAt: now}
	}
	// Invalid assets fill the hash with MaxFailureReasons reasons.
	var fill []jobs.Record
	for id := int64(1); id <= jobs.MaxFailureReasons; id++ {
		fill = append(fill, failed(id, jobs.OutcomeInvalid, "bad "+letters(id)))
	}
	record(0, fill)
	// Two assets of reason X go to other; the invalid ones are retried,
	// which frees the hash; a third asset of X gets X's own field.
	const x = "upstream reset"
	record(1, []jobs.Record{failed(101, jobs.OutcomeFailed, x), failed(102, jobs.OutcomeFailed, x)})
	if m, err := store.Redrive(ctx, "other", []string{jobs.OutcomeInvalid}); err != nil || m != jobs.MaxFailureReasons {
		t.Fatalf("Redrive invalid = %d, %v; want %d", m, err, jobs.MaxFailureReasons)
	}
	record(2, []jobs.Record{failed(201, jobs.OutcomeFailed, x)})
	got, _ := store.FailureReasons(ctx, "other", 0)
	if d := cmp.Diff([]jobs.FailureReason{{jobs.OtherFailureReason, 2}, {x, 1}}, got); d != "" {
		t.Fatalf("before the retry (-want +got):\n%s", d)
	}
	// Retrying X's three assets takes one from X and two from other.
	if m, err := store.Redrive(ctx, "other", []string{jobs.OutcomeFailed}); err != nil || m != 3 {
		t.Fatalf("Redrive failed = %d, %v; want 3", m, err)
	}
	if got, _ := store.FailureReasons(ctx, "other", 0); len(got) != 0 {
		t.Errorf("after retrying every failed asset: %v, want no reasons", got)
	}
}
