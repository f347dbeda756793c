package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// tickingStore is a store whose clock moves a second per reading, so that
// campaigns created one after the other sort by creation.
func tickingStore(t *testing.T, env *redistest.Env) *jobs.Store {
	t.Helper()
	var tick atomic.Int64
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	return jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond,
		Now: func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Second) }})
}

// hitOutcomes renders hits as "campaign=outcome" in their order.
func hitOutcomes(hits []jobs.AssetHit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Campaign+"="+h.Record.Outcome)
	}
	return out
}

// TestFindAsset: every campaign that holds the asset, newest first, with
// its record from the right batch of the right segment (an appended one
// too), "pending" without a record, the full error of a failed asset, a
// restore campaign like any other, and none of what keep leaves out.
func TestFindAsset(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := tickingStore(t, env)
	run := jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}
	// "done": 1..250 in batches of 100, asset 150 in batch 1, reset.
	if _, err := submitIDs(t, store, newDef("done"), 1, 250, run); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)
	rec := func(id string, batch int, r jobs.Record) {
		t.Helper()
		if _, err := store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: batch, Records: []jobs.Record{r}}}, now); err != nil {
			t.Fatal(err)
		}
	}
	rec("done", 1, jobs.Record{AssetID: 150, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 2, FinishedAt: now})
	rec("done", 0, jobs.Record{AssetID: 1, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now})
	// "other": does not hold 150.
	if _, err := submitIDs(t, store, newDef("other"), 1000, 50, run); err != nil {
		t.Fatal(err)
	}
	// "appended": 1..100 (batch 0), then 101..300 appended (segment 1,
	// batches 1 and 2): 150 is in batch 1, failed with a long error.
	if _, err := submitIDs(t, store, newDef("appended"), 1, 100, run); err != nil {
		t.Fatal(err)
	}
	app := run
	app.Append = true
	if _, err := submitIDs(t, store, newDef("appended"), 1, 300, app); err != nil {
		t.Fatal(err)
	}
	longErr := "HTTP 500: " + strings.Repeat("upstream exploded ", 8)
	rec("appended", 1, jobs.Record{AssetID: 150, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 8, Error: longErr,
		ErrorID: "err-123", FinishedAt: now})
	// A record in the wrong batch is never read: 150 lives in batch 1.
	rec("appended", 2, jobs.Record{AssetID: 150, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now})
	// "waiting": holds 150, no record yet; "hidden": holds it, another team.
	if _, err := submitIDs(t, store, newDef("waiting"), 101, 100, run); err != nil {
		t.Fatal(err)
	}
	hidden := newDef("hidden")
	hidden.TeamID = "team-b"
	if _, err := submitIDs(t, store, hidden, 1, 200, run); err != nil {
		t.Fatal(err)
	}

	keep := func(c *jobs.Campaign) bool { return c.TeamID != "team-b" }
	hits, err := store.FindAsset(ctx, 150, keep)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"waiting=pending", "appended=failed", "done=reset"}
	if diff := cmp.Diff(want, hitOutcomes(hits)); diff != "" {
		t.Fatalf("hits of asset 150 (-want +got):\n%s", diff)
	}
	f := hits[1]
	if f.Record.Error != longErr || f.Record.ErrorID != "err-123" || f.Record.Status != 500 || f.Record.Attempts != 8 ||
		!f.Record.FinishedAt.Equal(now) || f.Mode != jobs.ModeDelete || f.State != jobs.StateRunning || f.Name != "appended" {
		t.Errorf("failed hit %+v: want status 500, 8 attempts, the whole error and error_id, finished %v", f, now)
	}
	if hits[0].CreatedAt.Before(hits[1].CreatedAt) || hits[1].CreatedAt.Before(hits[2].CreatedAt) {
		t.Errorf("hits not newest first: %v, %v, %v", hits[0].CreatedAt, hits[1].CreatedAt, hits[2].CreatedAt)
	}
	all, err := store.FindAsset(ctx, 150, nil)
	if err != nil || len(all) != 4 || all[0].Campaign != "hidden" {
		t.Errorf("without keep: %v, %v; want hidden first, 4 hits", hitOutcomes(all), err)
	}
	// Asset 1: in done (reset, batch 0), appended, hidden; not in waiting.
	hits, err = store.FindAsset(ctx, 1, keep)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"appended=pending", "done=reset"}, hitOutcomes(hits)); diff != "" {
		t.Errorf("hits of asset 1 (-want +got):\n%s", diff)
	}
	for _, id := range []int64{999, 301, 1 << 62} {
		if hits, err := store.FindAsset(ctx, id, nil); err != nil || len(hits) != 0 {
			t.Errorf("asset %d: %v, %v; want no hit", id, hitOutcomes(hits), err)
		}
	}
	if _, err := store.FindAsset(ctx, 0, nil); !errors.Is(err, jobs.ErrInvalidAssetID) {
		t.Errorf("asset 0: %v, want ErrInvalidAssetID", err)
	}

	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	for _, k := range []string{"campaign", "name", "state", "mode", "created_at", "outcome", "http_status", "attempts", "error", "finished_at"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON of a hit %s has no %q", b, k)
		}
	}
}

// TestFindAssetRestore: an undo's restore campaign holds the source's
// assets and is shown like any other campaign, with its mode.
func TestFindAssetRestore(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	undoSource(t, store, undoDef("src", jobs.ModeDelete), outcomeFixture(), jobs.SubmitOptions{Approved: true})
	res, _, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{ConfirmAbove: -1, Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := store.FindAsset(ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 {
		t.Fatalf("hits %v, want the restore campaign and its source", hitOutcomes(hits))
	}
	byID := map[string]jobs.AssetHit{hits[0].Campaign: hits[0], hits[1].Campaign: hits[1]}
	rc, ok := byID[res.Campaign.ID]
	if !ok || rc.Mode != jobs.ModeRestore || rc.RestoreOf != "src" || rc.Record.Outcome != jobs.OutcomePending {
		t.Errorf("restore hit %+v (found %v): want mode restore of src, pending", rc, ok)
	}
	if src := byID["src"]; src.Record.Outcome != jobs.OutcomeReset || src.State != jobs.StateCancelled && src.State != jobs.StateDone {
		t.Errorf("source hit %+v: want reset", src)
	}
}

// TestFindAssetRecreated: a campaign deleted and created again under the
// same ID with other assets (as many, so that the segment's ID count is
// the same) is answered from its own data, never from what a lookup of
// the earlier one cached; and a second lookup of an unchanged campaign
// reads no segment again.
func TestFindAssetRecreated(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := tickingStore(t, env)
	run := jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}
	if _, err := submitIDs(t, store, newDef("again"), 1, 100, run); err != nil {
		t.Fatal(err)
	}
	if hits, err := store.FindAsset(ctx, 50, nil); err != nil || len(hits) != 1 {
		t.Fatalf("first incarnation: %v, %v; want a hit", hitOutcomes(hits), err)
	}
	var gets atomic.Int64
	env.Client.AddHook(redistest.Observe(func(cmds ...redis.Cmder) {
		for _, c := range cmds {
			if c.Name() == "get" {
				gets.Add(1)
			}
		}
	}))
	if hits, err := store.FindAsset(ctx, 50, nil); err != nil || len(hits) != 1 || gets.Load() != 0 {
		t.Fatalf("second lookup: %v, %v, %d segment reads; want the hit from the cache", hitOutcomes(hits), err, gets.Load())
	}
	if err := store.Delete(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if _, err := submitIDs(t, store, newDef("again"), 1001, 100, run); err != nil {
		t.Fatal(err)
	}
	if hits, err := store.FindAsset(ctx, 50, nil); err != nil || len(hits) != 0 {
		t.Errorf("after re-creation with assets 1001..1100: asset 50 %v, %v; want no hit", hitOutcomes(hits), err)
	}
	if gets.Load() == 0 {
		t.Errorf("the new incarnation's segment was never read")
	}
	if hits, err := store.FindAsset(ctx, 1050, nil); err != nil || len(hits) != 1 || hits[0].Record.Outcome != jobs.OutcomePending {
		t.Errorf("after re-creation: asset 1050 %v, %v; want a pending hit", hitOutcomes(hits), err)
	}
}

// TestFindAssetRoundTrips: the lookup costs a fixed number of round
// trips to Redis whatever the number of campaigns: the index, the meta
// hashes, the segments (only while not cached) and the ledger entries.
func TestFindAssetRoundTrips(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := tickingStore(t, env)
	run := jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}
	for i := range 30 {
		if _, err := submitIDs(t, store, newDef("c"+string(rune('a'+i%26))+string(rune('a'+i/26))), 1+i*10, 100, run); err != nil {
			t.Fatal(err)
		}
	}
	var trips atomic.Int64
	env.Client.AddHook(redistest.Observe(func(cmds ...redis.Cmder) { trips.Add(1) }))
	for _, tc := range []struct {
		name string
		want int64
	}{{"cold", 4}, {"cached", 3}} {
		trips.Store(0)
		hits, err := store.FindAsset(ctx, 95, nil)
		if err != nil || len(hits) != 10 {
			t.Fatalf("%s: %d hits, %v; want 10", tc.name, len(hits), err)
		}
		if got := trips.Load(); got != tc.want {
			t.Errorf("%s: %d round trips for 30 campaigns, want %d", tc.name, got, tc.want)
		}
	}
}

// TestFindAssetConcurrent: lookups at once through a cache too small for
// every campaign (entries evicted while others read them) all answer
// right.
func TestFindAssetConcurrent(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, AssetCacheBytes: 1000})
	run := jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}
	for i := range 6 {
		if _, err := submitIDs(t, store, newDef("con"+string(rune('a'+i))), 1+i*100, 150, run); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				asset := int64(1 + (g*37+i*53)%700)
				hits, err := store.FindAsset(ctx, asset, nil)
				// Campaign k holds 1+100k .. 150+100k.
				want := 0
				for k := range 6 {
					if asset >= int64(1+100*k) && asset <= int64(150+100*k) {
						want++
					}
				}
				if err != nil || len(hits) != want {
					errs <- fmt.Sprintf("asset %d: %v, %v; want %d hits", asset, hitOutcomes(hits), err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
