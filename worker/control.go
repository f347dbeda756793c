package worker

import (
	"context"
	"errors"
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
type campaignInfo struct {
	def      *jobs.Campaign
	caller   Caller
	state    atomic.Value // jobs.State
	lastUsed atomic.Int64
	active   int         // batches running with it; guarded by control.mu
	blocked  atomic.Bool // this process already reported the block
}

func (ci *campaignInfo) State() jobs.State { return ci.state.Load().(jobs.State) }

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

// get returns the process's campaignInfo of campaign id, loading it on
// first use, and counts a batch running with it until put.
func (c *control) get(ctx context.Context, id string) (*campaignInfo, error) {
	if ci := c.take(id); ci != nil {
		return ci, nil
	}
	def, err := c.store.Get(ctx, id)
	if err != nil {
		return nil, err
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
		// Another batch loaded it meanwhile: everyone uses that one.
		ci.active++
		ci.lastUsed.Store(time.Now().UnixNano())
		return ci, nil
	}
	nci.active = 1
	nci.lastUsed.Store(time.Now().UnixNano())
	c.m[id] = nci
	return nci, nil
}

func (c *control) take(id string) *campaignInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := c.m[id]
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
	cmds := make([]*redis.StringCmd, len(ids))
	_, _ = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, c.ns+":{"+id+"}:meta", "state")
		}
		return nil
	})
	for i, cmd := range cmds {
		st, err := cmd.Result()
		if errors.Is(err, redis.Nil) {
			c.gone(infos[i])
			continue
		}
		if err != nil {
			continue // keep the last known state; Redis errors are retried next tick
		}
		infos[i].state.Store(jobs.State(st))
	}
}

// lookup returns the cached campaignInfo of id, or nil.
func (c *control) lookup(id string) *campaignInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
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

// setLocal changes a campaign's state in this process at once (the
// control loop confirms it from Redis on its next tick).
func (c *control) setLocal(id string, st jobs.State) {
	c.mu.Lock()
	ci := c.m[id]
	c.mu.Unlock()
	if ci != nil {
		ci.state.Store(st)
	}
}

// fresh re-reads a campaign's state from Redis. The handler uses it before
// acting on a cached state other than running: a re-drive or a resume may
// have changed it since the last poll, and a stale "done" would drop a
// batch.
func (c *control) fresh(ctx context.Context, ci *campaignInfo) jobs.State {
	st, err := c.rdb.HGet(ctx, c.ns+":{"+ci.def.ID+"}:meta", "state").Result()
	switch {
	case err == nil:
		ci.state.Store(jobs.State(st))
	case errors.Is(err, redis.Nil):
		c.gone(ci)
	}
	return ci.State()
}
