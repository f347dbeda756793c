package worker_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// Tests of one campaign ID created, deleted and created again (issue 15
// item 1): every cache and every queued task belongs to one incarnation of
// a campaign, so the second "imp" touches only its own assets.

// calledSince returns the asset IDs of the fake's label calls after the
// first n logged ones, sorted and de-duplicated, and their methods.
func calledSince(f *pdcpfake.Fake, n int) ([]int64, map[string]int) {
	log := f.Log()[n:]
	methods := map[string]int{}
	var out []int64
	for _, c := range log {
		methods[c.Method]++
		if !slices.Contains(out, c.AssetID) {
			out = append(out, c.AssetID)
		}
	}
	slices.Sort(out)
	return out, methods
}

func (h *harness) reportIDs(id string) []int64 {
	h.t.Helper()
	var out []int64
	for aid := range h.records(id) {
		out = append(out, aid)
	}
	slices.Sort(out)
	return out
}

// TestRecreatedCampaignRunsOnlyItsAssets: "imp" with 1,2,3 runs and is
// deleted; "imp" created again with 7,8,9 through the same Store (as one
// serve process does) and worked by the same worker calls 7,8,9 only, and
// its report holds 7,8,9 only.
func TestRecreatedCampaignRunsOnlyItsAssets(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 20})
	h.startWorker(4, nil)
	ctx := context.Background()
	h.runAndDelete(ctx, "imp", "1", "2", "3")
	before := len(h.fake.Fake().Log())
	h.submit(&jobs.Campaign{ID: "imp"}, []string{"7", "8", "9"}, jobs.SubmitOptions{})
	c := h.waitState("imp", 30*time.Second, jobs.StateDone)
	got, _ := calledSince(h.fake.Fake(), before)
	if want := []int64{7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("the re-created campaign called assets %v, want %v", got, want)
	}
	if got, want := h.reportIDs("imp"), []int64{7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("report of the re-created campaign holds %v, want %v", got, want)
	}
	if c.Total != 3 || c.Counts[jobs.OutcomeReset] != 3 {
		t.Errorf("re-created campaign: total %d, reset %d; want 3 and 3", c.Total, c.Counts[jobs.OutcomeReset])
	}
}

// TestRecreatedCampaignUsesItsOwnDefinition: a worker that ran "imp" in
// delete mode keeps it cached; "imp" created again (by another process) in
// remove mode with label "stale" must be worked in remove mode, never as
// a delete of every label.
func TestRecreatedCampaignUsesItsOwnDefinition(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 20})
	h.startWorker(4, nil)
	ctx := context.Background()
	h.runAndDelete(ctx, "imp", "1", "2", "3")
	before := len(h.fake.Fake().Log())
	h.store = jobs.NewStore(h.redis.Client, jobs.StoreOptions{Namespace: h.redis.Namespace})
	h.submit(&jobs.Campaign{ID: "imp", Mode: jobs.ModeRemove, Labels: []string{"stale"}}, []string{"7", "8", "9"}, jobs.SubmitOptions{})
	h.waitState("imp", 30*time.Second, jobs.StateDone)
	got, methods := calledSince(h.fake.Fake(), before)
	if want := []int64{7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("the re-created campaign called assets %v, want %v", got, want)
	}
	if methods["DELETE"] != 0 || methods["PATCH"] != 3 {
		t.Errorf("the re-created remove-mode campaign made calls by method %v, want 3 PATCH and no DELETE", methods)
	}
}

// TestStaleTaskOfRecreatedCampaign: "imp" with 1,2,3 is deleted while its
// batch is still queued; "imp" created again with 7,8,9 must run its own
// batch, and the old batch must not run against it.
func TestStaleTaskOfRecreatedCampaign(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 20})
	ctx := context.Background()
	h.submit(&jobs.Campaign{ID: "imp"}, []string{"1", "2", "3"}, jobs.SubmitOptions{})
	if err := h.store.Delete(ctx, "imp"); err != nil {
		t.Fatal(err)
	}
	h.store = jobs.NewStore(h.redis.Client, jobs.StoreOptions{Namespace: h.redis.Namespace})
	h.submit(&jobs.Campaign{ID: "imp"}, []string{"7", "8", "9"}, jobs.SubmitOptions{})
	h.startWorker(4, nil)
	c := h.waitState("imp", 30*time.Second, jobs.StateDone)
	time.Sleep(500 * time.Millisecond) // let a stale batch show up, if any runs
	got, _ := calledSince(h.fake.Fake(), 0)
	if want := []int64{7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("assets called %v, want %v", got, want)
	}
	if got, want := h.reportIDs("imp"), []int64{7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("report holds %v, want %v", got, want)
	}
	for _, id := range []int64{7, 8, 9} {
		if r := h.records("imp")[id]; r.Outcome != jobs.OutcomeReset {
			t.Errorf("asset %d: outcome %q, want reset", id, r.Outcome)
		}
	}
	if c.Counts[jobs.OutcomeReset] != 3 {
		t.Errorf("reset count %d, want 3", c.Counts[jobs.OutcomeReset])
	}
}

// TestCampaignOfEarlierVersionKeepsWorking: a campaign stored by an
// earlier version has no incarnation; its tasks keep the version 1
// payload and task IDs, and it runs to the end as before.
func TestCampaignOfEarlierVersionKeepsWorking(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 300})
	ctx := context.Background()
	res := h.submit(&jobs.Campaign{ID: "legacy"}, ids(1, 250), jobs.SubmitOptions{ConfirmAbove: 10})
	if res.Campaign.State != jobs.StatePending {
		t.Fatalf("state %s, want pending", res.Campaign.State)
	}
	// What an earlier version stored: no incarnation field.
	if err := h.redis.Client.HDel(ctx, h.redis.Namespace+":{legacy}:meta", "inc").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Approve(ctx, "legacy"); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(h.redis.Client)
	tasks, err := insp.ListPendingTasks(jobs.Queue(h.redis.Namespace, jobs.PriorityNormal))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 3 {
		t.Fatalf("%d tasks queued, want 3", len(tasks))
	}
	for _, task := range tasks {
		if p := task.Payload; len(p) == 0 || p[0] != 1 || !strings.HasPrefix(task.ID, "legacy:b") {
			t.Errorf("task %s of a campaign without incarnation: payload version %v, want 1 and ID legacy:b<n>", task.ID, p[:1])
		}
	}
	h.startWorker(8, nil)
	c := h.waitState("legacy", 30*time.Second, jobs.StateDone)
	if c.Counts[jobs.OutcomeReset] != 250 {
		t.Errorf("counts %v, want 250 reset", c.Counts)
	}
	if n := len(h.records("legacy")); n != 250 {
		t.Errorf("report has %d rows, want 250", n)
	}
}

// TestEarlierVersionTaskDoesNotRunRecreatedCampaign: a task queued by an
// earlier version (version 1 payload, no incarnation) for "imp", whose
// data is gone, must not run against "imp" created again by this version.
func TestEarlierVersionTaskDoesNotRunRecreatedCampaign(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 20})
	p, err := jobs.EncodeBatch(&jobs.Batch{Campaign: "imp", IDs: []int64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	qc := asynq.NewClientFromRedisClient(h.redis.Client)
	if _, err := qc.Enqueue(asynq.NewTask(jobs.TypeBatch, p), asynq.Queue(jobs.Queue(h.redis.Namespace, jobs.PriorityNormal)), asynq.TaskID("imp:b0")); err != nil {
		t.Fatal(err)
	}
	h.submit(&jobs.Campaign{ID: "imp"}, []string{"7", "8", "9"}, jobs.SubmitOptions{})
	h.startWorker(4, nil)
	h.waitState("imp", 30*time.Second, jobs.StateDone)
	insp := asynq.NewInspectorFromRedisClient(h.redis.Client)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if info, err := insp.GetQueueInfo(jobs.Queue(h.redis.Namespace, jobs.PriorityNormal)); err == nil && info.Size == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, _ := calledSince(h.fake.Fake(), 0)
	if want := []int64{7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("assets called %v, want %v", got, want)
	}
	if got, want := h.reportIDs("imp"), []int64{7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("report holds %v, want %v", got, want)
	}
}

// runAndDelete runs campaign id over ids to done, then deletes it, as the
// retention janitor or an operator would.
func (h *harness) runAndDelete(ctx context.Context, id string, ids ...string) {
	h.t.Helper()
	h.submit(&jobs.Campaign{ID: id}, ids, jobs.SubmitOptions{})
	h.waitState(id, 30*time.Second, jobs.StateDone)
	if err := h.store.Delete(ctx, id); err != nil {
		h.t.Fatal(err)
	}
}
