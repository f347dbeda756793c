package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// reviewStore is newUndoStore with its Redis and namespace, for tests
// that set a meta field by hand.
func reviewStore(t *testing.T) (*jobs.Store, *redistest.Env) {
	env := redistest.New(t)
	return jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond}), env
}

// appendIDs appends ids to campaign src (made by undoSource over 1..6).
func appendIDs(store *jobs.Store, src string, ids ...int64) (*jobs.SubmitResult, error) {
	d := undoDef(src, jobs.ModeDelete)
	d.Snapshot = true
	var vals []string
	for i := int64(1); i <= 6; i++ {
		vals = append(vals, strconv.FormatInt(i, 10))
	}
	for _, id := range ids {
		vals = append(vals, strconv.FormatInt(id, 10))
	}
	plan, err := jobs.ReadPlan(d, jobs.IDList("test", vals))
	if err != nil {
		return nil, err
	}
	return store.Submit(context.Background(), d, plan, jobs.SubmitOptions{Append: true, Approved: true})
}

func sixReset() map[int64]undoAsset {
	assets := map[int64]undoAsset{}
	for i := int64(1); i <= 6; i++ {
		assets[i] = undoAsset{labels: []string{"a"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1}
	}
	return assets
}

func wantUndone(t *testing.T, what string, err error, rc string) {
	t.Helper()
	if !errors.Is(err, jobs.ErrUndone) {
		t.Fatalf("%s of an undone source: %v, want ErrUndone", what, err)
	}
	if !strings.Contains(err.Error(), rc) || !strings.Contains(err.Error(), "create a new campaign") {
		t.Fatalf("%s: message %q does not name restore campaign %s and the way out", what, err, rc)
	}
}

// Once undone, a source never calls PDCP again: re-drive, append, resume
// and approve are refused, so nothing deletes the labels its restore puts
// back and no asset is added that no restore campaign covers.
func TestUndoneSourceRefusesRestart(t *testing.T) {
	ctx := context.Background()
	store, env := reviewStore(t)
	assets := sixReset()
	assets[3] = undoAsset{labels: []string{"a"}, listed: true, outcome: jobs.OutcomeFailed, attempts: 3}
	src := undoSource(t, store, undoDef("src", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	if src.State != jobs.StateDone {
		t.Fatalf("source %s", src.State)
	}
	res, _, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	rc := res.Campaign.ID
	n, err := store.Redrive(ctx, "src", []string{jobs.OutcomeFailed})
	wantUndone(t, "re-drive", err, rc)
	if n != 0 {
		t.Fatalf("re-drive re-queued %d", n)
	}
	_, err = appendIDs(store, "src", 100)
	wantUndone(t, "append", err, rc)
	_, err = store.Resume(ctx, "src")
	wantUndone(t, "resume", err, rc)
	c, err := store.Get(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != jobs.StateDone || c.Total != 6 {
		t.Fatalf("source changed: %s, %d assets", c.State, c.Total)
	}
	// Approve: a pending source that an undo claimed but did not yet
	// cancel (the race the script closes).
	p := undoDef("pend", jobs.ModeDelete)
	undoSource(t, store, p, map[int64]undoAsset{1: {labels: []string{"a"}, listed: true}}, jobs.SubmitOptions{RequireApproval: true})
	if err := env.Client.HSet(ctx, jobs.MetaKey(env.Namespace, "pend"), "undo", "c-x").Err(); err != nil {
		t.Fatal(err)
	}
	_, err = store.Approve(ctx, "pend")
	wantUndone(t, "approve", err, "c-x")
	if c, _ := store.Get(ctx, "pend"); c.State != jobs.StatePending {
		t.Fatalf("pending source is %s", c.State)
	}
}

// A complete segment's label data is never rewritten: a second writer (a
// concurrent undo that read done=false before the first finished) would
// renumber the dictionary under batches already enqueued.
func TestStoreSegmentSetsKeepsCompleteSegment(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	assets := map[int64]undoAsset{
		1: {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
		2: {labels: []string{"b"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
	}
	undoSource(t, store, undoDef("src", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	res, _, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	rc := res.Campaign
	before, _, _, err := store.BatchLabels(ctx, rc, 0, []int64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.StoreSegmentSets(ctx, rc, 0, [][]string{{}, {"b"}, {"a"}}, map[int][]uint64{0: {2, 3}}); err != nil {
		t.Fatalf("second write: %v", err)
	}
	after, _, _, err := store.BatchLabels(ctx, rc, 0, []int64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 2 || len(after[0]) != 1 || after[0][0] != "a" || after[1][0] != "b" {
		t.Fatalf("complete segment rewritten: before %v after %v", before, after)
	}
}

// storeSegmentSets for an old incarnation of a campaign writes nothing:
// the token it used to set outside its script took the snapshot of the
// campaign created again under the same ID away from its run.
func TestStoreSegmentSetsOtherIncarnation(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	assets := map[int64]undoAsset{1: {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1}}
	undoSource(t, store, undoDef("src", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	res, _, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	old := res.Campaign
	if err := store.Delete(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	d := undoDef(old.ID, jobs.ModeDelete)
	d.Snapshot = true
	plan, err := jobs.ReadPlan(d, jobs.IDList("test", []string{"1"}))
	if err != nil {
		t.Fatal(err)
	}
	again, err := store.Submit(ctx, d, plan, jobs.SubmitOptions{Approved: true})
	if err != nil {
		t.Fatal(err)
	}
	run, err := store.BeginSnapshot(ctx, again.Campaign, 0, "run-token")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.StoreSegmentSets(ctx, old, 0, [][]string{{}, {"a"}}, map[int][]uint64{0: {2}}); !errors.Is(err, jobs.ErrCampaignGone) {
		t.Fatalf("store into an old incarnation: %v, want ErrCampaignGone", err)
	}
	if err := run.Checkpoint(ctx, 1); err != nil {
		t.Fatalf("the new incarnation's snapshot run lost its segment: %v", err)
	}
}

// Segment 0 reset asset 1; segment 1 (appended) never gets its snapshot
// (the campaign is cancelled, and snapshot tasks stop for it). Its assets
// were never called: undo restores segment 0 and counts segment 1
// unchanged, and the export holds segment 0 and says one is missing.
func TestUndoWithIncompleteAppendedSegment(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	assets := map[int64]undoAsset{
		1: {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
	}
	for i := int64(2); i <= 6; i++ {
		assets[i] = undoAsset{labels: []string{"b"}, listed: true}
	}
	undoSource(t, store, undoDef("src", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	if res, err := appendIDs(store, "src", 100, 101); err != nil || res.Appended != 2 {
		t.Fatalf("append: %v", err)
	}
	if _, err := store.Cancel(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := store.ExportSnapshot(ctx, "src", &buf)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	hdr, lines, err := jobs.ReadSnapshot(&buf, "export")
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 || len(lines) != 6 || hdr.IncompleteSegments != 1 || hdr.TakenAt.IsZero() {
		t.Fatalf("export: %d lines, header %+v", n, hdr)
	}
	res, plan, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatalf("undo of a cancelled campaign whose asset 1 was reset: %v", err)
	}
	if plan.Restore != 1 || plan.Unchanged != 7 || res.Campaign.Total != 8 {
		t.Fatalf("plan %+v, restore campaign of %d assets", plan, res.Campaign.Total)
	}
	got := map[int64][]string{}
	err = store.EachAsset(ctx, res.Campaign, func(a jobs.AssetState) error {
		if len(a.Labels) > 0 {
			got[a.Record.AssetID] = a.Labels
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[1]) != 1 || got[1][0] != "a" {
		t.Fatalf("restores %v, want only asset 1: [a]", got)
	}
}

// The undo of a running source makes its restore campaign wait
// RestoreGrace (NotBefore): a call of the source sent just before the
// cancel may still be applied. A done source needs no wait, nor does one
// stopped longer ago than the grace.
func TestUndoNotBefore(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	assets := sixReset()
	assets[6] = undoAsset{labels: []string{"a"}, listed: true} // in flight
	undoSource(t, store, undoDef("run", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	before := time.Now()
	res, plan, err := store.Undo(ctx, "run", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	nb := res.Campaign.NotBefore
	if !plan.Cancels || nb.Before(before.Add(jobs.RestoreGrace).Truncate(time.Millisecond)) || nb.After(after.Add(jobs.RestoreGrace)) {
		t.Fatalf("restore of a running source: not before %v, want %v..%v (cancels %v)", nb, before.Add(jobs.RestoreGrace), after.Add(jobs.RestoreGrace), plan.Cancels)
	}
	if got, err := store.Get(ctx, res.Campaign.ID); err != nil || !got.NotBefore.Equal(nb) {
		t.Fatalf("stored not before %v (%v), want %v", got.NotBefore, err, nb)
	}
	undoSource(t, store, undoDef("done", jobs.ModeDelete), sixReset(), jobs.SubmitOptions{Approved: true})
	res, _, err = store.Undo(ctx, "done", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Campaign.NotBefore.IsZero() {
		t.Fatalf("restore of a done source waits until %v", res.Campaign.NotBefore)
	}
}

// A source paused longer ago than RestoreGrace has no call in flight: no
// wait; one paused a moment ago waits the rest of the grace.
func TestUndoNotBeforePaused(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	var skew time.Duration // the store's clock runs ahead of the real one by skew
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond,
		Now: func() time.Time { return time.Now().Add(skew) }})
	assets := sixReset()
	assets[6] = undoAsset{labels: []string{"a"}, listed: true}
	undoSource(t, store, undoDef("old", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	if err := store.Pause(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	skew = jobs.RestoreGrace + time.Second
	undoSource(t, store, undoDef("new", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	paused := time.Now().Add(skew)
	if err := store.Pause(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	res, _, err := store.Undo(ctx, "old", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Campaign.NotBefore.IsZero() {
		t.Fatalf("source paused long ago: restore waits until %v", res.Campaign.NotBefore)
	}
	res, _, err = store.Undo(ctx, "new", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	if nb, lo := res.Campaign.NotBefore, paused.Add(jobs.RestoreGrace).Truncate(time.Millisecond); nb.Before(lo) || nb.After(lo.Add(5*time.Second)) {
		t.Fatalf("source paused a moment ago: restore waits until %v, want about %v", nb, lo)
	}
}

// A campaign is undone once: a second undo with the same exact returns
// the first restore campaign, one with another exact is refused naming it.
func TestUndoAgainOtherExact(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	undoSource(t, store, undoDef("src", jobs.ModeDelete), sixReset(), jobs.SubmitOptions{Approved: true})
	first, _, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil || !again.Existing || again.Campaign.ID != first.Campaign.ID {
		t.Fatalf("same undo again: %v", err)
	}
	_, _, err = store.Undo(ctx, "src", jobs.UndoOptions{Exact: true, Submit: jobs.SubmitOptions{Approved: true}})
	if !errors.Is(err, jobs.ErrInputMismatch) || !strings.Contains(err.Error(), first.Campaign.ID) || !strings.Contains(err.Error(), "exact=false") {
		t.Fatalf("undo --exact after an undo without: %v, want ErrInputMismatch naming %s and exact=false", err, first.Campaign.ID)
	}
}

// reset_unlisted with a query is refused: a query's assets drift out of
// its listing and would be reset with nothing recorded to undo.
func TestValidateResetUnlistedQuery(t *testing.T) {
	d := undoDef("q", jobs.ModeDelete)
	d.Snapshot, d.ResetUnlisted, d.Query = true, true, "labels=critical"
	d.CreatedAt = time.Now()
	err := d.Validate()
	if err == nil || !strings.Contains(err.Error(), "reset_unlisted") {
		t.Fatalf("reset_unlisted with a query: %v", err)
	}
	d.Query = ""
	if err := d.Validate(); err != nil {
		t.Fatalf("reset_unlisted alone: %v", err)
	}
}

// The export says per asset whether it may have been reset; undo from the
// file leaves reset=false assets alone, and --exact (PATCH replace)
// restores only reset=true ones and refuses a file that does not say.
func TestUndoFromSnapshotResetField(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	assets := map[int64]undoAsset{
		1: {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
		2: {labels: []string{"b"}, listed: true, outcome: jobs.OutcomeNotFound, attempts: 1},
		3: {labels: []string{"c"}, listed: true, outcome: jobs.OutcomeFailed, attempts: 0},
	}
	undoSource(t, store, undoDef("src", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	hdr, lines := exported(t, store, "src")
	reset := map[int64]bool{}
	for _, l := range lines {
		if l.Reset == nil {
			t.Fatalf("asset %d: no reset field", l.AssetID)
		}
		reset[l.AssetID] = *l.Reset
	}
	if !reset[1] || reset[2] || reset[3] {
		t.Fatalf("reset %v, want only 1", reset)
	}
	undoFile := func(id string, lines []jobs.SnapshotLine, exact bool) (map[int64][]string, error) {
		def := &jobs.Campaign{ID: id, Priority: jobs.PriorityNormal, BatchSize: 10, Policy: jobs.DefaultPolicy()}
		res, err := store.UndoFromSnapshot(ctx, hdr, lines, def, jobs.UndoOptions{Exact: exact, Submit: jobs.SubmitOptions{Approved: true}})
		if err != nil {
			return nil, err
		}
		return restoreLabelsOf(t, store, res.Campaign, []int64{1, 2, 3}), nil
	}
	for _, exact := range []bool{false, true} {
		got, err := undoFile("f-"+strconv.FormatBool(exact), lines, exact)
		if err != nil {
			t.Fatal(err)
		}
		sameLabels(t, got, map[int64][]string{1: {"a"}})
	}
	// A file without the field (written before any outcome, or by an
	// older version): restored without --exact, refused with it.
	old := make([]jobs.SnapshotLine, len(lines))
	for i, l := range lines {
		old[i] = jobs.SnapshotLine{AssetID: l.AssetID, Labels: l.Labels}
	}
	got, err := undoFile("old", old, false)
	if err != nil {
		t.Fatal(err)
	}
	sameLabels(t, got, map[int64][]string{1: {"a"}, 2: {"b"}, 3: {"c"}})
	if _, err := undoFile("old-exact", old, true); !errors.Is(err, jobs.ErrSnapshotNoOutcomes) || !strings.Contains(err.Error(), "drop --exact") {
		t.Fatalf("--exact from a file without reset: %v, want ErrSnapshotNoOutcomes", err)
	}
}

// TestUndoFromSnapshotTwice: undo --snapshot of the same file, run twice
// without --campaign, returns the first restore campaign instead of
// calling every asset again; asking the other --exact is refused, naming it.
func TestUndoFromSnapshotTwice(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	assets := map[int64]undoAsset{
		1: {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
		2: {labels: []string{"b"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
	}
	undoSource(t, store, undoDef("src", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	hdr, lines := exported(t, store, "src")
	undo := func(exact bool) (*jobs.SubmitResult, error) {
		def := &jobs.Campaign{Priority: jobs.PriorityNormal, BatchSize: 10, Policy: jobs.DefaultPolicy()}
		return store.UndoFromSnapshot(ctx, hdr, lines, def, jobs.UndoOptions{Exact: exact, Submit: jobs.SubmitOptions{Approved: true}})
	}
	first, err := undo(false)
	if err != nil {
		t.Fatal(err)
	}
	second, err := undo(false)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || second.Created || !second.Existing || second.Campaign.ID != first.Campaign.ID {
		t.Fatalf("second undo of the same file: created %v existing %v ID %s; want the first restore %s",
			second.Created, second.Existing, second.Campaign.ID, first.Campaign.ID)
	}
	if _, err := undo(true); !errors.Is(err, jobs.ErrInputMismatch) || !strings.Contains(err.Error(), first.Campaign.ID) {
		t.Fatalf("undo --exact of the same file: %v; want ErrInputMismatch naming %s", err, first.Campaign.ID)
	}
}

// TestUndoFromSnapshotRefusesRunningSource: a file undo of a campaign that
// can still run in the same store is refused: its batches would go on
// resetting next to the restore, and nothing would wait for its calls.
// Undo by name cancels it first and waits.
func TestUndoFromSnapshotRefusesRunningSource(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	assets := map[int64]undoAsset{
		1: {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
		2: {labels: []string{"b"}, listed: true},
	}
	undoSource(t, store, undoDef("src", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	hdr, lines := exported(t, store, "src")
	def := &jobs.Campaign{TeamID: hdr.TeamID, Server: hdr.Server, Priority: jobs.PriorityNormal, BatchSize: 10, Policy: jobs.DefaultPolicy()}
	_, err := store.UndoFromSnapshot(ctx, hdr, lines, def, jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if !errors.Is(err, jobs.ErrSourceRunning) || !strings.Contains(err.Error(), "labelreset undo src") {
		t.Fatalf("file undo of a running source: %v; want ErrSourceRunning pointing to undo by name", err)
	}
	if _, err := store.Cancel(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	def = &jobs.Campaign{TeamID: hdr.TeamID, Server: hdr.Server, Priority: jobs.PriorityNormal, BatchSize: 10, Policy: jobs.DefaultPolicy()}
	if _, err := store.UndoFromSnapshot(ctx, hdr, lines, def, jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}}); err != nil {
		t.Fatalf("file undo once the source is cancelled: %v", err)
	}
}

// exported is campaign id's snapshot as ExportSnapshot writes it, read
// back with ReadSnapshot.
func exported(t *testing.T, store *jobs.Store, id string) (*jobs.SnapshotHeader, []jobs.SnapshotLine) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := store.ExportSnapshot(context.Background(), id, &buf); err != nil {
		t.Fatal(err)
	}
	hdr, lines, err := jobs.ReadSnapshot(&buf, id+".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return hdr, lines
}
