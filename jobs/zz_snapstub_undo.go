package jobs

import "context"

// TEMPORARY until h/snap is merged.
func (s *Store) storeSegmentSets(ctx context.Context, c *Campaign, seg int, dict [][]string, batches map[int][]uint64) error {
	panic("not implemented")
}
