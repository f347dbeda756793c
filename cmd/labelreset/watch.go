package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// stallAfter is how long a running campaign with assets left may go
// without an outcome before status --watch looks for a worker.
const stallAfter = 30 * time.Second

// watchOptions are the knobs of watchWith.
type watchOptions struct {
	// stopOnHold also returns for paused and pending campaigns.
	stopOnHold bool
	// outageLimit > 0 lets Redis be unreachable for that long (the
	// workers ride it out) before the watch returns a *redisOutageError.
	outageLimit time.Duration
	// stallAfter > 0 warns when no asset has finished for that long while
	// the campaign runs: run has its own worker, status --watch may be
	// watching a queue nobody works.
	stallAfter time.Duration
	// now is the clock of the progress bar and of the stall warning.
	now func() time.Time
	// snapshotDone, when set, is called once when the campaign's
	// snapshot is seen complete (run writes its file then, before the
	// resets finish); the line it returns is noted above the bar. An
	// error ends the watch.
	snapshotDone func(*jobs.Campaign, *jobs.SnapshotInfo) (string, error)
}

// watchWith redraws progress until the campaign is final or stops making
// progress for a reason (blocked, stopped); see watchOptions. A failed
// read ends the watch, unless o.outageLimit > 0. On an error the campaign
// returned is the last one read, or nil. On a hold (pending, paused) it
// says once which command continues the campaign.
func (a *app) watchWith(ctx context.Context, store *jobs.Store, id string, o watchOptions) (*jobs.Campaign, error) {
	if o.now == nil {
		o.now = time.Now
	}
	p := newProgress(a.live, o.now)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var last *jobs.Campaign
	// done draws the last state read once, below any hint.
	done := func() {
		if last != nil {
			p.done(last)
		}
	}
	stall := newStallCheck(store, o.stallAfter, o.now())
	var downSince time.Time
	var held jobs.State
	snap := snapshotWatch{done: o.snapshotDone}
	for {
		c, err := a.readDuringOutage(ctx, store, id, o.outageLimit)
		if err != nil {
			if o.outageLimit <= 0 || ctx.Err() != nil || errors.Is(err, jobs.ErrNotFound) {
				done()
				return last, err
			}
			if downSince.IsZero() {
				downSince = time.Now()
				a.log.Warn("Redis unreachable: waiting for it to come back", "campaign", id,
					"redis_outage_limit", o.outageLimit, "err", err)
			}
			if d := time.Since(downSince); d >= o.outageLimit {
				done()
				return last, &redisOutageError{down: d, limit: o.outageLimit, err: err}
			}
		} else {
			if !downSince.IsZero() {
				a.log.Info("Redis is back", "campaign", id, "down_for", time.Since(downSince).Round(time.Second))
				downSince = time.Time{}
			}
			last = c
			if c.State.Final() || c.State == jobs.StateBlocked || c.State == jobs.StateStopped ||
				(o.stopOnHold && c.State.Holding()) {
				p.done(c)
				return c, nil
			}
			if c.State != held {
				held = c.State
				if h := holdHint(c, store.Namespace()); h != "" && c.State.Holding() {
					p.note("%s", h)
				}
			}
			taking, err := snap.check(ctx, store, c, p)
			if err != nil {
				done()
				return last, err
			}
			// No asset is called before the snapshot is complete: while
			// it is taken, its listed pages are the progress to watch.
			progress := c.Finished()
			if taking {
				progress = -1 - snap.pages
			}
			if w := stall.check(c, progress, o.now()); w != "" {
				a.log.Warn(w, "campaign", id)
			}
			if !taking {
				p.update(c)
			}
		}
		select {
		case <-ctx.Done():
			done()
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// holdHint is the command that moves a campaign on from a state where it
// waits for a person ("" for the others).
func holdHint(c *jobs.Campaign, namespace string) string {
	ns := ""
	if namespace != jobs.DefaultNamespace {
		ns = " --namespace " + namespace
	}
	switch c.State {
	case jobs.StatePending:
		return fmt.Sprintf("campaign %s waits for approval: release it with `labelreset approve %s%s`", c.ID, c.ID, ns)
	case jobs.StatePaused:
		return fmt.Sprintf("campaign %s is paused: continue it with `labelreset resume %s%s`", c.ID, c.ID, ns)
	case jobs.StateBlocked:
		return fmt.Sprintf("campaign %s is blocked: PDCP refused the workers' key; fix PDCP_API_KEY / PDCP_TEAM_ID of the workers, "+
			"then `labelreset resume %s%s`", c.ID, c.ID, ns)
	case jobs.StateStopped:
		return fmt.Sprintf("campaign %s is stopped: continue it with `labelreset resume %s%s`", c.ID, c.ID, ns)
	}
	return ""
}

// stallCheck notices a running campaign whose finished count has not
// grown for a while and asks Redis whether any worker is alive to take
// its batches.
type stallCheck struct {
	store     *jobs.Store
	after     time.Duration
	done      int64
	since     time.Time // when done last grew (or the watch began)
	lastCheck time.Time
	warned    bool // for this stall
}

// stallEvery spaces the worker look-ups of a stalled campaign.
const stallEvery = 5 * time.Second

func newStallCheck(store *jobs.Store, after time.Duration, now time.Time) *stallCheck {
	return &stallCheck{store: store, after: after, done: -1, since: now}
}

// check returns a warning for c at now, once per stall: progress (the
// finished count, or a count of the snapshot's pages) has not changed for
// s.after.
func (s *stallCheck) check(c *jobs.Campaign, progress int64, now time.Time) string {
	if s.after <= 0 {
		return ""
	}
	if progress != s.done || c.State != jobs.StateRunning || c.Total-c.Finished() <= 0 {
		s.done, s.since, s.warned = progress, now, false
		return ""
	}
	quiet := now.Sub(s.since)
	if s.warned || quiet < s.after || now.Sub(s.lastCheck) < stallEvery {
		return ""
	}
	s.lastCheck = now
	n, err := s.store.Workers()
	switch {
	case err != nil:
		return ""
	case n == 0:
		s.warned = true
		return fmt.Sprintf("no worker has taken a batch for %s — is `labelreset worker` running against this Redis (namespace %s)?",
			quiet.Round(time.Second), s.store.Namespace())
	}
	s.warned = true
	if progress < 0 {
		return fmt.Sprintf("the snapshot has not listed a page for %s although %d worker(s) serve namespace %s: a worker takes only campaigns of its own API server (this one: %s); see the workers' logs",
			quiet.Round(time.Second), n, s.store.Namespace(), orDash(c.Server))
	}
	return fmt.Sprintf("no asset has finished for %s although %d worker(s) serve namespace %s: a worker takes only campaigns of its own API server (this one: %s); see the workers' logs",
		quiet.Round(time.Second), n, s.store.Namespace(), orDash(c.Server))
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

// snapshotWatch follows the snapshot phase of a watched campaign.
type snapshotWatch struct {
	complete bool  // seen complete (or the campaign takes none)
	pages    int64 // listing requests so far
	done     func(*jobs.Campaign, *jobs.SnapshotInfo) (string, error)
}

// check draws the snapshot's progress while it is being taken and
// reports whether it is; once it is complete it notes what it found and
// calls done, once.
func (s *snapshotWatch) check(ctx context.Context, store *jobs.Store, c *jobs.Campaign, p *progress) (taking bool, err error) {
	if s.complete || !c.Snapshot || c.Mode == jobs.ModeRestore {
		return false, nil
	}
	info, err := store.Snapshot(ctx, c)
	if err != nil {
		// Progress is a nicety: the counts still show.
		return false, nil
	}
	if !info.Complete {
		s.pages = info.Pages
		line := "snapshot: " + snapshotProgress(info)
		if info.ListingFailing != nil {
			line += "; " + listingFailing(info.ListingFailing)
		}
		p.updateLine(line + "  [" + string(c.State) + "]")
		return true, nil
	}
	s.complete = true
	p.note("snapshot complete: %d of %d assets with labels, %d without, %d not in the inventory; %s",
		info.WithLabels, c.Total, info.WithoutLabels, info.NotInInventory, snapshotCost(info))
	if s.done != nil {
		msg, err := s.done(c, info)
		if msg != "" {
			p.note("%s", msg)
		}
		return false, err
	}
	return false, nil
}
