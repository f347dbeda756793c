package worker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
)

// campaignInfo is a process-local view of one campaign: its definition
// (immutable after creation) and its state, refreshed by the control loop.
// The hot path reads the state with one atomic load per call; that is what
// lets pause take effect "within one request per worker slot" without a
// Redis round trip per asset.
type campaignInfo struct {
	def      *jobs.Campaign
	caller   Caller
	state    atomic.Value // jobs.State
	lastUsed atomic.Int64
	loaded   time.Time
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

	mu sync.Mutex
	m  map[string]*campaignInfo
}

// defTTL is how long a campaign definition is trusted before it is
// reloaded (it only changes through re-drives, which add no fields the
// worker reads, and appends).
const defTTL = 30 * time.Second

func (c *control) get(ctx context.Context, id string) (*campaignInfo, error) {
	c.mu.Lock()
	ci := c.m[id]
	c.mu.Unlock()
	if ci != nil && time.Since(ci.loaded) < defTTL {
		ci.lastUsed.Store(time.Now().UnixNano())
		return ci, nil
	}
	def, err := c.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if def.Policy.MaxAttempts == 0 {
		def.Policy = jobs.DefaultPolicy()
	}
	nci := &campaignInfo{def: def, caller: c.api(def.TeamID), loaded: time.Now()}
	nci.state.Store(def.State)
	nci.lastUsed.Store(time.Now().UnixNano())
	c.mu.Lock()
	if ci != nil {
		// Keep the block flag so one process logs a block once.
		nci.blocked.Store(ci.blocked.Load())
	}
	c.m[id] = nci
	c.mu.Unlock()
	return nci, nil
}

// run refreshes the state of recently used campaigns every interval with
// one pipelined round trip, and forgets campaigns unused for a minute.
func (c *control) run(ctx context.Context) {
	every(ctx, c.interval, c.refresh)
}

func (c *control) refresh(ctx context.Context) {
	c.mu.Lock()
	ids := make([]string, 0, len(c.m))
	infos := make([]*campaignInfo, 0, len(c.m))
	cutoff := time.Now().Add(-time.Minute).UnixNano()
	for id, ci := range c.m {
		if ci.lastUsed.Load() < cutoff {
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
		if err != nil {
			continue // keep the last known state; Redis errors are retried next tick
		}
		infos[i].state.Store(jobs.State(st))
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
	if err == nil {
		ci.state.Store(jobs.State(st))
	}
	return ci.State()
}
