// Enqueueing a campaign's batches as asynq tasks, resumable from a
// checkpoint when a submit is interrupted.

package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// enqueueOpts are the asynq options of every batch task. Retries of a
// batch are driven by the handler (RetryLater), not counted as failures, so
// MaxRetry only bounds genuinely broken tasks.
func (s *Store) enqueueOpts(c *Campaign, taskID string) []asynq.Option {
	return []asynq.Option{
		asynq.Queue(Queue(s.ns, c.Priority)), asynq.TaskID(taskID),
		asynq.MaxRetry(1000), asynq.Timeout(30 * time.Minute),
	}
}

// enqueueBatch enqueues one batch task; an existing task with the same ID
// is not an error (the batch is already queued), unless, for a campaign
// without an incarnation, it is a stale task of an earlier creation
// (enqueueLegacyConflict).
func (s *Store) enqueueBatch(ctx context.Context, c *Campaign, b *Batch) (bool, error) {
	p, err := EncodeBatch(b)
	if err != nil {
		return false, err
	}
	_, err = s.client.EnqueueContext(ctx, asynq.NewTask(TypeBatch, p), s.enqueueOpts(c, b.TaskID())...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		if b.Incarnation == "" {
			return s.enqueueLegacyConflict(ctx, c, b, p)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enqueue batch %d of campaign %s: %w", b.Batch, c.ID, err)
	}
	return true, nil
}

// checkpointScript records a segment's enqueue progress in the meta hash
// of incarnation ARGV[3] only: after a delete (or a re-creation) it
// writes nothing. KEYS meta. ARGV field, value, incarnation.
var checkpointScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'id', 'inc', 'deleting')
if not m[1] or m[3] or (m[2] or '') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// checkpointEvery is how many batches are enqueued between progress
// checkpoints of a segment.
const checkpointEvery = 256

// EnsureEnqueued enqueues every batch of the campaign that is not yet
// known to be enqueued, resuming from the last checkpoint of each segment.
// It returns the number of batch tasks created.
//
// A campaign with a snapshot gets the snapshot task of every segment
// whose snapshot is not complete (again: a lost task is re-created, a
// queued one conflicts), whatever its state but cancelled: a pending
// campaign snapshots while it waits. The batches of such a segment are
// held back until its snapshot is complete, since a reset before the
// snapshot saw the asset could never be undone; the worker calls
// EnsureEnqueued again after SnapshotRun.Complete. Only a cancelled
// campaign's batches go without (they only record "cancelled"). A
// restore campaign's batches likewise wait until its labels are stored
// (storeSegmentSets). Nothing else is enqueued for a pending campaign.
//
// An express campaign (express.go) takes its snapshot only once it runs,
// right before its bulk call, not while it waits for approval. Until its
// express state is final its batches wait too: once every segment's
// snapshot is complete the express task is enqueued instead (again: a
// lost one is re-created). A cancelled one's batches go as today (they
// record "cancelled"), and when its bulk call may have been sent its
// express task goes on, since verification records what the bulk call
// did (a reset replaces "cancelled").
func (s *Store) EnsureEnqueued(ctx context.Context, c *Campaign) (int, error) {
	ready, err := s.snapshotsReady(ctx, c)
	if err != nil {
		return 0, err
	}
	if c.State == StatePending {
		return 0, nil
	}
	if c.Express {
		wait, err := s.ensureExpress(ctx, c, ready)
		if err != nil || wait {
			return 0, err
		}
	}
	created := 0
	for seg := 0; seg < c.Segments; seg++ {
		if !ready[seg] {
			continue
		}
		info, err := s.segmentInfo(ctx, c.ID, seg)
		if err != nil {
			return created, err
		}
		if info.complete() {
			continue
		}
		set, err := s.segmentIDs(ctx, c, seg)
		if err != nil {
			return created, err
		}
		field := "s" + strconv.Itoa(seg)
		save := func(n int) error {
			info.Enqueued = n
			b, _ := json.Marshal(info)
			return checkpointScript.Run(ctx, s.rdb, []string{s.keys.meta(c.ID)}, field, b, c.Incarnation).Err()
		}
		b := &Batch{Campaign: c.ID, Incarnation: c.Incarnation}
		err = set.Chunks(info.BatchSize, func(i int, ids []int64) error {
			if i < info.Enqueued {
				return nil
			}
			b.Batch, b.IDs = info.FirstBatch+i, ids
			ok, err := s.enqueueBatch(ctx, c, b)
			if err != nil {
				return err
			}
			if ok {
				created++
			}
			if (i+1)%checkpointEvery == 0 {
				return save(i + 1)
			}
			return nil
		})
		if err != nil {
			return created, err
		}
		if err := save(info.Batches); err != nil {
			return created, fmt.Errorf("campaign %s: checkpoint segment %d: %w", c.ID, seg, err)
		}
	}
	return created, nil
}

// snapshotsReady reports, per segment of c, whether its batches may be
// enqueued, and enqueues the snapshot task of every segment whose
// snapshot is not complete (see EnsureEnqueued).
func (s *Store) snapshotsReady(ctx context.Context, c *Campaign) ([]bool, error) {
	ready := make([]bool, c.Segments)
	if c.Express && c.State == StatePending {
		// Taken once it runs: the snapshot is the record of what the
		// bulk call changes, and must be fresh when it is sent.
		return ready, nil
	}
	gated := (c.Snapshot || c.Mode == ModeRestore) && c.State != StateCancelled
	if !gated {
		for i := range ready {
			ready[i] = true
		}
		return ready, nil
	}
	fields := make([]string, c.Segments)
	for seg := range fields {
		fields[seg] = snapField(seg, "done")
	}
	if len(fields) == 0 {
		return ready, nil
	}
	done, err := s.rdb.HMGet(ctx, s.keys.snapMeta(c.ID), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("campaign %s: read snapshot progress: %w", c.ID, err)
	}
	for seg, v := range done {
		ready[seg] = v != nil
		if ready[seg] || !c.Snapshot {
			continue
		}
		if err := s.enqueueSnapshot(ctx, c, seg); err != nil {
			return nil, err
		}
	}
	return ready, nil
}

// enqueueSnapshot enqueues the snapshot task of segment seg of c; one
// queued or running already is not an error. Its retries are generous:
// a run continues from its checkpoint, and a campaign whose snapshot
// task is lost for good never starts.
func (s *Store) enqueueSnapshot(ctx context.Context, c *Campaign, seg int) error {
	t := &SnapshotTask{Campaign: c.ID, Incarnation: c.Incarnation, Segment: seg}
	p, err := EncodeSnapshotTask(t)
	if err != nil {
		return err
	}
	_, err = s.client.EnqueueContext(ctx, asynq.NewTask(TypeSnapshot, p),
		asynq.Queue(Queue(s.ns, c.Priority)), asynq.TaskID(t.TaskID()),
		asynq.MaxRetry(10000), asynq.Timeout(24*time.Hour))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue snapshot of campaign %s segment %d: %w", c.ID, seg, err)
	}
	return nil
}

// ensureExpress enqueues the express task of express campaign c (not
// pending) when it is due, ready saying per segment whether its snapshot
// is complete, and reports whether c's batches must wait (its express
// phase is not over).
func (s *Store) ensureExpress(ctx context.Context, c *Campaign, ready []bool) (wait bool, err error) {
	x, err := s.Express(ctx, c)
	if err != nil {
		return true, err
	}
	if x.State.Final() {
		return false, nil
	}
	if c.State == StateCancelled {
		// Nothing per asset runs any more; what the bulk call may have
		// changed is still verified.
		if x.State.BulkSent() {
			_, err = s.enqueueExpress(ctx, c)
		}
		return false, err
	}
	for _, r := range ready {
		if !r {
			return true, nil // the worker enqueues again after the last segment
		}
	}
	_, err = s.enqueueExpress(ctx, c)
	return true, err
}
