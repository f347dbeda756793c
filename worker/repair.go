package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/jobs"
)

// orphanRepair finds running campaigns that can no longer finish because
// their tasks are gone — asynq's state lives in Redis, and a Sentinel
// failover with asynchronous replication can lose the newest writes — and
// re-enqueues their unfinished assets. A campaign is orphaned when it is
// running with unfinished assets, made no progress for the repair window,
// and no task of its own is pending, active, scheduled or retrying: every
// unfinished asset of a running campaign must otherwise be in one.
//
// The judgement is per campaign. Waiting for the whole namespace to be
// idle let a paused campaign elsewhere (its tasks keep coming back to the
// queue) starve the repair forever. Every campaign is looked at, not the
// newest hundred. And an error reading asynq's queues means "unknown, try
// later": taking it for "no task" re-enqueued assets that were still
// queued, to be worked twice at once.
type orphanRepair struct {
	store  *jobs.Store
	insp   *asynq.Inspector
	queues []string
	quiet  time.Duration
	log    *slog.Logger
	seen   map[string]progressMark
}

// progressMark is a campaign incarnation's progress when first seen at
// that count.
type progressMark struct {
	inc   string
	done  int64
	since time.Time
}

func newOrphanRepair(store *jobs.Store, insp *asynq.Inspector, ns string, quiet time.Duration, log *slog.Logger) *orphanRepair {
	var queues []string
	for q := range jobs.Queues(ns) {
		queues = append(queues, q)
	}
	slices.Sort(queues)
	return &orphanRepair{store: store, insp: insp, queues: queues, quiet: quiet, log: log,
		seen: map[string]progressMark{}}
}

func (o *orphanRepair) run(ctx context.Context, interval time.Duration) {
	every(ctx, interval, o.check)
}

func (o *orphanRepair) check(ctx context.Context) {
	now := time.Now()
	var stuck []string
	live := map[string]bool{}
	err := o.store.EachCampaign(ctx, func(c *jobs.Campaign) error {
		if c.State != jobs.StateRunning || c.Finished() >= c.Total {
			return nil
		}
		live[c.ID] = true
		m, ok := o.seen[c.ID]
		if !ok || m.inc != c.Incarnation || m.done != c.Finished() {
			o.seen[c.ID] = progressMark{inc: c.Incarnation, done: c.Finished(), since: now}
			return nil
		}
		if now.Sub(m.since) >= o.quiet {
			stuck = append(stuck, c.ID)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("orphan repair: cannot list campaigns; trying again later", "err", err)
		}
		return
	}
	for id := range o.seen {
		if !live[id] {
			delete(o.seen, id)
		}
	}
	if len(stuck) == 0 {
		return
	}
	idle := map[string]bool{}
	for _, id := range stuck {
		idle[id] = true
	}
	// Two passes: the lists are read one after the other, and a task that
	// moves between them meanwhile (retry → pending after pending was
	// read) is missed by one pass but hardly by two.
	for range 2 {
		if err := o.dropQueued(idle); err != nil {
			if ctx.Err() == nil {
				o.log.Warn("orphan repair: cannot read the task queues; no campaign is judged orphaned until they can be read",
					"err", err)
			}
			return
		}
	}
	for _, id := range stuck {
		if idle[id] {
			o.repair(ctx, id)
		}
	}
}

// dropQueued removes from idle every campaign with a task pending, active,
// scheduled or retrying in the namespace's queues. It stops reading once
// idle is empty. An error means nothing can be concluded.
func (o *orphanRepair) dropQueued(idle map[string]bool) error {
	const pageSize = 1000
	lists := []struct {
		state string
		list  func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	}{
		{"active", o.insp.ListActiveTasks},
		{"pending", o.insp.ListPendingTasks},
		{"retry", o.insp.ListRetryTasks},
		{"scheduled", o.insp.ListScheduledTasks},
	}
	for _, q := range o.queues {
		for _, l := range lists {
			for page := 1; len(idle) > 0; page++ {
				tasks, err := l.list(q, asynq.PageSize(pageSize), asynq.Page(page))
				if errors.Is(err, asynq.ErrQueueNotFound) {
					break // a queue that never had a task holds none
				}
				if err != nil {
					return fmt.Errorf("list %s tasks of queue %s: %w", l.state, q, err)
				}
				for _, t := range tasks {
					delete(idle, jobs.TaskCampaign(t.ID))
				}
				if len(tasks) < pageSize {
					break
				}
			}
		}
	}
	return nil
}

func (o *orphanRepair) repair(ctx context.Context, id string) {
	n, err := o.store.Repair(ctx, id)
	if errors.Is(err, jobs.ErrRepairInProgress) {
		return
	}
	if err != nil {
		o.log.Error("campaign has no queued work left but could not be repaired", "campaign", id, "err", err)
		return
	}
	o.log.Warn("campaign had unfinished assets but no queued task (lost in a Redis failover?); re-enqueued them",
		"campaign", id, "assets", n)
	delete(o.seen, id)
}
