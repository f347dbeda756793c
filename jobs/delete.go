// Deleting campaigns, on request and by the janitor once their retention
// has passed, marked first so that nothing is accepted that the delete
// would lose.

package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// markDeletingScript marks a campaign as being deleted, in one atomic
// step with the decision: from then on append, re-drive, state changes
// and outcomes are refused, so nothing is accepted that the delete would
// lose. With ARGV[2] = "1" it marks only a campaign that still is what
// the caller read (state ARGV[3], finished stamp ARGV[4], incarnation
// ARGV[5]): the janitor's decision on a stale read changes nothing. A
// campaign already marked (a delete interrupted by a crash) stays marked.
// KEYS meta. ARGV[1] now (ms). Returns {1, segments, batches} when
// marked, {0} when the campaign changed, {-1} when it does not exist.
var markDeletingScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'id', 'state', 'finished', 'inc', 'deleting', 'segments', 'batches')
if not m[1] then return {-1} end
if not m[5] then
  if ARGV[2] == '1' and (m[2] ~= ARGV[3] or (m[3] or '') ~= ARGV[4] or (m[4] or '') ~= ARGV[5]) then return {0} end
  redis.call('HSET', KEYS[1], 'deleting', ARGV[1])
end
return {1, tonumber(m[6] or '0'), tonumber(m[7] or '0')}
`)

// deleteExpect is what the janitor read of a campaign it deletes.
type deleteExpect struct {
	state    State
	finished string
	inc      string
}

// Delete removes every key of a campaign, whatever its state. Changes to
// it are refused (ErrDeleting) from the moment it starts.
func (s *Store) Delete(ctx context.Context, id string) error {
	_, err := s.deleteIf(ctx, id, nil)
	return err
}

// deleteIf marks the campaign as being deleted (if expect is not nil,
// only when it is still as expected) and then removes its keys: the
// segments and ledger hashes, then the meta hash, so that a delete
// interrupted in between is found and finished by the next janitor run.
// It returns false when the campaign changed since expect was read.
func (s *Store) deleteIf(ctx context.Context, id string, expect *deleteExpect) (bool, error) {
	if err := ValidateCampaignID(id); err != nil {
		return false, err
	}
	args := []any{s.now().UnixMilli(), "0", "", "", ""}
	if expect != nil {
		args = []any{s.now().UnixMilli(), "1", string(expect.state), expect.finished, expect.inc}
	}
	res, err := markDeletingScript.Run(ctx, s.rdb, []string{s.keys.meta(id)}, args...).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("delete campaign %s: %w", id, err)
	}
	switch res[0] {
	case -1:
		return false, fmt.Errorf("campaign %s: %w", id, ErrNotFound)
	case 0:
		return false, nil
	}
	if s.deleteMarked != nil {
		s.deleteMarked(id)
	}
	segments, batches := int(res[1]), int(res[2])
	ks := make([]string, 0, segments+batches+10+len(FailureOutcomes))
	for seg := 0; seg < segments; seg++ {
		ks = append(ks, s.keys.segment(id, seg))
	}
	for b := 0; b < batches; b++ {
		ks = append(ks, s.keys.ledger(id, b))
	}
	ks = append(ks, s.keys.errors(id), s.keys.events(id), s.keys.failures(id),
		s.keys.snap(id), s.keys.snapSets(id), s.keys.snapMeta(id),
		s.keys.outbox(id), s.keys.notified(id), s.keys.notifyLease(id))
	ks = append(ks, s.keys.failIndexes(id)...)
	ks = append(ks, s.keys.meta(id)) // last: it holds the deleting mark
	for len(ks) > 0 {
		n := min(len(ks), 500)
		// One slot per campaign: a multi-key UNLINK is fine on Cluster.
		// UNLINK, not DEL: the error and failure hashes and the ledgers
		// can hold millions of fields, and DEL would free them all while
		// Redis serves no one; UNLINK frees them in a background thread.
		if err := s.rdb.Unlink(ctx, ks[:n]...).Err(); err != nil {
			return false, fmt.Errorf("delete campaign %s: %w", id, err)
		}
		ks = ks[n:]
	}
	if err := s.rdb.ZRem(ctx, s.keys.index(), id).Err(); err != nil {
		return true, fmt.Errorf("delete campaign %s: unindex: %w", id, err)
	}
	return true, nil
}

// Janitor deletes campaigns that finished more than their retention ago.
// Several processes may run it; a short lock keeps them from doing the
// same work at once. The delete happens only if the campaign is still
// what the janitor read (an append or a retry in between re-opens it and
// keeps it), and a delete interrupted earlier is completed. It returns
// the number of campaigns deleted.
func (s *Store) Janitor(ctx context.Context) (int, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.janitorLock(), "1", time.Minute).Result()
	if err != nil || !ok {
		return 0, err
	}
	ids, err := s.rdb.ZRange(ctx, s.keys.index(), 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("janitor: %w", err)
	}
	now := s.now()
	n := 0
	for _, id := range ids {
		c, err := s.Get(ctx, id)
		switch {
		case errors.Is(err, ErrDeleting):
			if err := s.Delete(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
				return n, err
			}
			continue
		case errors.Is(err, ErrNotFound):
			s.rdb.ZRem(ctx, s.keys.index(), id)
			continue
		case err != nil:
			return n, err
		}
		if !c.State.Final() || c.FinishedAt.IsZero() || now.Sub(c.FinishedAt) <= c.Policy.Retention {
			continue
		}
		if s.janitorRead != nil {
			s.janitorRead(id)
		}
		deleted, err := s.deleteIf(ctx, id, &deleteExpect{
			state: c.State, finished: strconv.FormatInt(c.FinishedAt.UnixMilli(), 10), inc: c.Incarnation,
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return n, err
		}
		if deleted {
			n++
		}
	}
	return n, nil
}
