package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
)

// campaignInfo is a process-local view of one campaign: its definition
// (immutable after creation: re-drives and appends change only counts and
// batches, which the worker does not read) and its state, refreshed by the
// control loop. The hot path reads the state with one atomic load per
// call; that is what lets pause take effect "within one request per worker
// slot" without a Redis round trip per asset.
//
// There is one campaignInfo per campaign in a process for as long as any
// batch runs with it: the batches in hand read the state from the object
// they were given, so the control loop, setLocal and fresh must all write
// to that same object. Replacing it (an earlier version reloaded it every
// 30s, and two batches starting together could each load one) left running
// batches on a copy nobody updated, calling on through pause, cancel and a
// 401.
//
// A campaignInfo belongs to one incarnation of a campaign (its
// def.Incarnation): a campaign created again under the same ID is another
// campaign, with its own mode, labels, team and policy. get hands it only
// to batches of its incarnation, and the control loop marks it gone as
// soon as Redis holds another incarnation.
type campaignInfo struct {
	def      *jobs.Campaign
	caller   Caller
	state    atomic.Value // jobs.State
	lastUsed atomic.Int64
	active   int // batches running with it; guarded by control.mu

	// mu orders the two kinds of state writes: changes this process makes
	// itself (setLocal, block) and states polled from Redis (setPolled).
	// A poll that read Redis before a local change, or while the change
	// was still being written there, carries the state from before it and
	// must not undo it: a stale "running" stored just after a 401 would
	// let every slot call PDCP again until the next poll, far beyond the
	// calls that were in flight when the 401 came.
	mu       sync.Mutex
	changes  uint64 // local changes so far
	writing  int    // local changes not yet written to Redis
	blocking bool   // blocked by this process and not seen unblocked in Redis since
}

func (ci *campaignInfo) State() jobs.State { return ci.state.Load().(jobs.State) }

// setLocal changes the state in this process at once; polls that read
// Redis before the change do not undo it.
func (ci *campaignInfo) setLocal(st jobs.State) {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	ci.changes++
	ci.state.Store(st)
}

// pollMark is taken by a poll before it reads the state from Redis, and
// handed to setPolled with what it read.
func (ci *campaignInfo) pollMark() uint64 {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	return ci.changes
}

// setPolled stores st, read from Redis by a poll that took mark before its
// read, unless a local change happened since or is still being written:
// then st may predate it, and the next poll reads the change itself.
func (ci *campaignInfo) setPolled(st jobs.State, mark uint64) {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	if ci.changes != mark || ci.writing > 0 {
		return
	}
	ci.state.Store(st)
	if st != jobs.StateBlocked {
		// Resumed (or the block was never recorded): the next 401
		// blocks the campaign again.
		ci.blocking = false
	}
}

// block marks the campaign blocked in this process at once. The first
// caller since the campaign was last seen unblocked gets record true and
// must record the block in Redis, then call done (whatever the result):
// until then no poll can bring "running" back. Later callers get false.
func (ci *campaignInfo) block() (record bool, done func()) {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	ci.changes++
	ci.state.Store(jobs.StateBlocked)
	if ci.blocking {
		return false, nil
	}
	ci.blocking = true
	ci.writing++
	return true, func() {
		ci.mu.Lock()
		defer ci.mu.Unlock()
		ci.writing--
		ci.changes++ // a poll that read during the write read the old state
	}
}

// control caches campaigns and keeps their states fresh.
type control struct {
	store    *jobs.Store
	rdb      redis.UniversalClient
	ns       string
	api      func(team string) Caller
	interval time.Duration
	log      *slog.Logger
	// legacyTeam is the team of campaigns stored without a recorded one
	// (Config.LegacyTeamID).
	legacyTeam string
	// gone is told of a campaign whose meta hash no longer exists.
	gone func(ci *campaignInfo)

	mu sync.Mutex
	m  map[string]*campaignInfo
}

// get returns the process's campaignInfo of incarnation inc of campaign
// id, loading it on first use, and counts a batch running with it until
// put. When Redis holds another incarnation (the batch's campaign was
// deleted, and perhaps created again) the error wraps
// jobs.ErrCampaignGone.
func (c *control) get(ctx context.Context, id, inc string) (*campaignInfo, error) {
	if ci := c.take(id, inc); ci != nil {
		return ci, nil
	}
	def, err := c.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if def.Incarnation != inc {
		return nil, fmt.Errorf("campaign %s: the batch belongs to an earlier campaign of that ID (deleted, then created again): %w",
			id, jobs.ErrCampaignGone)
	}
	if def.Policy.MaxAttempts == 0 {
		def.Policy = jobs.DefaultPolicy()
	}
	team := def.TeamID
	if team == "" && !def.TeamRecorded {
		team = c.legacyTeam // stored by a version that left the team to the workers
	}
	nci := &campaignInfo{def: def, caller: c.api(team)}
	nci.state.Store(def.State)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ci := c.m[id]; ci != nil {
		if ci.def.Incarnation == inc {
			// Another batch loaded it meanwhile: everyone uses that one.
			ci.active++
			ci.lastUsed.Store(time.Now().UnixNano())
			return ci, nil
		}
		// An earlier incarnation: Redis no longer holds it, so its
		// batches in hand stop calling, and the new one takes its place.
		ci.state.Store(stateGone)
	}
	nci.active = 1
	nci.lastUsed.Store(time.Now().UnixNano())
	c.m[id] = nci
	return nci, nil
}

func (c *control) take(id, inc string) *campaignInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := c.m[id]
	if ci != nil && ci.def.Incarnation != inc {
		return nil
	}
	if ci != nil {
		ci.active++
		ci.lastUsed.Store(time.Now().UnixNano())
	}
	return ci
}

// put ends a batch's use of ci.
func (c *control) put(ci *campaignInfo) {
	c.mu.Lock()
	ci.active--
	ci.lastUsed.Store(time.Now().UnixNano())
	c.mu.Unlock()
}

// run refreshes the state of campaigns in use or recently used every
// interval with one pipelined round trip, and forgets campaigns no batch
// has used for a minute.
func (c *control) run(ctx context.Context) {
	every(ctx, c.interval, c.refresh)
}

func (c *control) refresh(ctx context.Context) {
	c.mu.Lock()
	ids := make([]string, 0, len(c.m))
	infos := make([]*campaignInfo, 0, len(c.m))
	cutoff := time.Now().Add(-time.Minute).UnixNano()
	for id, ci := range c.m {
		if ci.active == 0 && ci.lastUsed.Load() < cutoff {
			delete(c.m, id)
			continue
		}
		ids = append(ids, id)
		infos = append(infos, ci)
	}
	c.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	marks := make([]uint64, len(infos))
	for i, ci := range infos {
		marks[i] = ci.pollMark()
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	_, _ = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, jobs.MetaKey(c.ns, id), stateFields...)
		}
		return nil
	})
	for i, cmd := range cmds {
		c.apply(infos[i], cmd, marks[i]) // on a Redis error, keep the last known state: retried next tick
	}
}

// stateFields are the meta hash fields the control loop reads: the state,
// then jobs.IncarnationFields.
var stateFields = append([]string{"state"}, jobs.IncarnationFields...)

// apply stores the state read by an HMGET of stateFields in ci, or marks
// ci gone when its campaign no longer exists, is being deleted, or is
// another incarnation. On a Redis error ci keeps its last known state.
func (c *control) apply(ci *campaignInfo, cmd *redis.SliceCmd, mark uint64) {
	vals, err := cmd.Result()
	if err != nil {
		return
	}
	st, _ := vals[0].(string)
	if st == "" || !ci.def.SameIncarnation(vals[1:]) {
		c.gone(ci)
		return
	}
	ci.setPolled(jobs.State(st), mark)
}

// lookup returns the cached campaignInfo of incarnation inc of id, or
// nil. inc is an incarnation ID, or a jobs.Campaign.LedgerIdentity (the
// writer's), which also names one creation of a legacy campaign.
func (c *control) lookup(id, inc string) *campaignInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ci := c.m[id]; ci != nil && (ci.def.Incarnation == inc || ci.def.LedgerIdentity() == inc) {
		return ci
	}
	return nil
}

// forget drops ci from the cache (batches in hand keep their pointer): the
// next batch of its ID loads the campaign afresh, e.g. one re-created
// after its data was lost.
func (c *control) forget(ci *campaignInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[ci.def.ID] == ci {
		delete(c.m, ci.def.ID)
	}
}

// setLocal changes the state of incarnation inc of a campaign in this
// process at once (the control loop confirms it from Redis on its next
// tick; polls that read Redis before the change do not undo it).
func (c *control) setLocal(id, inc string, st jobs.State) {
	if ci := c.lookup(id, inc); ci != nil {
		ci.setLocal(st)
	}
}

// fresh re-reads a campaign's state from Redis. The handler uses it before
// acting on a cached state other than running: a re-drive or a resume may
// have changed it since the last poll, and a stale "done" would drop a
// batch.
func (c *control) fresh(ctx context.Context, ci *campaignInfo) jobs.State {
	mark := ci.pollMark() // before the read: see setPolled
	c.apply(ci, c.rdb.HMGet(ctx, jobs.MetaKey(c.ns, ci.def.ID), stateFields...), mark)
	return ci.State()
}
