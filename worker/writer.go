package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/jobs"
)

// record is one outcome on its way to the ledger. done runs once the
// record is durable. For a final outcome it returns the worker's pending
// token (Worker.pending), so "finished but not yet recorded" assets never
// exceed twice the concurrency; with the calls in flight, that bounds how
// many calls a SIGKILL can make a successor repeat to three times the
// concurrency.
type record struct {
	campaign string
	inc      string // the campaign's creation (jobs.Campaign.LedgerIdentity)
	batch    int
	rec      jobs.Record
	done     func()
	// acks is the batch run waiting for this record (ProcessTask returns
	// only once its batch's outcomes are durable); nil for none.
	acks *acks
}

// acks counts a batch's records on their way to the ledger, so that its
// handler returns — and asynq deletes the task — only after every outcome
// of the batch is durable (written, and acknowledged by a replica when
// replicas are attached). Acknowledging first would leave a window in
// which a SIGKILL loses outcomes of a task that no longer exists: nothing
// would ever call those assets again.
type acks struct {
	wg sync.WaitGroup
	// lost: a record was not written (the writer stopped, or gave up on
	// an unreachable Redis at shutdown); the task must stay.
	lost atomic.Bool
}

// add counts one record about to be sent.
func (a *acks) add() { a.wg.Add(1) }

// ack settles one record; written says whether it is durable.
func (a *acks) ack(written bool) {
	if !written {
		a.lost.Store(true)
	}
	a.wg.Done()
}

// wait returns once every record counted is settled, and whether all of
// them were written.
func (a *acks) wait() bool {
	a.wg.Wait()
	return !a.lost.Load()
}

// writer group-commits ledger records: one script call per campaign
// carries every record that arrived within linger of the first (or
// flushAt records, whichever comes first). A script call costs Redis
// about as much as a dozen records in it, so at thousands of outcomes/s
// writing each as it comes would make Redis the second-largest CPU user
// of the pipeline. The wait costs no throughput: a call slot is free as
// soon as its call returns, and only the pending tokens (bounded by the
// concurrency) wait for the write.
type writer struct {
	ledger *jobs.Ledger
	in     chan record
	// full wakes run during its linger once flushAt records are queued.
	// run does not receive each record as it comes: at thousands of
	// outcomes per second that woke its goroutine once per record.
	full chan struct{}
	// quit asks run to write what is queued and return; exited closes
	// when it has; giveUp (done) makes a write that keeps failing (Redis
	// down at shutdown) stop retrying and cancels the one in flight, so a
	// stop is bounded.
	quit, exited chan struct{}
	giveUp       context.Context
	giveUpNow    context.CancelFunc
	// abandoned counts final outcomes given up on at the stop.
	abandoned atomic.Int64
	maxBatch  int
	linger    time.Duration // how long a first record waits for company
	flushAt   int           // write at once when this many are queued
	// replicas is the master's replica count (watchReplicas); with
	// replicas every flush waits for one to acknowledge it, at most
	// waitTimeout (never 0: WAIT 1 0 blocks forever).
	replicas    atomic.Int32
	waitTimeout time.Duration
	// recount, when set, refreshes replicas after a WAIT went
	// unacknowledged: after a failover the new master may have no replica
	// yet, and every flush would wait its whole timeout until the next
	// periodic count.
	recount  func(context.Context)
	log      *slog.Logger
	onChange func(campaign, inc string, ch jobs.Change)
	// onGone is told of a campaign incarnation whose data is gone (its
	// outcomes are dropped).
	onGone  func(campaign, inc string)
	metrics *Metrics
}

func newWriter(l *jobs.Ledger, capacity int, log *slog.Logger, m *Metrics,
	onChange func(string, string, jobs.Change), onGone func(string, string)) *writer {
	const maxBatch = 1024
	giveUp, giveUpNow := context.WithCancel(context.Background())
	return &writer{
		ledger: l, in: make(chan record, capacity), full: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{}),
		giveUp: giveUp, giveUpNow: giveUpNow, maxBatch: maxBatch, log: log, onChange: onChange, onGone: onGone, metrics: m,
		// Flush before the pending tokens run out (callers would block),
		// and never hold an outcome more than a few milliseconds.
		linger: 5 * time.Millisecond, flushAt: min(max(capacity*3/4, 1), maxBatch),
		waitTimeout: 2 * time.Second,
	}
}

// send queues a record. After the writer has stopped (a handler that
// outlived the shutdown timeout) the record is dropped with a warning
// instead of blocking forever: its asset has no outcome yet and is called
// again by the next worker, like any call in flight at a crash.
func (w *writer) send(r record) {
	// Checked first: with room in the channel a select could still pick
	// the send after the writer exited, and nobody would ever read it.
	select {
	case <-w.exited:
		w.dropLate(r)
		return
	default:
	}
	select {
	case w.in <- r:
	case <-w.exited:
		w.dropLate(r)
		return
	}
	if len(w.in)+1 >= w.flushAt { // +1: the record run holds while it waits
		select {
		case w.full <- struct{}{}:
		default:
		}
	}
}

// hurry ends the current linger: a handler is waiting for its batch's
// last records, and the few more a linger would collect are not worth
// keeping its batch slot (and the next batch) waiting for.
func (w *writer) hurry() {
	select {
	case w.full <- struct{}{}:
	default:
	}
}

func (w *writer) dropLate(r record) {
	w.log.Warn("outcome arrived after the worker stopped; the asset will be processed again",
		"campaign", r.campaign, "asset", r.rec.AssetID)
	r.settle(false)
}

// settle returns r's pending token and tells the batch waiting for it
// whether it was written.
func (r *record) settle(written bool) {
	if r.done != nil {
		r.done()
	}
	if r.acks != nil {
		r.acks.ack(written)
	}
}

// stop writes everything queued and returns when the writer has exited; a
// write still failing (or still waiting for Redis) after timeout is
// abandoned. It returns how many final outcomes were not written.
func (w *writer) stop(timeout time.Duration) int64 {
	close(w.quit)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
		w.giveUpNow()
		<-w.exited
	}
	w.giveUpNow()
	return w.abandoned.Load()
}

// run writes until stop. Write errors are retried (with backoff) until
// they succeed or stop gives up: while Redis is down the slots stay taken,
// which stops new PDCP calls.
func (w *writer) run() {
	defer close(w.exited)
	buf := make([]record, 0, w.maxBatch)
	for {
		var first record
		select {
		case first = <-w.in:
		case <-w.quit:
			w.drain(buf)
			return
		}
		// Wait for company: until flushAt records are queued or linger
		// has passed, then take everything queued. A signal left from the
		// previous round (sent while it was writing) is stale; one sent
		// after the check below wakes the wait.
		select {
		case <-w.full:
		default:
		}
		if len(w.in)+1 < w.flushAt {
			t := time.NewTimer(w.linger)
			select {
			case <-t.C:
			case <-w.full:
			case <-w.quit:
			}
			t.Stop()
		}
		buf = w.queued(append(buf[:0], first))
		w.flush(buf)
	}
}

// drain writes whatever is still queued.
func (w *writer) drain(buf []record) {
	for {
		buf = w.queued(buf[:0])
		if len(buf) == 0 {
			return
		}
		w.flush(buf)
	}
}

// queued appends the records waiting in the channel, up to maxBatch,
// without blocking.
func (w *writer) queued(buf []record) []record {
	for len(buf) < w.maxBatch {
		select {
		case r := <-w.in:
			buf = append(buf, r)
		default:
			return buf
		}
	}
	return buf
}

// writeRetry spaces the retries of a failed ledger write: soon after a
// blip, at most every 2s during an outage. No jitter: one writer per
// process retries, and the delay is logged as it will be waited.
var writeRetry = backoff.Policy{Base: 50 * time.Millisecond, Cap: 2 * time.Second}

// flush writes buf, one ledger write per campaign incarnation, and then
// settles every record: acknowledged unless its campaign's write was
// abandoned.
func (w *writer) flush(buf []record) {
	// With replicas, each write is followed by WAIT on its own connection
	// (RecordAndWait): WAIT covers only its connection's writes.
	replicated := w.replicas.Load() > 0
	var unacked error
	// lost: campaigns whose records were abandoned (Redis unreachable at
	// shutdown); their batches must not be acknowledged.
	var lost map[string]bool
	for _, g := range groupRecords(buf) {
		noAck, written := w.write(g, replicated)
		if noAck != nil {
			unacked = noAck
		}
		if !written {
			if lost == nil {
				lost = map[string]bool{}
			}
			lost[g.campaign] = true
		}
	}
	if unacked != nil {
		w.warnUnacked(unacked)
	}
	for i := range buf {
		r := &buf[i]
		written := !lost[r.campaign]
		if written && r.rec.Terminal() {
			w.metrics.outcome(r.rec.Outcome)
		}
		r.settle(written)
	}
}

// writeGroup is the records of one campaign incarnation in one flush, by
// batch.
type writeGroup struct {
	campaign, inc string
	batches       []jobs.BatchRecords
	index         map[int]int // batch → its position in batches
}

// groupRecords groups buf by campaign incarnation, then by batch,
// preserving order.
func groupRecords(buf []record) []*writeGroup {
	type incarnation struct{ campaign, inc string }
	var groups []*writeGroup
	byCampaign := map[incarnation]*writeGroup{}
	for _, r := range buf {
		k := incarnation{r.campaign, r.inc}
		g := byCampaign[k]
		if g == nil {
			g = &writeGroup{campaign: r.campaign, inc: r.inc, index: map[int]int{}}
			byCampaign[k] = g
			groups = append(groups, g)
		}
		i, ok := g.index[r.batch]
		if !ok {
			i = len(g.batches)
			g.index[r.batch] = i
			g.batches = append(g.batches, jobs.BatchRecords{Batch: r.batch})
		}
		g.batches[i].Records = append(g.batches[i].Records, r.rec)
	}
	return groups
}

// write records g, retrying with backoff until it succeeds, the campaign
// is gone, or stop gives up (written false: the records are abandoned).
// unacked is the error of a write that no replica acknowledged in time.
func (w *writer) write(g *writeGroup, replicated bool) (unacked error, written bool) {
	retries := backoff.New(writeRetry)
	for {
		ctx, cancel := context.WithTimeout(w.giveUp, w.waitTimeout+10*time.Second)
		var ch jobs.Change
		var err error
		if replicated {
			ch, err = w.ledger.RecordAndWait(ctx, g.campaign, g.inc, g.batches, time.Now(), 1, w.waitTimeout)
			if errors.Is(err, jobs.ErrNoReplicaAck) {
				unacked, err = err, nil // written; warned about by flush
			}
		} else {
			ch, err = w.ledger.RecordIncarnation(ctx, g.campaign, g.inc, g.batches, time.Now())
		}
		cancel()
		if err == nil {
			if ch != jobs.ChangeNone && w.onChange != nil {
				w.onChange(g.campaign, g.inc, ch)
			}
			return unacked, true
		}
		if isGone(err) {
			w.onGone(g.campaign, g.inc)
			return unacked, true
		}
		w.metrics.redisUp.Set(0)
		delay := retries.Next()
		w.log.Error("recording outcomes failed; retrying", "campaign", g.campaign, "err", err, "retry_in", delay)
		if backoff.Sleep(w.giveUp, delay) != nil {
			w.abandon(g)
			return unacked, false
		}
	}
}

// abandon counts and logs the outcomes of g that stop gives up on.
func (w *writer) abandon(g *writeGroup) {
	n := 0
	for _, b := range g.batches {
		for _, r := range b.Records {
			if r.Terminal() {
				n++
			}
		}
	}
	w.abandoned.Add(int64(n))
	w.log.Error("stopping without recording some outcomes (Redis unreachable); their assets will be processed again",
		"campaign", g.campaign, "outcomes", n)
}

// warnUnacked warns that the last outcomes may be lost in a failover and
// refreshes the replica count (recount), so that flushes stop waiting for
// replicas a new master may not have.
func (w *writer) warnUnacked(err error) {
	w.log.Warn("no replica acknowledged the last outcomes in time; a failover now could lose them",
		"wait", w.waitTimeout, "err", err)
	if w.recount != nil {
		ctx, cancel := context.WithTimeout(w.giveUp, 2*time.Second)
		w.recount(ctx)
		cancel()
	}
}
