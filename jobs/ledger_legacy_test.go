package jobs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestRecordLegacyCreationOnly (second review of issue 15 item 1, finding
// 2): outcomes made for one creation of a campaign stored by an earlier
// version (no incarnation) are written only while that creation exists,
// never to a campaign created again under its ID. The ledger names a
// legacy creation by its creation time (Campaign.LedgerIdentity).
func TestRecordLegacyCreationOnly(t *testing.T) {
	env := redistest.New(t)
	ctx := t.Context()
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	if _, err := submitIDs(t, store, newDef("leg"), 1, 3, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	meta := env.Namespace + ":{leg}:meta"
	if err := env.Client.HDel(ctx, meta, "inc").Err(); err != nil { // as an earlier version stored it
		t.Fatal(err)
	}
	c, err := store.Get(ctx, "leg")
	if err != nil {
		t.Fatal(err)
	}
	if c.Incarnation != "" || c.LedgerIdentity()[0] != '@' {
		t.Fatalf("legacy campaign: incarnation %q, identity %q", c.Incarnation, c.LedgerIdentity())
	}
	rec := func(id int64) []jobs.BatchRecords {
		return []jobs.BatchRecords{{Batch: 0, Records: []jobs.Record{{AssetID: id, Outcome: jobs.OutcomeReset, FinishedAt: time.Now()}}}}
	}
	if _, err := store.Ledger().RecordIncarnation(ctx, "leg", c.LedgerIdentity(), rec(1), time.Now()); err != nil {
		t.Fatalf("record for the campaign's own creation: %v", err)
	}
	// Another creation of "leg": its created time differs.
	other := c.CreatedAt.Add(-time.Hour).UnixMilli()
	if err := env.Client.HSet(ctx, meta, "created", other).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = store.Ledger().RecordIncarnation(ctx, "leg", c.LedgerIdentity(), rec(2), time.Now())
	if !errors.Is(err, jobs.ErrCampaignGone) {
		t.Errorf("record for an earlier creation onto the campaign created again: %v, want ErrCampaignGone", err)
	}
	if c2, err := store.Get(ctx, "leg"); err != nil || c2.Counts[jobs.OutcomeReset] != 1 {
		t.Errorf("after: %v, %v; want 1 reset", c2.Counts, err)
	}
}
