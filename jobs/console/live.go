package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// heartbeat is how often an idle stream sends a comment line, so that
// proxies and browsers keep a quiet connection open.
const heartbeat = 15 * time.Second

// hub reads each watched campaign once per Config.PollInterval and fans
// the result out to every stream watching it: fifty people watching a
// campaign cost Redis what one does. A campaign's poller starts with its
// first stream and stops when its last stream leaves; every poller is
// started under the hub's WaitGroup, which run waits for once its ctx
// ends (after which no stream starts and every open one ends).
type hub struct {
	c *Console
	// base is cancelled when run's ctx ends: pollers and streams stop.
	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	streams int
	// perToken counts the open streams of each token (Identity.Name).
	perToken map[string]int
	watched  map[string]*watch
}

// watch is one watched campaign: its poller and its subscribers.
type watch struct {
	id     string
	cancel context.CancelFunc
	subs   map[*subscriber]struct{}
	// last is the newest event, sent at once to a stream that joins.
	last *event
}

// subscriber is one stream. ch holds the newest event not yet written: a
// slow stream skips events rather than holding up the others.
type subscriber struct {
	ch    chan *event
	token string
}

// event is one "progress" message; final marks a campaign that will not
// change any more (done, cancelled, or gone). team and inc are the
// campaign's team and incarnation (Campaign.LedgerIdentity) it was read
// from: a watch is keyed by campaign ID, which a campaign deleted and
// created again by another team shares, so every stream checks them
// before it writes an event.
type event struct {
	name      string
	data      []byte
	final     bool
	team, inc string
}

func newHub(c *Console) *hub {
	base, cancel := context.WithCancel(context.Background())
	return &hub{c: c, base: base, cancel: cancel, watched: map[string]*watch{}, perToken: map[string]int{}}
}

// run waits for ctx, then ends every stream and poller and returns once
// the pollers have.
func (h *hub) run(ctx context.Context) {
	<-ctx.Done()
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// goneEvent ends the streams of a campaign that is gone.
var goneEvent = &event{name: "gone", data: []byte(`{"state":"gone"}`), final: true}

var errTooManyStreams = errors.New("too many live streams")

// subscribe adds a stream of incarnation inc of campaign id to the
// campaign's watch, starting its poller when it is the first. The newest
// event goes to the stream at once if it is of that incarnation (an older
// one is of another campaign; the next poll brings the stream its own).
func (h *hub) subscribe(id, inc, token string) (*watch, *subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.base.Err() != nil {
		return nil, nil, context.Canceled
	}
	if h.streams >= h.c.cfg.MaxStreams || h.perToken[token] >= h.c.cfg.MaxStreamsPerToken {
		return nil, nil, errTooManyStreams
	}
	w := h.watched[id]
	if w == nil {
		ctx, cancel := context.WithCancel(h.base)
		w = &watch{id: id, cancel: cancel, subs: map[*subscriber]struct{}{}}
		h.watched[id] = w
		h.wg.Go(func() { h.poll(ctx, w) })
	}
	s := &subscriber{ch: make(chan *event, 1), token: token}
	w.subs[s] = struct{}{}
	h.streams++
	h.perToken[token]++
	if w.last != nil && (w.last.name == "gone" || w.last.inc == inc) {
		s.ch <- w.last
	}
	return w, s, nil
}

// unsubscribe removes a stream; the last one out stops the poller.
func (h *hub) unsubscribe(w *watch, s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(w.subs, s)
	h.streams--
	if h.perToken[s.token]--; h.perToken[s.token] <= 0 {
		delete(h.perToken, s.token)
	}
	if len(w.subs) == 0 {
		w.cancel()
		if h.watched[w.id] == w {
			delete(h.watched, w.id)
		}
	}
}

// publish hands ev to every subscriber of w, replacing an event a slow
// stream has not written yet.
func (h *hub) publish(w *watch, ev *event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.last = ev
	if ev.final && h.watched[w.id] == w {
		// Streams that join from now on start a watch of their own,
		// which reads the final state once and ends.
		delete(h.watched, w.id)
	}
	for s := range w.subs {
		select {
		case <-s.ch:
		default:
		}
		s.ch <- ev
	}
}

// poll reads campaign w.id at once and then every PollInterval until ctx
// ends or the campaign is final.
func (h *hub) poll(ctx context.Context, w *watch) {
	defer w.cancel()
	t := time.NewTicker(h.c.cfg.PollInterval)
	defer t.Stop()
	var snap *jobs.SnapshotInfo
	var x *jobs.ExpressInfo
	var inc string
	for {
		ev := h.read(ctx, w.id, &inc, &snap, &x)
		if ev != nil {
			h.publish(w, ev)
			if ev.final {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// progress is the data of a "progress" event (the console contract).
type progress struct {
	State      jobs.State         `json:"state"`
	Reason     string             `json:"reason,omitempty"`
	Total      int64              `json:"total"`
	Finished   int64              `json:"finished"`
	Counts     map[string]int64   `json:"counts"`
	Rate       float64            `json:"rate"`
	ETASeconds float64            `json:"eta_seconds"`
	Limiter    *LimiterState      `json:"limiter"`
	Snapshot   *jobs.SnapshotInfo `json:"snapshot"`
	// Express is an express campaign's bulk call: a new state reloads the
	// page (its Express panel says what the state means).
	Express *jobs.ExpressInfo `json:"express,omitempty"`
}

// read reads the campaign (one HGETALL), its snapshot while that is not
// complete, an express campaign's bulk call until it is final (one
// HMGET), and the limiter, and returns the event; nil when Redis did not
// answer (the next tick tries again). *inc is the incarnation *snap and
// *x were read for: a campaign created again under the ID has a snapshot
// and an express state of its own.
func (h *hub) read(ctx context.Context, id string, inc *string, snap **jobs.SnapshotInfo, x **jobs.ExpressInfo) *event {
	c := h.c
	cp, err := c.store.Get(ctx, id)
	if errors.Is(err, jobs.ErrNotFound) {
		return goneEvent
	}
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("console live: campaign not readable", "campaign", id, "err", err)
		}
		return nil
	}
	if li := cp.LedgerIdentity(); li != *inc {
		*inc, *snap, *x = li, nil, nil
	}
	v := c.view(cp)
	p := progress{State: cp.State, Reason: cp.Reason, Total: cp.Total, Finished: v.Finished,
		Counts: make(map[string]int64, len(v.Outcomes)), Rate: v.Rate, ETASeconds: v.ETA.Seconds()}
	for _, o := range v.Outcomes {
		p.Counts[o.Outcome] = o.Count
	}
	if cp.Snapshot {
		if s := *snap; s == nil || !s.Complete || s.Segments != cp.Segments {
			info, err := c.store.Snapshot(ctx, cp)
			if err != nil {
				c.log.Warn("console live: snapshot not readable", "campaign", id, "err", err)
			} else {
				*snap = info
			}
		}
		p.Snapshot = *snap
	}
	if cp.Express {
		if e := *x; e == nil || !e.State.Final() {
			info, err := c.store.Express(ctx, cp)
			if err != nil {
				c.log.Warn("console live: express state not readable", "campaign", id, "err", err)
			} else {
				*x = info
			}
		}
		p.Express = *x
	}
	if !cp.State.Final() {
		p.Limiter = c.limiter(ctx, cp)
	}
	b, err := json.Marshal(p)
	if err != nil {
		c.log.Error("console live: encode", "campaign", id, "err", err)
		return nil
	}
	return &event{name: "progress", data: b, final: cp.State.Final(), team: cp.TeamID, inc: cp.LedgerIdentity()}
}

// live streams a campaign's progress as server-sent events: one
// "progress" event per poll of the hub, a comment line every heartbeat,
// and the end of the stream after the event of a final state, when the
// console stops, or when the campaign is gone ("gone": also when it was
// created again under its ID, which makes it another campaign).
//
// A stream lasts as long as its campaign runs, so it is held to its
// session as every page is: each event is written only while the
// session's token is in force and its teams include the campaign's (an
// in-memory check), and the session itself is read again every
// sessionCheck (one Redis read per stream, far apart); a stream whose
// session ended just ends.
func (c *Console) live(w http.ResponseWriter, r *http.Request, id *Identity) {
	cp, err := c.visible(r.Context(), id, r.PathValue("id"))
	if err != nil {
		c.campaignError(w, r, id, err)
		return
	}
	inc := cp.LedgerIdentity()
	wt, sub, err := c.hub.subscribe(r.PathValue("id"), inc, id.Name)
	if err != nil {
		msg := "The console is stopping; reload the page shortly."
		if errors.Is(err, errTooManyStreams) {
			msg = "Too many live views are open; the page works without one, reload it to see new counts."
		}
		w.Header().Set("Retry-After", "10")
		c.renderError(w, r, id, http.StatusServiceUnavailable, msg)
		return
	}
	defer c.hub.unsubscribe(wt, sub)
	rc := http.NewResponseController(w)
	// The server's WriteTimeout would cut the stream, which lasts as long
	// as the campaign runs: each write gets a deadline of its own instead,
	// so that a client that stopped reading is dropped (and frees its slot
	// of MaxStreams) rather than held for good.
	extend := func() bool {
		err := rc.SetWriteDeadline(time.Now().Add(c.streamWriteTimeout()))
		return err == nil || errors.Is(err, http.ErrNotSupported)
	}
	if !extend() {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 5000\n\n")
	if rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	check := time.NewTicker(c.sessionCheck())
	defer check.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.hub.base.Done():
			return
		case <-beat.C:
			if !extend() {
				return
			}
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-check.C:
			if !c.sessionLasts(r, id) {
				return
			}
		case ev := <-sub.ch:
			if ev.name != "gone" && ev.inc != inc {
				// Deleted and created again since the page was served:
				// another campaign, whoever's it is.
				ev = goneEvent
			}
			if ev.name != "gone" {
				cur, ok := c.backend.Lookup(id.Ref)
				if !ok || !cur.AllowsTeam(ev.team) {
					return
				}
			}
			if !extend() {
				return
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data)
			if ev.final {
				rc.Flush()
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// streamWriteTimeout bounds each write of a live stream: ten poll
// intervals, at least 5s, at most a heartbeat (a client that took no byte
// for that long stopped reading).
func (c *Console) streamWriteTimeout() time.Duration {
	return min(max(10*c.cfg.PollInterval, 5*time.Second), heartbeat)
}

// sessionCheck is how often a stream reads its session again: ten poll
// intervals, at most a heartbeat, so that fifty streams cost Redis a few
// reads a second at most beside their campaign's one.
func (c *Console) sessionCheck() time.Duration {
	return min(10*c.cfg.PollInterval, heartbeat)
}

// sessionLasts reports whether r's session still exists for id's token
// (not signed out, not expired); always true without authentication.
func (c *Console) sessionLasts(r *http.Request, id *Identity) bool {
	if c.cfg.NoAuth {
		return true
	}
	ref, err := c.sessions.ref(r.Context(), sessionCookie(r))
	if err != nil {
		// Redis not answering now is not a sign-out: the next check
		// decides.
		return r.Context().Err() == nil
	}
	return ref != "" && ref == id.Ref
}
