package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// Tests of the janitor against changes between its read and its delete
// (issue 15 item 10). The seam runs the change exactly there, so the
// interleaving is deterministic; assertions are on the real Redis state.

// finishedCampaign stores campaign id with assets 1..3 (1 and 2 reset, 3
// failed), finished an hour ago with a one-minute retention, and returns
// a Store whose clock says the retention has passed.
func finishedCampaign(t *testing.T, env *redistest.Env, id string) *jobs.Store {
	t.Helper()
	ctx := context.Background()
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	def := newDef(id)
	def.Policy.Retention = time.Minute
	if _, err := submitIDs(t, store, def, 1, 3, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	finished := time.Now().Add(-time.Hour)
	recs := []jobs.Record{
		{AssetID: 1, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: finished},
		{AssetID: 2, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: finished},
		{AssetID: 3, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 8, FinishedAt: finished},
	}
	if _, err := store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: 0, Records: recs}}, finished); err != nil {
		t.Fatal(err)
	}
	if c, err := store.Get(ctx, id); err != nil || c.State != jobs.StateDone {
		t.Fatalf("campaign %s: %+v, %v; want done", id, c, err)
	}
	return jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace,
		Now: func() time.Time { return time.Now().Add(time.Hour) }})
}

// TestJanitorKeepsCampaignRetriedMeanwhile: a retry between the janitor's
// read and its delete reopens the campaign; the janitor must not delete it.
func TestJanitorKeepsCampaignRetriedMeanwhile(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	late := finishedCampaign(t, env, "old")
	var requeued int64
	var rerr error
	late.SetJanitorRead(func(id string) {
		requeued, rerr = late.Redrive(ctx, id, []string{jobs.OutcomeFailed})
	})
	n, err := late.Janitor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rerr != nil || requeued != 1 {
		t.Fatalf("retry between read and delete: %d requeued, %v; want 1, nil", requeued, rerr)
	}
	if n != 0 {
		t.Errorf("janitor deleted %d campaigns, want 0: the retry reopened it", n)
	}
	c, err := late.Get(ctx, "old")
	if err != nil {
		t.Fatalf("campaign after the janitor: %v (the retry was lost)", err)
	}
	if c.State != jobs.StateRunning || c.Total != 3 {
		t.Errorf("campaign after the janitor: state %s total %d, want running 3", c.State, c.Total)
	}
	recs, err := late.Ledger().Load(ctx, "old", 0, []int64{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Outcome != jobs.OutcomeReset || recs[2].Terminal() {
		t.Errorf("ledger after the janitor: %+v; want 1 reset and 3 re-queued", recs)
	}
}

// TestJanitorKeepsCampaignAppendedMeanwhile: an append between the
// janitor's read and its delete reopens the campaign; the janitor must
// not delete it.
func TestJanitorKeepsCampaignAppendedMeanwhile(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	late := finishedCampaign(t, env, "old")
	var aerr error
	late.SetJanitorRead(func(string) {
		def := newDef("old")
		def.Policy.Retention = time.Minute
		_, aerr = submitIDs(t, late, def, 1, 5, jobs.SubmitOptions{Append: true})
	})
	n, err := late.Janitor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if aerr != nil {
		t.Fatalf("append between read and delete: %v", aerr)
	}
	if n != 0 {
		t.Errorf("janitor deleted %d campaigns, want 0: the append reopened it", n)
	}
	c, err := late.Get(ctx, "old")
	if err != nil {
		t.Fatalf("campaign after the janitor: %v (the append was lost)", err)
	}
	if c.State != jobs.StateRunning || c.Total != 5 || c.Segments != 2 {
		t.Errorf("campaign after the janitor: state %s total %d segments %d, want running 5 2", c.State, c.Total, c.Segments)
	}
	if k := env.Client.Exists(ctx, env.Namespace+":{old}:s:1").Val(); k != 1 {
		t.Errorf("the appended segment is gone from Redis")
	}
}

// TestJanitorRefusesChangesWhileDeleting: once the janitor has decided to
// delete a campaign, an append or a retry is refused with ErrDeleting
// (instead of being accepted and then deleted), and the delete completes.
func TestJanitorRefusesChangesWhileDeleting(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	late := finishedCampaign(t, env, "old")
	var aerr, rerr error
	late.SetDeleteMarked(func(string) {
		def := newDef("old")
		def.Policy.Retention = time.Minute
		_, aerr = submitIDs(t, late, def, 1, 5, jobs.SubmitOptions{Append: true})
		_, rerr = late.Redrive(ctx, "old", []string{jobs.OutcomeFailed})
	})
	n, err := late.Janitor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(aerr, jobs.ErrDeleting) || !errors.Is(rerr, jobs.ErrDeleting) {
		t.Errorf("append and retry while deleting: %v; %v; want ErrDeleting", aerr, rerr)
	}
	if n != 1 {
		t.Errorf("janitor deleted %d campaigns, want 1", n)
	}
	if keys := env.Client.Keys(ctx, env.Namespace+":{old}*").Val(); len(keys) != 0 {
		t.Errorf("keys left after the delete: %v", keys)
	}
}

// TestCreateOverStrayMetaField: a field written into a deleted campaign's
// meta hash by a straggler (no campaign: no id) does not keep the ID
// from being created again.
func TestCreateOverStrayMetaField(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	if err := env.Client.HSet(ctx, env.Namespace+":{imp}:meta", "s0", `{"enqueued":256}`).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := submitIDs(t, store, newDef("imp"), 7, 3, jobs.SubmitOptions{})
	if err != nil || !res.Created || res.Campaign.Total != 3 || res.Enqueued != 1 {
		t.Fatalf("create over a stray meta field: %+v, %v; want created with 3 assets and 1 batch", res, err)
	}
}
