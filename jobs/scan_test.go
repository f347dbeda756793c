package jobs_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestEachCampaignVisitsAll: EachCampaign walks every campaign of the
// namespace, past the 100 newest and across several ZSCAN pages (an index
// this large is a hashtable on a real Redis, scanned page by page), and
// drops index entries whose campaign is gone.
func TestEachCampaignVisitsAll(t *testing.T) {
	ctx := context.Background()
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	const n = 450
	for i := range n {
		if _, err := submitIDs(t, store, newDef("c"+strconv.Itoa(i)), 1, 3, jobs.SubmitOptions{ConfirmAbove: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// An index entry without its campaign (deleted meanwhile).
	if err := env.Client.ZAdd(ctx, env.Namespace+":campaigns", redis.Z{Score: 1, Member: "ghost"}).Err(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	if err := store.EachCampaign(ctx, func(c *jobs.Campaign) error { seen[c.ID] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if !seen["c"+strconv.Itoa(i)] {
			t.Fatalf("campaign c%d not visited (%d of %d visited)", i, len(seen), n)
		}
	}
	if seen["ghost"] || len(seen) != n {
		t.Errorf("visited %d campaigns (ghost: %v), want %d", len(seen), seen["ghost"], n)
	}
	if err := env.Client.ZScore(ctx, env.Namespace+":campaigns", "ghost").Err(); err != redis.Nil {
		t.Errorf("the index entry of a gone campaign was kept")
	}
}
