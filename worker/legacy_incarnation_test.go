package worker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// TestLegacyTaskDoesNotRunLegacyRecreatedCampaign (second review, finding 2; hostile review
// of issue 15 item 1): during a rolling upgrade an earlier-version
// producer is still running. Legacy campaign "imp" (IDs 1,2,3) is deleted
// while its task (version 1 payload, no incarnation, ID imp:b0) is still
// queued, and the earlier-version producer creates "imp" again with IDs
// 7,8,9 (no incarnation either; simulated as in
// TestCampaignOfEarlierVersionKeepsWorking by removing "inc"). The new
// worker compares only incarnations ("" == ""), not the legacy identity
// (the created time the Store checks), so the stale task runs 1,2,3
// against the new "imp" (worker/control.go, control.get). Only 7,8,9 may
// be called.
func TestLegacyTaskDoesNotRunLegacyRecreatedCampaign(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 20})
	ctx := context.Background()
	p, err := jobs.EncodeBatch(&jobs.Batch{Campaign: "imp", IDs: []int64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	qc := asynq.NewClientFromRedisClient(h.redis.Client)
	if _, err := qc.Enqueue(asynq.NewTask(jobs.TypeBatch, p), asynq.Queue(jobs.Queue(h.redis.Namespace, jobs.PriorityNormal)),
		asynq.TaskID("imp:b0"), asynq.ProcessIn(time.Second)); err != nil {
		t.Fatal(err)
	}
	res := h.submit(&jobs.Campaign{ID: "imp"}, []string{"7", "8", "9"}, jobs.SubmitOptions{ConfirmAbove: 1})
	if res.Campaign.State != jobs.StatePending {
		t.Fatalf("state %s, want pending", res.Campaign.State)
	}
	if err := h.redis.Client.HDel(ctx, h.redis.Namespace+":{imp}:meta", "inc").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Approve(ctx, "imp"); err != nil {
		t.Fatal(err)
	}
	h.startWorker(4, nil)
	insp := asynq.NewInspectorFromRedisClient(h.redis.Client)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		info, err := insp.GetQueueInfo(jobs.Queue(h.redis.Namespace, jobs.PriorityNormal))
		c, gerr := h.store.Get(ctx, "imp")
		if err == nil && gerr == nil && info.Size == 0 && c.State == jobs.StateDone {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c, err := h.store.Get(ctx, "imp"); err == nil {
		t.Logf("campaign imp: state %s, counts %v, report %v", c.State, c.Counts, h.reportIDs("imp"))
	}
	got, _ := calledSince(h.fake.Fake(), 0)
	if want := []int64{7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("assets called %v, want %v (a stale task of the deleted campaign ran against the new one)", got, want)
	}
}
