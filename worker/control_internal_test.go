package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestControlOneInfoPerCampaign: batches of one campaign that start
// together share one campaignInfo, and it stays the one the control loop
// refreshes while they run, however long that is. Batches on a private
// copy would never see pause, cancel or a block.
func TestControlOneInfoPerCampaign(t *testing.T) {
	r := redistest.New(t)
	store := jobs.NewStore(r.Client, jobs.StoreOptions{Namespace: r.Namespace})
	ctx := context.Background()
	def := &jobs.Campaign{ID: "c1", Mode: jobs.ModeDelete, BatchSize: 10, Priority: jobs.PriorityNormal, Policy: jobs.DefaultPolicy()}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2", "3"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	c := &control{store: store, rdb: r.Client, ns: r.Namespace, api: func(string) Caller { return nil },
		interval: time.Hour, m: map[string]*campaignInfo{}}

	const batches = 16
	infos := make([]*campaignInfo, batches)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range infos {
		wg.Go(func() {
			<-start
			ci, err := c.get(ctx, "c1", def.Incarnation)
			if err != nil {
				t.Error(err)
				return
			}
			infos[i] = ci
		})
	}
	close(start)
	wg.Wait()
	for i, ci := range infos {
		if ci != infos[0] {
			t.Fatalf("batch %d got its own campaignInfo: %p, batch 0 %p", i, ci, infos[0])
		}
	}
	// Long after the last use, while batches still run with it, the
	// control loop keeps it and refreshes it; a new batch gets it too.
	infos[0].lastUsed.Store(time.Now().Add(-time.Hour).UnixNano())
	if err := store.Pause(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	c.refresh(ctx)
	if st := infos[0].State(); st != jobs.StatePaused {
		t.Errorf("state seen by running batches after a refresh: %s, want paused", st)
	}
	if ci, _ := c.get(ctx, "c1", def.Incarnation); ci != infos[0] {
		t.Errorf("a later batch got a different campaignInfo while others ran")
	}
	c.setLocal("c1", def.Incarnation, jobs.StateBlocked)
	if st := infos[0].State(); st != jobs.StateBlocked {
		t.Errorf("setLocal did not reach the running batches: %s", st)
	}
	// Once no batch uses it and a minute has passed, it is forgotten.
	for range batches + 1 {
		c.put(infos[0])
	}
	infos[0].lastUsed.Store(time.Now().Add(-time.Hour).UnixNano())
	c.refresh(ctx)
	if len(c.m) != 0 {
		t.Errorf("%d campaigns cached after a minute unused, want 0", len(c.m))
	}
}
