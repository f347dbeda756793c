package jobs

import "context"

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
