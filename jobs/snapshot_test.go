package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// oddLabels are labels that a naive encoding would split or mangle.
var oddLabels = []string{"with space", "a,b", "path/to:x", `say "hi"`, "ünïcødé ✓", "[]", `\`}

func snapDef(id string) *jobs.Campaign {
	d := newDef(id)
	d.Snapshot = true
	return d
}

// pendingTasks lists the pending tasks of the normal queue: type and ID.
func pendingTasks(t *testing.T, env *redistest.Env) map[string]string {
	t.Helper()
	out := map[string]string{}
	tasks, err := asynq.NewInspectorFromRedisClient(env.Client).ListPendingTasks(jobs.Queue(env.Namespace, jobs.PriorityNormal), asynq.PageSize(10000))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	for _, ti := range tasks {
		out[ti.ID] = ti.Type
	}
	return out
}

func countType(m map[string]string, typ string) int {
	n := 0
	for _, v := range m {
		if v == typ {
			n++
		}
	}
	return n
}

// TestSnapshotTaskPayload: the payload round-trips and a corrupt one is
// refused.
func TestSnapshotTaskPayload(t *testing.T) {
	in := &jobs.SnapshotTask{Campaign: "c-1", Incarnation: "abc123", Segment: 2}
	p, err := jobs.EncodeSnapshotTask(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jobs.DecodeSnapshotTask(p)
	if err != nil || *out != *in {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	if got := in.TaskID(); got != "c-1:iabc123:snap2" {
		t.Errorf("TaskID %q", got)
	}
	for _, bad := range []string{`{`, `{"campaign":"a b","inc":"x","segment":0}`, `{"campaign":"a","inc":"","segment":0}`,
		`{"campaign":"a","inc":"x","segment":-1}`} {
		if _, err := jobs.DecodeSnapshotTask([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

// TestSnapshotCheckpointTakeoverComplete: a run checkpoints; a second run
// continues from the offset with the first one's finds; the first run's
// next checkpoint is refused; Complete's summary and BatchLabels (for a
// subset of a batch, in any order within it) answer what was listed last,
// labels of every shape intact.
func TestSnapshotCheckpointTakeoverComplete(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	// Pending: 250 assets above the threshold of 10.
	res, err := submitIDs(t, store, snapDef("snap"), 1, 250, jobs.SubmitOptions{ConfirmAbove: 10})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Campaign
	if c.State != jobs.StatePending || !c.Snapshot {
		t.Fatalf("state %s snapshot %v, want pending with a snapshot", c.State, c.Snapshot)
	}
	tasks := pendingTasks(t, env)
	if want := "snap:i" + c.Incarnation + ":snap0"; tasks[want] != jobs.TypeSnapshot || len(tasks) != 1 {
		t.Fatalf("pending campaign queued %v, want only its snapshot task %s", tasks, want)
	}
	if info, err := store.Snapshot(ctx, c); err != nil || !info.Enabled || info.Complete || info.Segments != 1 {
		t.Fatalf("snapshot before any run: %+v, %v", info, err)
	}

	r1, err := store.BeginSnapshot(ctx, c, 0, "run1")
	if err != nil {
		t.Fatal(err)
	}
	if r1.Done() || r1.Offset() != 0 {
		t.Fatalf("fresh run: done %v offset %d", r1.Done(), r1.Offset())
	}
	page1 := []client.Asset{
		{ID: 1, Labels: []string{"a", "b"}},
		{ID: 2, Labels: []string{"b", "a", "a"}},
		{ID: 3, Labels: nil},
		{ID: 999, Labels: []string{"z"}}, // not the campaign's
		{ID: 150, Labels: oddLabels},
	}
	if n := r1.Add(page1); n != 4 {
		t.Errorf("Add kept %d, want 4", n)
	}
	if err := r1.Checkpoint(ctx, 5); err != nil {
		t.Fatal(err)
	}

	r2, err := store.BeginSnapshot(ctx, c, 0, "run2")
	if err != nil {
		t.Fatal(err)
	}
	if r2.Offset() != 5 || r2.Done() {
		t.Fatalf("second run: offset %d done %v, want 5 and not done", r2.Offset(), r2.Done())
	}
	r1.Add([]client.Asset{{ID: 4, Labels: []string{"stale"}}})
	if err := r1.Checkpoint(ctx, 6); !errors.Is(err, jobs.ErrSnapshotTakenOver) {
		t.Fatalf("taken-over run's checkpoint: %v, want ErrSnapshotTakenOver", err)
	}
	// Overlap: asset 1 is seen again with other labels; the last wins.
	r2.Add([]client.Asset{{ID: 1, Labels: []string{"c"}}, {ID: 200, Labels: []string{"a"}}, {ID: 250, Labels: []string{}}})
	if err := r2.Checkpoint(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if err := r2.Complete(ctx); err != nil {
		t.Fatal(err)
	}

	info, err := store.Snapshot(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	// Found: 1, 2, 3, 150, 200, 250. With labels: 1 (c), 2 (a b), 150, 200 (a).
	if !info.Complete || info.SegmentsDone != 1 || info.Found != 6 || info.WithLabels != 4 ||
		info.WithoutLabels != 2 || info.NotInInventory != 244 || info.Pages != 2 || info.Listed != 8 {
		t.Errorf("summary %+v", info)
	}
	wantTop := []jobs.LabelCount{{Label: "a", Assets: 2}}
	for _, l := range append([]string{"b", "c"}, oddLabels...) {
		wantTop = append(wantTop, jobs.LabelCount{Label: l, Assets: 1})
	}
	sort.SliceStable(wantTop[1:], func(i, j int) bool { return wantTop[1+i].Label < wantTop[1+j].Label })
	if !reflect.DeepEqual(info.TopLabels, wantTop[:min(10, len(wantTop))]) {
		t.Errorf("top labels %+v, want %+v", info.TopLabels, wantTop)
	}
	if info.StartedAt.IsZero() || info.FinishedAt.Before(info.StartedAt) {
		t.Errorf("times %v .. %v", info.StartedAt, info.FinishedAt)
	}

	// A subset of batch 0 and one of batch 1.
	labels, listed, ready, err := store.BatchLabels(ctx, c, 0, []int64{1, 2, 3, 4})
	if err != nil || !ready {
		t.Fatalf("BatchLabels: ready %v, %v", ready, err)
	}
	if want := [][]string{{"c"}, {"a", "b"}, {}, nil}; !reflect.DeepEqual(labels, want) {
		t.Errorf("batch 0 labels %q, want %q", labels, want)
	}
	if want := []bool{true, true, true, false}; !reflect.DeepEqual(listed, want) {
		t.Errorf("batch 0 listed %v, want %v", listed, want)
	}
	labels, listed, _, err = store.BatchLabels(ctx, c, 1, []int64{101, 150})
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.Sorted(slices.Values(oddLabels))
	if listed[0] || !listed[1] || !reflect.DeepEqual(labels[1], sorted) {
		t.Errorf("batch 1: listed %v labels %q, want asset 150 with %q", listed, labels, sorted)
	}
	if _, _, _, err := store.BatchLabels(ctx, c, 1, []int64{5}); err == nil {
		t.Error("an ID of another batch was answered")
	}
	// A finished run is refused further writes; a new one finds it done.
	if r3, err := store.BeginSnapshot(ctx, c, 0, "run3"); err != nil || !r3.Done() {
		t.Errorf("run after Complete: done %v, %v", r3 != nil && r3.Done(), err)
	}
	if err := r2.Checkpoint(ctx, 9); err == nil {
		t.Error("checkpoint after Complete accepted")
	}

	// EachAsset walks every asset with its snapshot.
	var n, withLabels int
	err = store.EachAsset(ctx, c, func(a jobs.AssetState) error {
		n++
		if len(a.Labels) > 0 {
			withLabels++
		}
		if a.Record.Outcome != jobs.OutcomePending {
			return fmt.Errorf("asset %d outcome %q", a.Record.AssetID, a.Record.Outcome)
		}
		return nil
	})
	if err != nil || n != 250 || withLabels != 4 {
		t.Errorf("EachAsset: %d assets, %d with labels, %v", n, withLabels, err)
	}

	// Delete takes the snapshot keys with it.
	if err := store.Delete(ctx, "snap"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{":{snap}:snap", ":{snap}:snapsets", ":{snap}:snapmeta"} {
		if n, _ := env.Client.Exists(ctx, env.Namespace+k).Result(); n != 0 {
			t.Errorf("%s survived Delete", k)
		}
	}
}

// TestSnapshotHoldsBatches: batches of a segment wait for its snapshot;
// an append snapshots its own segment and holds only its batches;
// BatchLabels answers the second segment; a cancelled campaign's
// batches go without.
func TestSnapshotHoldsBatches(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	res, err := submitIDs(t, store, snapDef("hold"), 1, 250, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Campaign
	if res.Enqueued != 0 {
		t.Errorf("submit enqueued %d batches before the snapshot", res.Enqueued)
	}
	tasks := pendingTasks(t, env)
	if countType(tasks, jobs.TypeBatch) != 0 || countType(tasks, jobs.TypeSnapshot) != 1 {
		t.Fatalf("queued %v, want the snapshot task only", tasks)
	}
	// Resume/approve paths go through EnsureEnqueued: still held.
	if n, err := store.EnsureEnqueued(ctx, c); err != nil || n != 0 {
		t.Fatalf("EnsureEnqueued before the snapshot: %d, %v", n, err)
	}
	r, err := store.BeginSnapshot(ctx, c, 0, "t0")
	if err != nil {
		t.Fatal(err)
	}
	r.Add([]client.Asset{{ID: 7, Labels: []string{"x"}}})
	if err := r.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := store.EnsureEnqueued(ctx, c); err != nil || n != 3 {
		t.Fatalf("EnsureEnqueued after the snapshot: %d, %v; want 3", n, err)
	}

	// Append 1001..1100: segment 1, batch 3.
	res, err = submitIDs(t, store, snapDef("hold"), 1001, 100, jobs.SubmitOptions{Append: true, Approved: true, ConfirmAbove: -1})
	if err != nil {
		t.Fatal(err)
	}
	c = res.Campaign
	if res.Enqueued != 0 || c.Segments != 2 {
		t.Fatalf("append: enqueued %d, segments %d", res.Enqueued, c.Segments)
	}
	tasks = pendingTasks(t, env)
	if tasks["hold:i"+c.Incarnation+":snap1"] != jobs.TypeSnapshot || countType(tasks, jobs.TypeBatch) != 3 {
		t.Fatalf("after append queued %v, want segment 1's snapshot and the 3 batches of segment 0", tasks)
	}
	if _, _, ready, err := store.BatchLabels(ctx, c, 3, []int64{1050}); err != nil || ready {
		t.Fatalf("segment 1 before its snapshot: ready %v, %v", ready, err)
	}
	r, err = store.BeginSnapshot(ctx, c, 1, "t1")
	if err != nil {
		t.Fatal(err)
	}
	r.Add([]client.Asset{{ID: 1050, Labels: []string{"y", "x"}}, {ID: 7, Labels: []string{"other segment"}}})
	if err := r.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := store.EnsureEnqueued(ctx, c); err != nil || n != 1 {
		t.Fatalf("EnsureEnqueued after segment 1: %d, %v; want 1", n, err)
	}
	labels, listed, ready, err := store.BatchLabels(ctx, c, 3, []int64{1001, 1050})
	if err != nil || !ready || listed[0] || !listed[1] || !reflect.DeepEqual(labels[1], []string{"x", "y"}) {
		t.Fatalf("batch 3: %q %v %v %v", labels, listed, ready, err)
	}
	labels, _, _, err = store.BatchLabels(ctx, c, 0, []int64{7})
	if err != nil || !reflect.DeepEqual(labels[0], []string{"x"}) {
		t.Fatalf("batch 0 after segment 1's run: %q %v", labels, err)
	}
	info, err := store.Snapshot(ctx, c)
	if err != nil || !info.Complete || info.Segments != 2 || info.WithLabels != 2 || info.NotInInventory != 348 {
		t.Fatalf("two segments: %+v %v", info, err)
	}

	// A cancelled campaign's batches are enqueued without a snapshot.
	res, err = submitIDs(t, store, snapDef("cx"), 1, 150, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Enqueued != 0 {
		t.Fatalf("submit: %d batches before the snapshot", res.Enqueued)
	}
	if _, err := store.Cancel(ctx, "cx"); err != nil {
		t.Fatal(err)
	}
	cx, err := store.Get(ctx, "cx")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := store.EnsureEnqueued(ctx, cx); err != nil || n != 2 {
		t.Fatalf("cancelled campaign: enqueued %d, %v; want 2", n, err)
	}
}

// TestStoreSegmentSets: a restore campaign's labels, written whole, are
// what BatchLabels answers; batches wait for them.
func TestStoreSegmentSets(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	def := newDef("rs")
	def.Mode = jobs.ModeRestore
	def.RestoreOf = "src"
	res, err := submitIDs(t, store, def, 1, 150, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Campaign
	if res.Enqueued != 0 || c.RestoreOf != "src" || c.Snapshot {
		t.Fatalf("restore campaign: enqueued %d before its labels, %+v", res.Enqueued, c)
	}
	dict := [][]string{{}, {"b", "a"}, oddLabels}
	b0 := make([]uint64, 100)
	b0[0], b0[1], b0[2] = 2, 3, 1
	b1 := make([]uint64, 50)
	b1[49] = 2
	if err := store.StoreSegmentSets(ctx, c, 0, dict, map[int][]uint64{0: b0, 1: b1}); err != nil {
		t.Fatal(err)
	}
	labels, listed, ready, err := store.BatchLabels(ctx, c, 0, []int64{1, 2, 3, 4})
	want := [][]string{{"a", "b"}, slices.Sorted(slices.Values(oddLabels)), {}, nil}
	if err != nil || !ready || !reflect.DeepEqual(labels, want) || !reflect.DeepEqual(listed, []bool{true, true, true, false}) {
		t.Fatalf("restore labels %q %v %v %v, want %q", labels, listed, ready, err, want)
	}
	labels, _, _, err = store.BatchLabels(ctx, c, 1, []int64{150})
	if err != nil || !reflect.DeepEqual(labels[0], []string{"a", "b"}) {
		t.Fatalf("batch 1: %q %v", labels, err)
	}
	info, err := store.Snapshot(ctx, c)
	if err != nil || info.Enabled || !info.Complete || info.WithLabels != 3 || info.WithoutLabels != 1 {
		t.Fatalf("restore summary %+v %v", info, err)
	}
	if n, err := store.EnsureEnqueued(ctx, c); err != nil || n != 2 {
		t.Fatalf("EnsureEnqueued after the labels: %d %v, want 2", n, err)
	}
}

// TestSnapshotBytesPerAsset measures what the snapshot of 100,000 assets
// with Zipf-distributed label sets costs in Redis (MEMORY USAGE on a
// real Redis; the stored bytes on the embedded one) and holds it to the
// budget of 16 bytes an asset.
func TestSnapshotBytesPerAsset(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	const n = 100_000
	res, err := submitIDs(t, store, snapDef("mem"), 1_000_000, n, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Campaign
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.2, 1, 2000)
	setOf := func(k uint64) []string {
		ls := []string{fmt.Sprintf("env:%d", k%5)}
		for b := uint64(0); b < 12; b++ {
			if k&(1<<b) != 0 {
				ls = append(ls, fmt.Sprintf("team/%d", b))
			}
		}
		return ls
	}
	r, err := store.BeginSnapshot(ctx, c, 0, "m")
	if err != nil {
		t.Fatal(err)
	}
	page := make([]client.Asset, 0, 100)
	for i := 0; i < n; i++ {
		if i%10 == 9 {
			continue // 10% not in the inventory
		}
		var ls []string
		if i%5 != 0 {
			ls = setOf(zipf.Uint64())
		}
		page = append(page, client.Asset{ID: int64(1_000_000 + i), Labels: ls})
		if len(page) == cap(page) {
			r.Add(page)
			page = page[:0]
		}
	}
	r.Add(page)
	if err := r.Checkpoint(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := r.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, k := range []string{"snap", "snapsets", "snapmeta"} {
		key := env.Namespace + ":{mem}:" + k
		if redistest.Real() {
			b, err := env.Client.MemoryUsage(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			total += b
			continue
		}
		m, err := env.Client.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		for f, v := range m {
			total += int64(len(f) + len(v))
		}
	}
	per := float64(total) / n
	t.Logf("snapshot of %d assets: %d bytes in Redis (real Redis: %v), %.2f B/asset", n, total, redistest.Real(), per)
	if per > 16 {
		t.Errorf("%.2f B/asset, want at most 16", per)
	}
}

// TestSnapshotOutcomes: not_in_inventory, unchanged and restored are
// terminal, counted, finish a campaign, never stop it by the failure
// ratio, are accepted by Redrive and by the report's --only.
func TestSnapshotOutcomes(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	def := newDef("oc")
	def.Policy.MinSample = 1
	def.Policy.MaxFailureRatio = 0.1
	if _, err := submitIDs(t, store, def, 1, 10, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var recs []jobs.Record
	for i := int64(1); i <= 9; i++ {
		o := []string{jobs.OutcomeNotInInventory, jobs.OutcomeUnchanged, jobs.OutcomeRestored}[i%3]
		recs = append(recs, jobs.Record{AssetID: i, Outcome: o, Status: 200, Attempts: 1, FinishedAt: now})
	}
	ch, err := store.Ledger().Record(ctx, "oc", []jobs.BatchRecords{{Batch: 0, Records: recs}}, now)
	if err != nil || ch != jobs.ChangeNone {
		t.Fatalf("record: %v %v, want no change (9 of 10 finished, none failed)", ch, err)
	}
	c, err := store.Get(ctx, "oc")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{jobs.OutcomeNotInInventory, jobs.OutcomeUnchanged, jobs.OutcomeRestored} {
		if c.Counts[o] != 3 {
			t.Errorf("count %s = %d, want 3", o, c.Counts[o])
		}
	}
	if c.State != jobs.StateRunning || c.Finished() != 9 {
		t.Fatalf("state %s finished %d, want running with 9", c.State, c.Finished())
	}
	var sb strings.Builder
	if n, err := store.WriteReport(ctx, "oc", &sb, jobs.ReportCSV, []string{jobs.OutcomeNotInInventory}); err != nil || n != 3 {
		t.Fatalf("report --only not_in_inventory: %d rows, %v", n, err)
	}
	if n, err := store.Redrive(ctx, "oc", []string{jobs.OutcomeNotInInventory}); err != nil || n != 3 {
		t.Fatalf("redrive not_in_inventory: %d, %v", n, err)
	}
	if c, _ = store.Get(ctx, "oc"); c.Counts[jobs.OutcomeNotInInventory] != 0 || c.Finished() != 6 {
		t.Fatalf("after redrive: counts %v", c.Counts)
	}
}

// TestSnapshotFields: the fields round-trip through the meta hash; a
// campaign stored without them reads as taking no snapshot; restore mode
// and queries are validated.
func TestSnapshotFields(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	// reset_unlisted and a query exclude each other (Validate).
	unl := snapDef("u")
	unl.ResetUnlisted = true
	if _, err := submitIDs(t, store, unl, 1, 3, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	if c, err := store.Get(ctx, "u"); err != nil || !c.Snapshot || !c.ResetUnlisted {
		t.Fatalf("read back %+v, %v", c, err)
	}
	def := snapDef("f")
	def.Query = "labels=a,b&port=443"
	if _, err := submitIDs(t, store, def, 1, 3, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	c, err := store.Get(ctx, "f")
	if err != nil || !c.Snapshot || c.ResetUnlisted || c.Query != def.Query {
		t.Fatalf("read back %+v, %v", c, err)
	}
	r, err := store.BeginSnapshot(ctx, c, 0, "q")
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Filter(); !reflect.DeepEqual(f.Labels, []string{"a", "b"}) || f.Query().Get("port") != "443" {
		t.Errorf("filter of %q: %+v", c.Query, f)
	}
	f := jobs.QueryFilter("search=x y&offset=5&limit=7&is_internal=true")
	if q := f.Query(); f.Search != "x y" || f.IsInternal == nil || !*f.IsInternal || q.Has("offset") || q.Has("limit") {
		t.Errorf("QueryFilter: %+v (%s)", f, q.Encode())
	}
	if f := jobs.QueryFilter(""); !reflect.DeepEqual(f, client.AssetFilter{}) {
		t.Errorf("no query: %+v, want the zero filter", f)
	}
	env.Client.HDel(ctx, jobs.MetaKey(env.Namespace, "f"), "snapshot", "reset_unlisted", "query")
	if c, err = store.Get(ctx, "f"); err != nil || c.Snapshot || c.ResetUnlisted || c.Query != "" {
		t.Fatalf("stored without the fields: %+v, %v", c, err)
	}
	for name, mod := range map[string]func(*jobs.Campaign){
		"restore with labels":   func(c *jobs.Campaign) { c.Mode, c.Snapshot, c.Labels = jobs.ModeRestore, false, []string{"a"} },
		"restore with snapshot": func(c *jobs.Campaign) { c.Mode = jobs.ModeRestore },
		"exact outside restore": func(c *jobs.Campaign) { c.Exact = true },
		"bad query":             func(c *jobs.Campaign) { c.Query = "a=%zz" },
	} {
		d := snapDef("v")
		mod(d)
		if err := d.Validate(); !errors.Is(err, jobs.ErrInvalidCampaign) {
			t.Errorf("%s: %v, want ErrInvalidCampaign", name, err)
		}
	}
	d := snapDef("v")
	d.Mode, d.Snapshot = jobs.ModeRestore, false
	if err := d.Validate(); err != nil {
		t.Errorf("restore campaign: %v", err)
	}
}

// TestSnapshotInternListedOrder: label lists that a careless key would
// confuse (joined without a separator, or with one a label holds) stay
// apart, and the same set listed in two orders is one set.
func TestSnapshotInternListedOrder(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	res, err := submitIDs(t, store, snapDef("order"), 1, 8, jobs.SubmitOptions{Approved: true})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Campaign
	r, err := store.BeginSnapshot(ctx, c, 0, "run")
	if err != nil {
		t.Fatal(err)
	}
	in := [][]string{{"ab"}, {"a", "b"}, {"b", "a"}, {"a\x01b"}, {"a", "\x01b"}, {"", "ab"}, {"a", "b"}, {"ab", ""}}
	page := make([]client.Asset, len(in))
	for i, ls := range in {
		page[i] = client.Asset{ID: int64(i + 1), Labels: ls}
	}
	r.Add(page)
	if err := r.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	labels, _, ready, err := store.BatchLabels(ctx, c, 0, []int64{1, 2, 3, 4, 5, 6, 7, 8})
	if err != nil || !ready {
		t.Fatalf("BatchLabels: ready %v, %v", ready, err)
	}
	want := [][]string{{"ab"}, {"a", "b"}, {"a", "b"}, {"a\x01b"}, {"\x01b", "a"}, {"", "ab"}, {"a", "b"}, {"", "ab"}}
	if !reflect.DeepEqual(labels, want) {
		t.Errorf("labels %q, want %q", labels, want)
	}
	if n, err := env.Client.HLen(ctx, env.Namespace+":{order}:snapsets").Result(); err != nil || n != 5 {
		t.Errorf("%d label sets stored (%v), want 5", n, err)
	}
}
