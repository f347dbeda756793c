package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// PageQuery selects a page of campaigns, newest first.
type PageQuery struct {
	// After is the cursor of the previous page (PageResult.Next); "" is
	// the first page.
	After string
	// Limit is the page size; default 50, at most 1000.
	Limit int
	// IDPrefix keeps the campaigns whose ID starts with it.
	IDPrefix string
	// Keep, when set, keeps the campaigns it reports true for (a state,
	// a principal's teams).
	Keep func(*Campaign) bool
}

// PageResult is a page of campaigns and the cursor of the next one.
type PageResult struct {
	Campaigns []*Campaign
	// Next is the cursor of the next page, "" when this is the last.
	Next string
}

// ListPage returns a page of campaigns, newest first. The cursor names
// the last campaign of the page by its creation time and ID, so that
// campaigns created while a person pages neither repeat nor hide others.
// Campaigns are read in pipelined chunks of their meta hashes (the stored
// counters), never their ledgers.
func (s *Store) ListPage(ctx context.Context, q PageQuery) (*PageResult, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	maxScore, afterID := "+inf", ""
	if q.After != "" {
		sc, id, ok := strings.Cut(q.After, ":")
		if _, err := strconv.ParseInt(sc, 10, 64); !ok || err != nil || ValidateCampaignID(id) != nil {
			return nil, fmt.Errorf("list campaigns: cursor %q: %w", q.After, ErrInvalidCursor)
		}
		maxScore, afterID = sc, id
	}
	res := &PageResult{}
	var lastScore int64
	const chunk = 200
	for offset := int64(0); ; offset += chunk {
		zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, s.keys.index(), &redis.ZRangeBy{
			Max: maxScore, Min: "-inf", Offset: offset, Count: chunk}).Result()
		if err != nil {
			return nil, fmt.Errorf("list campaigns: %w", err)
		}
		ids := make([]string, 0, len(zs))
		scores := make([]int64, 0, len(zs))
		for _, z := range zs {
			id, _ := z.Member.(string)
			if q.After != "" && strconv.FormatInt(int64(z.Score), 10) == maxScore && id >= afterID {
				continue // at or before the cursor among campaigns created in the same millisecond
			}
			if !strings.HasPrefix(id, q.IDPrefix) || ValidateCampaignID(id) != nil {
				continue
			}
			ids, scores = append(ids, id), append(scores, int64(z.Score))
		}
		cs, err := s.getMany(ctx, ids)
		if err != nil {
			return nil, err
		}
		for i, c := range cs {
			if c == nil || (q.Keep != nil && !q.Keep(c)) {
				continue
			}
			if len(res.Campaigns) == limit {
				// One more exists: the page is full and has a successor.
				res.Next = strconv.FormatInt(lastScore, 10) + ":" + res.Campaigns[limit-1].ID
				return res, nil
			}
			lastScore = scores[i]
			res.Campaigns = append(res.Campaigns, c)
		}
		if len(zs) < chunk {
			return res, nil
		}
	}
}

// ErrInvalidCursor is a page cursor that ListPage did not make.
var ErrInvalidCursor = errors.New("not a cursor of this list")

// getMany loads campaigns in one pipeline; a campaign that is gone (or
// being deleted) is nil.
func (s *Store) getMany(ctx context.Context, ids []string) ([]*Campaign, error) {
	metas, err := s.loadMetas(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*Campaign, len(ids))
	for i, m := range metas {
		c, err := decodeCampaign(m)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrDeleting) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("campaign %s: %w", ids[i], err)
		}
		out[i] = c
	}
	return out, nil
}

// loadMetas reads the meta hashes of campaigns ids in one pipeline.
func (s *Store) loadMetas(ctx context.Context, ids []string) ([]map[string]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.keys.meta(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	out := make([]map[string]string, len(ids))
	for i, cmd := range cmds {
		out[i] = cmd.Val()
	}
	return out, nil
}
