package jobs

import (
	"context"
	"errors"
	"fmt"
)

// scanPage is how many index entries EachCampaign asks ZSCAN for at a
// time; their meta hashes are read in one pipelined round trip.
const scanPage = 200

// EachCampaign calls fn with every campaign of the namespace, in no
// particular order, until fn returns an error (which it returns). Unlike
// List it is not bounded to the newest campaigns: it walks the whole index
// with ZSCAN, which returns every campaign indexed for the whole walk at
// least once however the index changes meanwhile (a campaign created or
// deleted during the walk may or may not be seen; one seen twice is passed
// to fn twice). Index entries whose campaign is gone are removed after the
// walk (removing them during it could make a cursor skip entries).
func (s *Store) EachCampaign(ctx context.Context, fn func(*Campaign) error) error {
	var cursor uint64
	var gone []any
	defer func() {
		if len(gone) > 0 {
			s.rdb.ZRem(ctx, s.keys.index(), gone...)
		}
	}()
	for {
		kv, next, err := s.rdb.ZScan(ctx, s.keys.index(), cursor, "", scanPage).Result()
		if err != nil {
			return fmt.Errorf("list campaigns: %w", err)
		}
		// kv alternates member and score.
		ids := make([]string, 0, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			ids = append(ids, kv[i])
		}
		if err := s.eachOf(ctx, ids, fn, &gone); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// eachOf loads the campaigns ids in one pipeline and calls fn with each;
// the IDs of campaigns that are gone are added to gone.
func (s *Store) eachOf(ctx context.Context, ids []string, fn func(*Campaign) error, gone *[]any) error {
	metas, err := s.loadMetas(ctx, ids)
	if err != nil {
		return err
	}
	for i, m := range metas {
		c, err := decodeCampaign(m)
		if errors.Is(err, ErrNotFound) {
			*gone = append(*gone, ids[i])
			continue
		}
		if err != nil {
			return fmt.Errorf("campaign %s: %w", ids[i], err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}
