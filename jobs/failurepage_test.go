package jobs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// assertIndexExact fails the test unless the campaign's failure index
// holds exactly what a scan of its whole ledger says: every asset of a
// failure outcome under that outcome, with its batch, and nothing else.
func assertIndexExact(t *testing.T, store *jobs.Store, id, step string) {
	t.Helper()
	ctx := context.Background()
	got, err := store.FailureIndex(ctx, id)
	if err != nil {
		t.Fatalf("%s: index: %v", step, err)
	}
	want, err := store.FailureIndexFromLedger(ctx, id)
	if err != nil {
		t.Fatalf("%s: ledger: %v", step, err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s: failure index (-ledger +index):\n%s", step, d)
	}
}

// scanFailures is the answer to q from a scan of the whole ledger
// (Store.Records), every page at once.
func scanFailures(t *testing.T, store *jobs.Store, id string, q jobs.FailureQuery) []jobs.Record {
	t.Helper()
	outcomes := q.Outcomes
	if len(outcomes) == 0 {
		outcomes = jobs.FailureOutcomes
	}
	var out []jobs.Record
	err := store.Records(context.Background(), id, func(r jobs.Record) error {
		switch {
		case !slices.Contains(outcomes, r.Outcome),
			q.Asset != 0 && r.AssetID != q.Asset,
			r.AssetID <= q.After,
			q.Reason != "" && (r.Outcome != jobs.OutcomeFailed && r.Outcome != jobs.OutcomeInvalid || jobs.FailureReasonOf(r) != q.Reason):
			return nil
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b jobs.Record) int { return int(min(max(a.AssetID-b.AssetID, -1), 1)) }) // test IDs are small
	return out
}

// allPages follows Next from q.After to the last page.
func allPages(t *testing.T, store *jobs.Store, id string, q jobs.FailureQuery) (recs []jobs.Record, pages int, total int64) {
	t.Helper()
	total = -2
	for {
		p, err := store.Failures(context.Background(), id, q)
		if err != nil {
			t.Fatalf("Failures(%+v): %v", q, err)
		}
		if total == -2 {
			total = p.Total
		}
		if p.Next != 0 && p.Next <= q.After {
			t.Fatalf("Failures(%+v): next %d does not advance", q, p.Next)
		}
		if len(p.Records) > max(q.Limit, 1) && q.Limit > 0 {
			t.Fatalf("Failures(%+v): %d records, want at most %d", q, len(p.Records), q.Limit)
		}
		recs = append(recs, p.Records...)
		pages++
		if p.Next == 0 {
			return recs, pages, total
		}
		q.After = p.Next
		if pages > 100_000 {
			t.Fatal("too many pages")
		}
	}
}

// assertQueries checks Failures against a ledger scan for a set of
// queries: every page followed, records and totals.
func assertQueries(t *testing.T, store *jobs.Store, id, step string, exactTotals bool) {
	t.Helper()
	reasons, err := store.FailureReasons(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	qs := []jobs.FailureQuery{
		{},
		{Limit: 7},
		{Limit: 1},
		{Outcomes: []string{jobs.OutcomeFailed}, Limit: 3},
		{Outcomes: []string{jobs.OutcomeFailed, jobs.OutcomeInvalid}},
		{Outcomes: []string{jobs.OutcomeNotFound, jobs.OutcomeCancelled}, Limit: 13},
		{Outcomes: []string{jobs.OutcomeNotInInventory}},
		{After: 50, Limit: 5},
	}
	for _, r := range reasons {
		qs = append(qs, jobs.FailureQuery{Reason: r.Reason, Limit: 2},
			jobs.FailureQuery{Reason: r.Reason, Outcomes: []string{jobs.OutcomeInvalid}})
	}
	for _, a := range []int64{1, 2, 5, 17, 42, 101, 150, 299, 1000, 1042, 99999} {
		qs = append(qs, jobs.FailureQuery{Asset: a}, jobs.FailureQuery{Asset: a, Outcomes: []string{jobs.OutcomeFailed}})
	}
	for _, q := range qs {
		want := scanFailures(t, store, id, q)
		got, _, total := allPages(t, store, id, q)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: Failures(%+v) (-scan +pages):\n%s", step, q, d)
		}
		// Total counts the whole campaign's matches, whatever the cursor.
		all := q
		all.After = 0
		want = scanFailures(t, store, id, all)
		if exactTotals && q.Reason == "" && total != int64(len(want)) {
			t.Errorf("%s: Failures(%+v).Total = %d, want %d", step, q, total, len(want))
		}
		if total >= 0 && q.Reason != "" && len(q.Outcomes) == 0 && total != int64(len(want)) {
			t.Errorf("%s: Failures(%+v).Total = %d, want %d (or -1)", step, q, total, len(want))
		}
	}
}

// TestFailureIndexExact: whatever writes records (outcomes recorded twice,
// retries, successes after a retry, a cancel, real outcomes over
// cancelled ones) the failure index equals what the ledger holds, Failures
// pages agree with a ledger scan, and Delete removes the index.
func TestFailureIndexExact(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
	const id = "fx"
	// Two segments: batch 0 holds 1000..1099, batches 1..3 hold 1..300, so
	// batch order is not asset ID order.
	if _, err := submitIDs(t, store, newDef(id), 1000, 100, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := submitIDs(t, store, newDef(id), 1, 300, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1, Append: true}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	record := func(step string, batch int, recs []jobs.Record) {
		t.Helper()
		if _, err := store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: batch, Records: recs}}, now); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	rec := func(a int64, o string, status int, msg string) jobs.Record {
		return jobs.Record{AssetID: a, Outcome: o, Status: status, Attempts: 1, Error: msg, FinishedAt: now}
	}
	mixed := func(a int64) jobs.Record {
		switch a % 10 {
		case 1:
			return rec(a, jobs.OutcomeFailed, 500, fmt.Sprintf("HTTP 500 INTERNAL: asset %d failed", a))
		case 2:
			// Long enough for the error hash.
			return jobs.Record{AssetID: a, Outcome: jobs.OutcomeFailed, Status: 502, Attempts: 3, FinishedAt: now,
				Error: "HTTP 502 BAD_GATEWAY: upstream " + strings.Repeat("x", 80), ErrorID: fmt.Sprintf("e%d", a)}
		case 3:
			return rec(a, jobs.OutcomeInvalid, 400, "HTTP 400 INVALID_ID: Invalid asset ID format")
		case 4:
			return rec(a, jobs.OutcomeNotFound, 404, "")
		case 5:
			return rec(a, jobs.OutcomeNotInInventory, 0, "")
		case 6:
			return rec(a, jobs.OutcomeFailed, 0, "")
		case 7:
			return jobs.Record{AssetID: a, Outcome: "retrying", Status: 500, Attempts: 1}
		}
		return rec(a, jobs.OutcomeReset, 200, "")
	}
	batch := func(from, to int64, f func(int64) jobs.Record) []jobs.Record {
		var out []jobs.Record
		for a := from; a <= to; a++ {
			out = append(out, f(a))
		}
		return out
	}
	step := func(name string) {
		t.Helper()
		assertIndexExact(t, store, id, name)
		assertQueries(t, store, id, name, true)
	}
	step("empty")
	record("batch 0", 0, batch(1000, 1099, mixed))
	record("batch 1", 1, batch(1, 100, mixed))
	step("recorded")
	record("batch 1 again", 1, batch(1, 100, func(a int64) jobs.Record { return rec(a, jobs.OutcomeReset, 200, "") }))
	step("recorded twice")

	if n, err := store.Redrive(ctx, id, []string{jobs.OutcomeFailed, jobs.OutcomeInvalid}); err != nil || n == 0 {
		t.Fatalf("Redrive = %d, %v", n, err)
	}
	step("re-driven")
	// The re-driven assets: successes, failures again.
	again := func(a int64) jobs.Record {
		if a%2 == 0 {
			return rec(a, jobs.OutcomeReset, 200, "")
		}
		return rec(a, jobs.OutcomeFailed, 503, "HTTP 503 UNAVAILABLE")
	}
	record("re-driven batch 0", 0, batch(1000, 1099, again))
	record("re-driven batch 1", 1, batch(1, 100, again))
	step("re-driven recorded")

	if n, err := store.Redrive(ctx, id, []string{jobs.OutcomeNotFound, jobs.OutcomeNotInInventory}); err != nil || n == 0 {
		t.Fatalf("Redrive = %d, %v", n, err)
	}
	step("not found re-driven")
	record("batch 2 part", 2, batch(101, 150, mixed))
	if _, err := store.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	step("cancelled")
	// Calls in flight at the cancel record their real outcome over it.
	record("after cancel", 3, batch(201, 230, mixed))
	step("outcomes over cancelled")

	if err := store.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ix, err := store.FailureIndex(ctx, id); err != nil || len(ix) != 0 {
		t.Errorf("index after Delete: %v, %v; want none", ix, err)
	}
	if ks, err := env.Client.Keys(ctx, env.Namespace+":{"+id+"}*").Result(); err != nil || len(ks) != 0 {
		t.Errorf("keys after Delete: %v, %v; want none", ks, err)
	}
}

// TestFailuresWithoutIndex: a campaign stored before the failure index
// existed (no flag, no index), and one whose index an earlier version's
// worker left behind its counters, are answered from the ledger, in
// asset ID order, FailureScanMax records at most per page.
func TestFailuresWithoutIndex(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	const id = "legacy"
	n := jobs.FailureScanMax*2 + 500
	if _, err := submitIDs(t, store, newDef(id), 5000, 300, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := submitIDs(t, store, newDef(id), 1, n, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1, Append: true}); err != nil {
		t.Fatal(err)
	}
	if err := store.ForgetFailureIndex(ctx, id); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	failed := func(batch int, ids ...int64) {
		t.Helper()
		var recs []jobs.Record
		for _, a := range ids {
			recs = append(recs, jobs.Record{AssetID: a, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 1, Error: "HTTP 500", FinishedAt: now})
		}
		if _, err := store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: batch, Records: recs}}, now); err != nil {
			t.Fatal(err)
		}
	}
	failed(0, 5000)               // the first segment: batches 0..2
	failed(2, 5299)               //
	failed(3, 2, 3)               // the second: batch 3 holds IDs 1..100
	failed(3+(n-1)/100, int64(n)) // its last batch
	if ix, _ := store.FailureIndex(ctx, id); len(ix) != 0 {
		t.Fatalf("index %v of a campaign without one, want none", ix)
	}
	got, pages, total := allPages(t, store, id, jobs.FailureQuery{Limit: 2})
	want := scanFailures(t, store, id, jobs.FailureQuery{})
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pages (-scan +got):\n%s", d)
	}
	if total != 5 || pages < 3 {
		t.Errorf("total %d in %d pages, want 5 in at least 3 (the scan is bounded)", total, pages)
	}
	p, err := store.Failures(ctx, id, jobs.FailureQuery{Limit: 2})
	if err != nil || len(p.Records) != 2 || p.Next != 3 {
		t.Errorf("first page %+v, %v; want assets 2 and 3, next 3", p, err)
	}
	p, err = store.Failures(ctx, id, jobs.FailureQuery{After: 5299})
	if err != nil || len(p.Records) != 0 || p.Next != 5299+jobs.FailureScanMax {
		t.Errorf("page after 5299: %d records, next %d, %v; want none and next %d (where the scan stopped)",
			len(p.Records), p.Next, err, 5299+jobs.FailureScanMax)
	}
	for _, a := range []int64{3, 5299, int64(n), 4, 999999} {
		want := scanFailures(t, store, id, jobs.FailureQuery{Asset: a})
		p, err := store.Failures(ctx, id, jobs.FailureQuery{Asset: a})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, p.Records, cmpEmpty); d != "" {
			t.Errorf("asset %d (-scan +got):\n%s", a, d)
		}
	}
}

var cmpEmpty = cmp.Transformer("nilEmpty", func(r []jobs.Record) []jobs.Record {
	if len(r) == 0 {
		return nil
	}
	return r
})

// TestFailuresStaleIndex: an index that disagrees with the campaign's
// counters (an earlier version's worker recorded without it) is not
// trusted: the page comes from the ledger.
func TestFailuresStaleIndex(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	const id = "stale"
	if _, err := submitIDs(t, store, newDef(id), 1, 200, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := []jobs.Record{{AssetID: 7, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 1, FinishedAt: now}}
	if _, err := store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: 0, Records: r}}, now); err != nil {
		t.Fatal(err)
	}
	// What an earlier version's script does: the record and the counter,
	// no index.
	ns := env.Namespace
	env.Client.HSet(ctx, ns+":{"+id+"}:l:1", "150", "f,500,1,0,")
	env.Client.HIncrBy(ctx, jobs.MetaKey(ns, id), "n:failed", 1)
	got, _, total := allPages(t, store, id, jobs.FailureQuery{})
	if ids := assetIDs(got); !slices.Equal(ids, []int64{7, 150}) || total != 2 {
		t.Errorf("failures %v, total %d; want [7 150], 2", ids, total)
	}
}

func assetIDs(rs []jobs.Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.AssetID
	}
	return out
}

// TestFailuresQueryErrors: outcomes that are not failures and negative
// numbers are refused, naming the value.
func TestFailuresQueryErrors(t *testing.T) {
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	if _, err := submitIDs(t, store, newDef("q"), 1, 10, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    jobs.FailureQuery
		want string
	}{
		{jobs.FailureQuery{Outcomes: []string{jobs.OutcomeReset}}, `outcome "reset"`},
		{jobs.FailureQuery{Outcomes: []string{"nope"}}, `outcome "nope"`},
		{jobs.FailureQuery{Limit: -1}, "limit -1"},
		{jobs.FailureQuery{After: -5}, "after -5"},
	} {
		_, err := store.Failures(context.Background(), "q", tc.q)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Failures(%+v) = %v, want an error naming %s", tc.q, err, tc.want)
		}
	}
	if _, err := store.Failures(context.Background(), "missing", jobs.FailureQuery{}); err == nil {
		t.Error("Failures of a missing campaign: no error")
	}
}

// TestFailureReasonOfMatchesLua: the Go reason of a record is the one the
// scripts count it under, on many texts: HTTP statuses, addresses, IDs,
// hex, multi-byte text cut at the limit, random bytes.
func TestFailureReasonOfMatchesLua(t *testing.T) {
	env := redistest.New(t)
	ctx := context.Background()
	texts := []string{
		"", "HTTP 500", "HTTP 5000 x", "HTTP 50", "http 500", "HTTP 404 NOT_FOUND: asset 123",
		"dial tcp 127.0.0.1:40123: connect: connection refused", "error_id deadbeef12 and cafe and c0fe",
		"abc1 ab12 a1 DEAD1 dead", "0x1f 0xffff 12ab34", "HTTP 502 " + strings.Repeat("é", 70),
		strings.Repeat("a", 119) + "é", strings.Repeat("1a", 100), "tab\there\nnewline 42", "#already#",
		"HTTP 200OK", "HTTP 999", "é1é22é333",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("0123456789abcdefABCDEFxyz #:.,/é\x00\xff HTTP")
	for range 300 {
		b := make([]byte, rng.IntN(200))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if rng.IntN(3) == 0 {
			b = append([]byte(fmt.Sprintf("HTTP %d ", rng.IntN(1000))), b...)
		}
		texts = append(texts, string(b))
	}
	script := jobs.FailureLua + `
local t = {}
count_failure(t, ARGV[1], 1)
for r in pairs(t) do return r end`
	for _, text := range texts {
		for _, status := range []int{0, 500} {
			r := jobs.Record{Outcome: jobs.OutcomeFailed, Status: status, Error: text}
			want := jobs.FailureReasonOf(r)
			got, err := env.Client.Eval(ctx, script, nil, fmt.Sprintf("f,%d,1,0,%s", status, text)).Text()
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			if got != want {
				t.Errorf("status %d, error %q: Lua %q, Go %q", status, text, got, want)
			}
		}
	}
}

// TestFailuresOtherReason: with more reasons than FailureReasons keeps,
// the reason "other" pages through the assets whose reason has no count
// of its own, as many as "other" counts, and Total is unknown.
func TestFailuresOtherReason(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	if _, err := submitIDs(t, store, newDef("many"), 1, 100, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var recs []jobs.Record
	for a := int64(1); a <= 50; a++ {
		recs = append(recs, jobs.Record{AssetID: a, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 1, FinishedAt: now,
			Error: "HTTP 500: error " + letters(a)})
	}
	if _, err := store.Ledger().Record(ctx, "many", []jobs.BatchRecords{{Batch: 0, Records: recs}}, now); err != nil {
		t.Fatal(err)
	}
	reasons, err := store.FailureReasons(ctx, "many", 0)
	if err != nil {
		t.Fatal(err)
	}
	var other int64
	own := map[string]bool{}
	for _, r := range reasons {
		if r.Reason == jobs.OtherFailureReason {
			other = r.Count
		} else {
			own[r.Reason] = true
		}
	}
	if other != 50-jobs.MaxFailureReasons {
		t.Fatalf("other counts %d, want %d", other, 50-jobs.MaxFailureReasons)
	}
	got, _, total := allPages(t, store, "many", jobs.FailureQuery{Reason: jobs.OtherFailureReason, Limit: 5})
	if int64(len(got)) != other || total != -1 {
		t.Errorf("reason other: %d records, total %d; want %d, -1", len(got), total, other)
	}
	for _, r := range got {
		if own[jobs.FailureReasonOf(r)] {
			t.Errorf("asset %d: reason %q has its own count, listed under other", r.AssetID, jobs.FailureReasonOf(r))
		}
	}
	for r := range own {
		if p, err := store.Failures(ctx, "many", jobs.FailureQuery{Reason: r}); err != nil || len(p.Records) != 1 || p.Total != -1 {
			t.Errorf("reason %q: %d records, total %d, %v; want 1, -1 (the split beyond the kept reasons is approximate)", r, len(p.Records), p.Total, err)
		}
	}
}

// TestFailureIndexBoundedPerOutcome: an outcome with more assets than
// FailureIndexMax (a big campaign cancelled before it ran) drops its index
// instead of costing four times the ledger in Redis memory; its queries
// scan the ledger (its assets are dense there), the other outcomes keep
// their index, and every query still agrees with a full ledger scan.
func TestFailureIndexBoundedPerOutcome(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	const id = "bounded"
	n := jobs.FailureIndexMax + 250
	if _, err := submitIDs(t, store, newDef(id), 1, n, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var recs []jobs.Record
	for _, a := range []int64{5, 42, 77} {
		recs = append(recs, jobs.Record{AssetID: a, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 1, Error: "HTTP 500", FinishedAt: now})
	}
	if _, err := store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: 0, Records: recs}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	c, err := store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Counts[jobs.OutcomeCancelled]; got != int64(n-3) {
		t.Fatalf("cancelled %d, want %d", got, n-3)
	}
	ix, err := store.FailureIndex(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix[jobs.OutcomeCancelled]) != 0 || len(ix[jobs.OutcomeFailed]) != 3 {
		t.Fatalf("index holds %d cancelled and %d failed assets, want 0 (past the bound) and 3",
			len(ix[jobs.OutcomeCancelled]), len(ix[jobs.OutcomeFailed]))
	}
	for _, q := range []jobs.FailureQuery{
		{Outcomes: []string{jobs.OutcomeFailed}},
		{Outcomes: []string{jobs.OutcomeCancelled}, Limit: 500},
		{Outcomes: []string{jobs.OutcomeCancelled}, After: 9000, Limit: 500},
		{Limit: 500},
		{Asset: 42},
		{Asset: 43},
		{Asset: int64(n)},
	} {
		want := scanFailures(t, store, id, q)
		p, err := store.Failures(ctx, id, q)
		if err != nil {
			t.Fatal(err)
		}
		if q.Asset == 0 && len(want) > q.Limit && q.Limit > 0 {
			want = want[:q.Limit]
		}
		if d := cmp.Diff(want, p.Records, cmpEmpty); d != "" {
			t.Errorf("Failures(%+v) (-scan +got):\n%s", q, d)
		}
	}
}
