package worker

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/jobs"
)

// orphanRepair finds running campaigns that can no longer finish because
// their tasks are gone — asynq's state lives in Redis, and a Sentinel
// failover with asynchronous replication can lose the newest writes — and
// re-enqueues their unfinished assets. A campaign is orphaned when it has
// unfinished assets, made no progress for a while, and none of the
// namespace's queues holds any task (pending, active, scheduled or retry):
// every unfinished asset of a running campaign must otherwise be in one.
type orphanRepair struct {
	w     *Worker
	insp  *asynq.Inspector
	quiet time.Duration
	seen  map[string]progressMark
}

// progressMark is a campaign incarnation's progress when first seen at
// that count.
type progressMark struct {
	inc   string
	done  int64
	since time.Time
}

func (o *orphanRepair) run(ctx context.Context, interval time.Duration) {
	every(ctx, interval, o.check)
}

func (o *orphanRepair) check(ctx context.Context) {
	for q := range jobs.Queues(o.w.cfg.Namespace) {
		info, err := o.insp.GetQueueInfo(q)
		if err != nil {
			continue // a queue that never had a task does not exist
		}
		if info.Pending+info.Active+info.Scheduled+info.Retry > 0 {
			clear(o.seen) // work is queued: nothing can be judged orphaned
			return
		}
	}
	camps, err := o.w.store.List(ctx, 100)
	if err != nil {
		return
	}
	now := time.Now()
	live := map[string]bool{}
	for _, c := range camps {
		if c.State != jobs.StateRunning || c.Finished() >= c.Total {
			continue
		}
		live[c.ID] = true
		m, ok := o.seen[c.ID]
		if !ok || m.inc != c.Incarnation || m.done != c.Finished() {
			o.seen[c.ID] = progressMark{inc: c.Incarnation, done: c.Finished(), since: now}
			continue
		}
		if now.Sub(m.since) < o.quiet {
			continue
		}
		n, err := o.w.store.Repair(ctx, c.ID)
		if errors.Is(err, jobs.ErrRepairInProgress) {
			continue
		}
		if err != nil {
			o.w.log.Error("campaign has no queued work left but could not be repaired", "campaign", c.ID, "err", err)
			continue
		}
		o.w.log.Warn("campaign had unfinished assets but no queued task (lost in a Redis failover?); re-enqueued them",
			"campaign", c.ID, "assets", n)
		delete(o.seen, c.ID)
	}
	for id := range o.seen {
		if !live[id] {
			delete(o.seen, id)
		}
	}
}
