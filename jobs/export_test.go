package jobs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// SetJanitorRead installs a function the janitor runs between its read of
// an expired campaign and its decision to delete it (a test-only seam for
// interleaving an append or a retry there).
func (s *Store) SetJanitorRead(f func(id string)) { s.janitorRead = f }

// SetDeleteMarked installs a function a delete runs once the campaign is
// marked as being deleted, before its keys go.
func (s *Store) SetDeleteMarked(f func(id string)) { s.deleteMarked = f }

// StoreSegmentSets is storeSegmentSets, for the package's external tests.
func (s *Store) StoreSegmentSets(ctx context.Context, c *Campaign, seg int, dict [][]string, batches map[int][]uint64) error {
	return s.storeSegmentSets(ctx, c, seg, dict, batches)
}

// FailureLua is failureLua, to run its failure_reason against
// FailureReasonOf.
var FailureLua = failureLua

// FailureIndex returns the failure index of a campaign: outcome →
// members ("<asset>:<batch>", the asset unpadded), ascending.
func (s *Store) FailureIndex(ctx context.Context, id string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, o := range FailureOutcomes {
		ms, err := s.rdb.ZRange(ctx, s.keys.failIndex(id, o), 0, -1).Result()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			r, err := parseIndexMember(m)
			if err != nil {
				return nil, err
			}
			out[o] = append(out[o], fmt.Sprintf("%d:%d", r.asset, r.batch))
		}
	}
	return out, nil
}

// FailureIndexFromLedger is what FailureIndex must return, read from the
// whole ledger.
func (s *Store) FailureIndexFromLedger(ctx context.Context, id string) (map[string][]string, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var refs []failRef
	outcome := map[failRef]string{}
	err = s.forEachBatch(ctx, c, func(batch int, ids []int64) error {
		recs, err := s.ledger.Load(ctx, id, batch, ids)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Terminal() && slices.Contains(FailureOutcomes, r.Outcome) {
				f := failRef{r.AssetID, batch}
				refs = append(refs, f)
				outcome[f] = r.Outcome
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(refs, func(a, b failRef) int { return cmp.Compare(a.asset, b.asset) })
	out := map[string][]string{}
	for _, f := range refs {
		out[outcome[f]] = append(out[outcome[f]], fmt.Sprintf("%d:%d", f.asset, f.batch))
	}
	return out, nil
}

// ForgetFailureIndex makes a campaign one stored before the failure
// index existed: no flag, no index.
func (s *Store) ForgetFailureIndex(ctx context.Context, id string) error {
	if err := s.rdb.HDel(ctx, s.keys.meta(id), failIndexField).Err(); err != nil {
		return err
	}
	return s.rdb.Del(ctx, s.keys.failIndexes(id)...).Err()
}
