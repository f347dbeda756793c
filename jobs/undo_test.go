package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// undoAsset is one asset of an undo test's source campaign: its labels
// before the reset (listed false: the snapshot did not find it) and its
// ledger record (Outcome "" = none yet).
type undoAsset struct {
	labels   []string
	listed   bool
	outcome  string
	attempts int
}

// undoOddLabels are labels with the characters a label store gets wrong.
var undoOddLabels = []string{"a b", "x,y", "p/q:r", `say "hi"`, "café", "<&>"}

// outcomeFixture is one asset per undo rule, IDs 1..12 in batches of 5.
func outcomeFixture() map[int64]undoAsset {
	return map[int64]undoAsset{
		1:  {labels: []string{"a", "b"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
		2:  {labels: nil, listed: true, outcome: jobs.OutcomeReset, attempts: 1},            // had none
		3:  {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeFailed, attempts: 3}, // a timed-out call may have applied
		4:  {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeFailed, attempts: 0}, // never called
		5:  {labels: []string{"c"}, listed: true, outcome: jobs.OutcomeCancelled, attempts: 2},
		6:  {labels: []string{"c"}, listed: true, outcome: jobs.OutcomeCancelled, attempts: 0},
		7:  {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeNotFound, attempts: 1},
		8:  {listed: false, outcome: jobs.OutcomeNotInInventory},
		9:  {labels: []string{"b", "x,y"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
		10: {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeInvalid, attempts: 1},
		11: {listed: false, outcome: jobs.OutcomeReset, attempts: 1}, // --reset-unlisted: nothing known to put back
		12: {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeReset, attempts: 2},
	}
}

func newUndoStore(t *testing.T) *jobs.Store {
	env := redistest.New(t)
	return jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace, ControlDelay: time.Millisecond})
}

// undoSource submits campaign def over the fixture's IDs, takes its
// snapshot from the fixture's labels, and records the fixture's outcomes.
func undoSource(t *testing.T, store *jobs.Store, def *jobs.Campaign, assets map[int64]undoAsset, opts jobs.SubmitOptions) *jobs.Campaign {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	for id := range assets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	vals := make([]string, len(ids))
	for i, id := range ids {
		vals[i] = strconv.FormatInt(id, 10)
	}
	d := *def
	d.Snapshot = true
	plan, err := jobs.ReadPlan(&d, jobs.IDList("test", vals))
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Submit(ctx, &d, plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	run, err := store.BeginSnapshot(ctx, res.Campaign, 0, "token-1")
	if err != nil {
		t.Fatal(err)
	}
	var page []client.Asset
	for _, id := range ids {
		if a := assets[id]; a.listed {
			page = append(page, client.Asset{ID: id, Labels: a.labels})
		}
	}
	page = append(page, client.Asset{ID: 1_000_000, Labels: []string{"not ours"}})
	run.Add(page)
	if err := run.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	recordOutcomes(t, store, d.ID, d.BatchSize, ids, assets)
	c, err := store.Get(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func recordOutcomes(t *testing.T, store *jobs.Store, id string, batchSize int, ids []int64, assets map[int64]undoAsset) {
	t.Helper()
	now := time.Now()
	var brs []jobs.BatchRecords
	for i, aid := range ids {
		a := assets[aid]
		if a.outcome == "" {
			continue
		}
		b := i / batchSize
		if len(brs) == 0 || brs[len(brs)-1].Batch != b {
			brs = append(brs, jobs.BatchRecords{Batch: b})
		}
		br := &brs[len(brs)-1]
		br.Records = append(br.Records, jobs.Record{AssetID: aid, Outcome: a.outcome, Attempts: a.attempts, FinishedAt: now})
	}
	if _, err := store.Ledger().Record(context.Background(), id, brs, now); err != nil {
		t.Fatal(err)
	}
}

func undoDef(id string, mode jobs.Mode, labels ...string) *jobs.Campaign {
	return &jobs.Campaign{ID: id, Name: id, Mode: mode, Labels: labels, TeamID: "team-1", Server: "https://api.example.test",
		Priority: jobs.PriorityHigh, BatchSize: 5, Policy: jobs.DefaultPolicy(), Owner: "owner-hash"}
}

func TestPlanUndoRules(t *testing.T) {
	cases := []struct {
		name      string
		mode      jobs.Mode
		labels    []string
		exact     bool
		restore   int64
		wantLabel []jobs.LabelCount
	}{
		{"delete", jobs.ModeDelete, nil, false, 5,
			[]jobs.LabelCount{{Label: "a", Assets: 3}, {Label: "b", Assets: 2}, {Label: "c", Assets: 1}, {Label: "x,y", Assets: 1}}},
		{"delete exact", jobs.ModeDelete, nil, true, 5,
			[]jobs.LabelCount{{Label: "a", Assets: 3}, {Label: "b", Assets: 2}, {Label: "c", Assets: 1}, {Label: "x,y", Assets: 1}}},
		// 5 held only "c", which remove mode did not remove.
		{"remove", jobs.ModeRemove, []string{"a", "x,y"}, false, 4,
			[]jobs.LabelCount{{Label: "a", Assets: 3}, {Label: "x,y", Assets: 1}}},
		// Exact replaces with the whole set where anything was removed.
		{"remove exact", jobs.ModeRemove, []string{"a", "x,y"}, true, 4,
			[]jobs.LabelCount{{Label: "a", Assets: 3}, {Label: "b", Assets: 2}, {Label: "x,y", Assets: 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := newUndoStore(t)
			c := undoSource(t, store, undoDef("src", tc.mode, tc.labels...), outcomeFixture(), jobs.SubmitOptions{Approved: true})
			if c.State != jobs.StateDone {
				t.Fatalf("source state %s, want done (every asset has an outcome)", c.State)
			}
			plan, err := store.PlanUndo(context.Background(), "src", tc.exact)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Restore != tc.restore || plan.Unchanged != 12-tc.restore || plan.Cancels || plan.Existing != "" {
				t.Errorf("plan %+v, want restore %d, unchanged %d, no cancel, no existing", plan, tc.restore, 12-tc.restore)
			}
			if !slices.Equal(plan.Labels, tc.wantLabel) {
				t.Errorf("labels %+v, want %+v", plan.Labels, tc.wantLabel)
			}
		})
	}
}

// restoreLabelsOf returns the labels the restore campaign rc gives each of
// its assets (nil: unchanged), by BatchLabels, batch by batch.
func restoreLabelsOf(t *testing.T, store *jobs.Store, rc *jobs.Campaign, ids []int64) map[int64][]string {
	t.Helper()
	out := map[int64][]string{}
	for b := 0; b*rc.BatchSize < len(ids); b++ {
		chunk := ids[b*rc.BatchSize : min(len(ids), (b+1)*rc.BatchSize)]
		labels, _, ready, err := store.BatchLabels(context.Background(), rc, b, chunk)
		if err != nil || !ready {
			t.Fatalf("BatchLabels of batch %d: ready %v, %v", b, ready, err)
		}
		for i, id := range chunk {
			if len(labels[i]) > 0 {
				l := slices.Clone(labels[i])
				slices.Sort(l)
				out[id] = l
			}
		}
	}
	return out
}

func sortedIDs(m map[int64]undoAsset) []int64 {
	var ids []int64
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func sameLabels(t *testing.T, got, want map[int64][]string) {
	t.Helper()
	for id, w := range want {
		if !slices.Equal(got[id], w) {
			t.Errorf("asset %d gets %q back, want %q", id, got[id], w)
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("asset %d gets %q back, want nothing (unchanged)", id, g)
		}
	}
}

// TestUndoRestoreCampaign: the restore campaign mirrors the source
// (batches, team, server, priority, policy), carries each asset's labels,
// odd characters included, and a second undo returns it.
func TestUndoRestoreCampaign(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	assets := outcomeFixture()
	assets[12] = undoAsset{labels: undoOddLabels, listed: true, outcome: jobs.OutcomeReset, attempts: 1}
	src := undoSource(t, store, undoDef("src", jobs.ModeDelete), assets, jobs.SubmitOptions{Approved: true})
	res, plan, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{ConfirmAbove: 3, Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	rc := res.Campaign
	if !res.Created || res.Existing || plan.Existing != "" || plan.Cancels || plan.Restore != 5 {
		t.Errorf("result created %v existing %v, plan %+v; want a new campaign restoring 5", res.Created, res.Existing, plan)
	}
	if rc.Mode != jobs.ModeRestore || rc.RestoreOf != "src" || rc.Exact || rc.Snapshot || rc.Name != "undo of src" ||
		rc.TeamID != src.TeamID || rc.Server != src.Server || rc.Priority != src.Priority || rc.BatchSize != src.BatchSize ||
		rc.Policy != src.Policy || rc.Owner != "owner-hash" || rc.Total != 12 || rc.Batches != src.Batches || rc.State != jobs.StateRunning {
		t.Errorf("restore campaign %+v does not mirror source %+v", rc, src)
	}
	if res.Enqueued != rc.Batches {
		t.Errorf("enqueued %d batches, want %d", res.Enqueued, rc.Batches)
	}
	sorted := slices.Clone(undoOddLabels)
	slices.Sort(sorted)
	sameLabels(t, restoreLabelsOf(t, store, rc, sortedIDs(assets)), map[int64][]string{
		1: {"a", "b"}, 3: {"a"}, 5: {"c"}, 9: {"b", "x,y"}, 12: sorted,
	})

	// Same exact (another exact is refused: TestUndoAgainOtherExact).
	again, plan2, err := store.Undo(ctx, "src", jobs.UndoOptions{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Campaign.ID != rc.ID || !again.Existing || again.Created || plan2.Existing != rc.ID || plan2.Restore != 5 {
		t.Errorf("second undo: %s existing %v created %v plan %+v; want %s again", again.Campaign.ID, again.Existing, again.Created, plan2, rc.ID)
	}
	p, err := store.PlanUndo(ctx, "src", false)
	if err != nil || p.Existing != rc.ID {
		t.Errorf("PlanUndo after undo: %+v, %v; want existing %s", p, err, rc.ID)
	}
	all, err := store.List(ctx, 10)
	if err != nil || len(all) != 2 {
		t.Errorf("%d campaigns (%v), want the source and one restore campaign", len(all), err)
	}
}

// TestUndoApproval: a restore with more calls than ConfirmAbove waits
// for approval like any campaign, and enqueues nothing meanwhile.
func TestUndoApproval(t *testing.T) {
	store := newUndoStore(t)
	undoSource(t, store, undoDef("src", jobs.ModeDelete), outcomeFixture(), jobs.SubmitOptions{Approved: true})
	res, _, err := store.Undo(context.Background(), "src", jobs.UndoOptions{Exact: true, Name: "put back", Submit: jobs.SubmitOptions{ConfirmAbove: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Campaign.State != jobs.StatePending || res.Enqueued != 0 || !res.Campaign.Exact || res.Campaign.Name != "put back" {
		t.Errorf("restore campaign %+v, enqueued %d; want pending, exact, named, nothing enqueued", res.Campaign, res.Enqueued)
	}
}

// TestUndoRecordedButMissing: an undo that recorded its restore
// campaign's ID and crashed before creating it is completed under that ID.
func TestUndoRecordedButMissing(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	undoSource(t, store, undoDef("src", jobs.ModeDelete), outcomeFixture(), jobs.SubmitOptions{Approved: true})
	if err := store.Redis().HSet(ctx, jobs.MetaKey(store.Namespace(), "src"), "undo", "c-lost").Err(); err != nil {
		t.Fatal(err)
	}
	res, _, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Campaign.ID != "c-lost" || !res.Created || res.Campaign.Total != 12 {
		t.Errorf("restore campaign %s created %v total %d; want c-lost created with 12 assets", res.Campaign.ID, res.Created, res.Campaign.Total)
	}
}

// TestUndoCancelsSource: undo of a campaign that can still run cancels it
// first, and restores every asset whose call may be in flight.
func TestUndoCancelsSource(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts jobs.SubmitOptions
		want jobs.State
	}{
		{"running", jobs.SubmitOptions{Approved: true}, jobs.StateRunning},
		{"pending", jobs.SubmitOptions{ConfirmAbove: 2}, jobs.StatePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store := newUndoStore(t)
			assets := map[int64]undoAsset{
				1: {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
				2: {labels: []string{"b"}, listed: true, outcome: jobs.OutcomeNotFound, attempts: 1},
				3: {labels: []string{"c"}, listed: true}, // in flight
				4: {labels: nil, listed: true},
				5: {labels: []string{"d"}, listed: false},
				6: {labels: []string{"e"}, listed: true},
			}
			if tc.want == jobs.StatePending {
				for id, a := range assets {
					a.outcome = ""
					assets[id] = a
				}
			}
			src := undoSource(t, store, undoDef("src", jobs.ModeDelete), assets, tc.opts)
			if src.State != tc.want {
				t.Fatalf("source %s, want %s", src.State, tc.want)
			}
			plan, err := store.PlanUndo(ctx, "src", false)
			if err != nil {
				t.Fatal(err)
			}
			if !plan.Cancels {
				t.Errorf("plan %+v does not say it cancels the source", plan)
			}
			if c, _ := store.Get(ctx, "src"); c.State != tc.want {
				t.Errorf("PlanUndo changed the source to %s", c.State)
			}
			res, plan, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := store.Get(ctx, "src"); c.State != jobs.StateCancelled {
				t.Errorf("source is %s after undo, want cancelled", c.State)
			}
			want := map[int64][]string{3: {"c"}, 6: {"e"}}
			if tc.want == jobs.StatePending {
				want[1], want[2] = []string{"a"}, []string{"b"}
			} else {
				want[1] = []string{"a"}
			}
			if !plan.Cancels || plan.Restore != int64(len(want)) {
				t.Errorf("plan %+v, want cancels and %d restores", plan, len(want))
			}
			sameLabels(t, restoreLabelsOf(t, store, res.Campaign, sortedIDs(assets)), want)
		})
	}
}

// TestUndoNoSnapshot: campaigns without a complete snapshot cannot be
// undone, and the error says why; nothing is cancelled.
func TestUndoNoSnapshot(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	def := undoDef("nosnap", jobs.ModeDelete)
	if _, err := submitIDs(t, store, def, 1, 3, jobs.SubmitOptions{Approved: true}); err != nil {
		t.Fatal(err)
	}
	running := undoDef("snapping", jobs.ModeDelete)
	running.Snapshot = true
	if _, err := submitIDs(t, store, running, 1, 3, jobs.SubmitOptions{Approved: true}); err != nil {
		t.Fatal(err)
	}
	c, _ := store.Get(ctx, "snapping")
	if _, err := store.BeginSnapshot(ctx, c, 0, "tok"); err != nil {
		t.Fatal(err)
	}
	undoSource(t, store, undoDef("src", jobs.ModeDelete), outcomeFixture(), jobs.SubmitOptions{Approved: true})
	res, _, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"nosnap": "--no-snapshot", "snapping": "nothing was reset yet; cancel it instead",
		res.Campaign.ID: "restore campaign"} {
		_, _, err := store.Undo(ctx, id, jobs.UndoOptions{})
		if !errors.Is(err, jobs.ErrNoSnapshot) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), id) {
			t.Errorf("undo of %s: %v; want ErrNoSnapshot naming it and saying %q", id, err, want)
		}
		if _, err := store.PlanUndo(ctx, id, false); !errors.Is(err, jobs.ErrNoSnapshot) {
			t.Errorf("PlanUndo of %s: %v, want ErrNoSnapshot", id, err)
		}
	}
	if c, _ := store.Get(ctx, "snapping"); c.State != jobs.StateRunning {
		t.Errorf("campaign with a running snapshot is %s after a refused undo, want running", c.State)
	}
}

// TestSnapshotExportRoundTrip: an exported snapshot reads back as written
// (header, assets found in the inventory in ID order, [] for none), and
// UndoFromSnapshot restores what its campaign removed.
func TestSnapshotExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	assets := outcomeFixture()
	assets[12] = undoAsset{labels: undoOddLabels, listed: true, outcome: jobs.OutcomeReset, attempts: 1}
	undoSource(t, store, undoDef("src", jobs.ModeRemove, "a", "x,y", "<&>"), assets, jobs.SubmitOptions{Approved: true})
	var buf bytes.Buffer
	n, err := store.ExportSnapshot(ctx, "src", &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != 10 || !strings.Contains(buf.String(), `{"asset_id":2,"labels":[],"reset":true}`) || !strings.Contains(buf.String(), `"<&>"`) {
		t.Errorf("exported %d assets:\n%s\nwant 10, [] for none, labels unescaped", n, buf.String())
	}
	hdr, lines, err := jobs.ReadSnapshot(&buf, "src.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Campaign != "src" || hdr.Mode != jobs.ModeRemove || !slices.Equal(hdr.Labels, []string{"a", "x,y", "<&>"}) ||
		hdr.TeamID != "team-1" || hdr.Server != "https://api.example.test" || hdr.Assets != 10 || hdr.TakenAt.IsZero() {
		t.Errorf("header %+v", hdr)
	}
	var ids []int64
	for _, l := range lines {
		ids = append(ids, l.AssetID)
		got := slices.Clone(l.Labels)
		want := slices.Clone(assets[l.AssetID].labels)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("asset %d: exported %q, want %q", l.AssetID, l.Labels, assets[l.AssetID].labels)
		}
	}
	if want := []int64{1, 2, 3, 4, 5, 6, 7, 9, 10, 12}; !slices.Equal(ids, want) {
		t.Errorf("exported assets %v, want %v", ids, want)
	}

	bad := *hdr
	bad.Mode = jobs.ModeRestore
	if _, err := store.UndoFromSnapshot(ctx, &bad, lines, &jobs.Campaign{BatchSize: 4, Policy: jobs.DefaultPolicy()}, jobs.UndoOptions{}); err == nil {
		t.Error("UndoFromSnapshot accepted a header of mode restore")
	}
	def := &jobs.Campaign{ID: "from-file", TeamID: hdr.TeamID, Server: hdr.Server, Priority: jobs.PriorityNormal, BatchSize: 4, Policy: jobs.DefaultPolicy()}
	res, err := store.UndoFromSnapshot(ctx, hdr, lines, def, jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	rc := res.Campaign
	if rc.Mode != jobs.ModeRestore || rc.Total != 10 || rc.Batches != 3 || rc.RestoreOf != "" || rc.TeamID != "team-1" || !res.Created {
		t.Errorf("restore campaign %+v", rc)
	}
	// The file restores every asset in it that held a removed label and
	// that its line says may have been reset (TestUndoFromSnapshotResetField
	// for files without the field).
	sameLabels(t, restoreLabelsOf(t, store, rc, ids), map[int64][]string{
		1: {"a"}, 3: {"a"}, 9: {"x,y"}, 12: {"<&>", "x,y"},
	})
}

// TestUndoResumesHalfCreated: an undo that stopped after creating its
// restore campaign but before writing a segment's labels is completed by
// the next undo (not returned as it is, restoring part of the source),
// and the restore campaign mirrors a source of two segments (an append).
func TestUndoResumesHalfCreated(t *testing.T) {
	ctx := context.Background()
	store := newUndoStore(t)
	def := undoDef("src", jobs.ModeDelete)
	undoSource(t, store, def, map[int64]undoAsset{
		1: {labels: []string{"a"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
		2: {labels: []string{"b"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1},
	}, jobs.SubmitOptions{Approved: true})
	// Append IDs 20..26 (segment 1, batches 1 and 2) and snapshot them.
	d := *def
	d.Snapshot = true
	res, err := submitIDs(t, store, &d, 20, 7, jobs.SubmitOptions{Append: true, Approved: true})
	if err != nil {
		t.Fatal(err)
	}
	run, err := store.BeginSnapshot(ctx, res.Campaign, 1, "token-2")
	if err != nil {
		t.Fatal(err)
	}
	var page []client.Asset
	appended := map[int64]undoAsset{}
	var ids []int64
	for id := int64(20); id < 27; id++ {
		appended[id] = undoAsset{labels: []string{"seg1", jsonLabel(id)}, listed: true, outcome: jobs.OutcomeReset, attempts: 1}
		page = append(page, client.Asset{ID: id, Labels: appended[id].labels})
		ids = append(ids, id)
	}
	run.Add(page)
	if err := run.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var recs [2][]jobs.Record
	for i, id := range ids {
		recs[i/5] = append(recs[i/5], jobs.Record{AssetID: id, Outcome: jobs.OutcomeReset, Attempts: 1, FinishedAt: now})
	}
	if _, err := store.Ledger().Record(ctx, "src", []jobs.BatchRecords{{Batch: 1, Records: recs[0]}, {Batch: 2, Records: recs[1]}}, now); err != nil {
		t.Fatal(err)
	}

	first, _, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
	if err != nil {
		t.Fatal(err)
	}
	rc := first.Campaign
	if rc.Segments != 2 || rc.Batches != 3 || rc.Total != 9 {
		t.Fatalf("restore campaign: %d segments, %d batches, %d assets; want 2, 3, 9", rc.Segments, rc.Batches, rc.Total)
	}
	want := map[int64][]string{1: {"a"}, 2: {"b"}}
	for _, id := range ids {
		want[id] = slices.Sorted(slices.Values(appended[id].labels))
	}
	all := append([]int64{1, 2}, ids...)
	got := map[int64][]string{}
	for b, chunk := range [][]int64{all[:2], all[2:7], all[7:]} {
		labels, _, ready, err := store.BatchLabels(ctx, rc, b, chunk)
		if err != nil || !ready {
			t.Fatalf("batch %d: ready %v, %v", b, ready, err)
		}
		for i, id := range chunk {
			l := slices.Clone(labels[i])
			slices.Sort(l)
			got[id] = l
		}
	}
	sameLabels(t, got, want)

	// As if the first undo had stopped before segment 1's labels.
	ns := store.Namespace()
	if err := store.Redis().HDel(ctx, ns+":{"+rc.ID+"}:snapmeta", "1:done").Err(); err != nil {
		t.Fatal(err)
	}
	if err := store.Redis().HDel(ctx, ns+":{"+rc.ID+"}:snap", "1", "2").Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, ready, _ := store.BatchLabels(ctx, rc, 2, all[7:]); ready {
		t.Fatal("segment 1 still reads as complete: the test does not simulate the crash")
	}
	again, plan, err := store.Undo(ctx, "src", jobs.UndoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Campaign.ID != rc.ID || !again.Existing || plan.Restore != 9 {
		t.Errorf("second undo: %s existing %v, plan %+v; want %s completed, restoring 9", again.Campaign.ID, again.Existing, plan, rc.ID)
	}
	labels, _, ready, err := store.BatchLabels(ctx, rc, 2, all[7:])
	if err != nil || !ready || !slices.Equal(labels[1], want[26]) {
		t.Errorf("batch 2 after the second undo: ready %v, %q, %v; want %q", ready, labels, err, want[26])
	}
}

func jsonLabel(id int64) string { return "asset " + strconv.FormatInt(id, 10) + ": é" }
