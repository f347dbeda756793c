// Repairing a campaign whose tasks were lost: its assets without an
// outcome are enqueued again under new task IDs.

package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// repairGen offsets the generation numbers of repair tasks so that their
// task IDs never collide with re-drives.
const repairGen = 1 << 20

// ErrRepairInProgress is returned by Repair while another process repairs
// the same campaign.
var ErrRepairInProgress = errors.New("another process is repairing this campaign")

// Repair re-enqueues every asset of the campaign that has no outcome yet,
// under new task IDs, and completes an interrupted enqueue. It is for
// campaigns whose tasks were lost (e.g. asynq state lost in a Redis
// failover); callers must make sure no task of the campaign is still
// queued, or an asset could be worked by two tasks at once. One process
// repairs a campaign at a time: while another holds the repair lock (a
// minute), Repair does nothing and returns ErrRepairInProgress. It returns
// the number of assets re-enqueued.
func (s *Store) Repair(ctx context.Context, id string) (int64, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.repairLock(id), "1", time.Minute).Result()
	if err != nil {
		return 0, fmt.Errorf("repair campaign %s: %w", id, err)
	}
	if !ok {
		return 0, ErrRepairInProgress
	}
	c, err := s.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	if c.State != StateRunning {
		return 0, fmt.Errorf("campaign %s is %s: %w", id, c.State, ErrTransition)
	}
	if _, err := s.EnsureEnqueued(ctx, c); err != nil {
		return 0, err
	}
	if c.Express {
		// Until its express phase is over an express campaign's only
		// work is its express task (EnsureEnqueued re-created a lost
		// one): a batch now would call assets before or beside the bulk
		// call.
		x, err := s.Express(ctx, c)
		if err != nil {
			return 0, err
		}
		if !x.State.Final() {
			return 0, nil
		}
	}
	n, err := s.rdb.HIncrBy(ctx, s.keys.meta(id), "repairs", 1).Result()
	if err != nil {
		return 0, fmt.Errorf("campaign %s: %w", id, err)
	}
	var total int64
	err = s.forEachBatch(ctx, c, func(batch int, ids []int64) error {
		recs, err := s.ledger.Load(ctx, id, batch, ids)
		if err != nil {
			return err
		}
		b := &Batch{Campaign: id, Incarnation: c.Incarnation, Batch: batch, Gen: repairGen + int(n)}
		for _, r := range recs {
			if !r.Terminal() {
				b.IDs = append(b.IDs, r.AssetID)
			}
		}
		if len(b.IDs) == 0 {
			return nil
		}
		if _, err := s.enqueueBatch(ctx, c, b); err != nil {
			return err
		}
		total += int64(len(b.IDs))
		return nil
	})
	return total, err
}
