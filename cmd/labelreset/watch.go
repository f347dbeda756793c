package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// watch redraws progress until the campaign is final or stops making
// progress for a reason (blocked, stopped); with stopOnHold it also
// returns for paused and pending campaigns. A failed read ends the watch,
// unless outageLimit > 0: then Redis may be unreachable for that long
// (the workers ride it out) before watch returns a *redisOutageError. On
// an error the campaign returned is the last one read, or nil.
func (a *app) watch(ctx context.Context, store *jobs.Store, id string, stopOnHold bool, outageLimit time.Duration) (*jobs.Campaign, error) {
	p := newProgress(a.stderr, isTerminal(a.stderr))
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var last *jobs.Campaign
	var downSince time.Time
	for {
		c, err := a.readDuringOutage(ctx, store, id, outageLimit)
		if err != nil {
			if outageLimit <= 0 || ctx.Err() != nil || errors.Is(err, jobs.ErrNotFound) {
				return last, err
			}
			if downSince.IsZero() {
				downSince = time.Now()
				a.log.Warn("Redis unreachable: waiting for it to come back", "campaign", id,
					"redis_outage_limit", outageLimit, "err", err)
			}
			if d := time.Since(downSince); d >= outageLimit {
				return last, &redisOutageError{down: d, limit: outageLimit, err: err}
			}
		} else {
			if !downSince.IsZero() {
				a.log.Info("Redis is back", "campaign", id, "down_for", time.Since(downSince).Round(time.Second))
				downSince = time.Time{}
			}
			last = c
			p.update(c)
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return last, ctx.Err()
			case <-t.C:
			}
			continue
		}
		if c.State.Final() || c.State == jobs.StateBlocked || c.State == jobs.StateStopped ||
			(stopOnHold && c.State.Holding()) {
			p.done(c)
			return c, nil
		}
		select {
		case <-ctx.Done():
			p.done(c)
			return c, ctx.Err()
		case <-t.C:
		}
	}
}

// redisOutageError ends a watch that waited longer than its outage limit
// for Redis.
type redisOutageError struct {
	down, limit time.Duration
	err         error
}

func (e *redisOutageError) Error() string {
	return fmt.Sprintf("Redis unreachable for %v (limit %v): %v", e.down.Round(time.Second), e.limit, e.err)
}

func (e *redisOutageError) Unwrap() error { return e.err }

// readDuringOutage is one status read of watch. While Redis may be down
// (outageLimit > 0), each read is bounded so that a dial hanging on a
// dead Redis or sentinel cannot outlast the limit.
func (a *app) readDuringOutage(ctx context.Context, store *jobs.Store, id string, outageLimit time.Duration) (*jobs.Campaign, error) {
	if outageLimit <= 0 {
		return store.Get(ctx, id)
	}
	rctx, cancel := context.WithTimeout(ctx, min(outageLimit, 5*time.Second))
	defer cancel()
	// bounded: a signal ends the read at once even when Redis hangs.
	var c *jobs.Campaign
	err := bounded(rctx, &a.inflight, func(ctx context.Context) (err error) {
		c, err = store.Get(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
