package schedule

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
)

// Redis keys of a schedule (slug = Slug(name), which never holds ':'):
//
//	<ns>:sched:<slug>             hash: last_fire (Unix s), last_campaign, last_error, last_result, replica;
//	                              prev_fire, prev_campaign, prev_created (ms; "" while being created, "-" when
//	                              the firing ended without creating it), prev_owner, prev_marked (ms, when the
//	                              firing named it): the last campaign it created (or is creating)
//	<ns>:sched:<slug>:<fireUnix>  string: the replica that claimed the fire time; expires after 24h
//
// Both are built by jobs.ScheduleKey and jobs.ScheduleClaimKey.

// recordScript stores the outcome of a firing unless a later fire time
// was recorded already (firings of one schedule may finish out of order),
// and, when the firing created a campaign, the identity of that campaign
// as the schedule's previous one under the same rule. A firing that
// created nothing ends the creation lease of the campaign it named
// (prev_created "-"), so the next fire time need not wait for the lease.
// KEYS state hash. ARGV fire time, campaign, error, result, replica,
// created (Unix ms; "" when no campaign was created), owner.
var recordScript = redis.NewScript(`
local t = tonumber(ARGV[1])
local pf = tonumber(redis.call('HGET', KEYS[1], 'prev_fire') or '-1')
if ARGV[6] ~= '' and t >= pf then
  redis.call('HSET', KEYS[1], 'prev_fire', ARGV[1], 'prev_campaign', ARGV[2], 'prev_created', ARGV[6], 'prev_owner', ARGV[7])
elseif ARGV[6] == '' and t == pf and redis.call('HGET', KEYS[1], 'prev_created') == '' then
  redis.call('HSET', KEYS[1], 'prev_created', '-')
end
local cur = tonumber(redis.call('HGET', KEYS[1], 'last_fire') or '-1')
if t < cur then return 0 end
redis.call('HSET', KEYS[1], 'last_fire', ARGV[1], 'last_campaign', ARGV[2], 'last_error', ARGV[3],
  'last_result', ARGV[4], 'replica', ARGV[5])
return 1
`)

// markScript names the campaign a firing is about to create as the
// schedule's previous one, before its creation time is known, with the
// time it did so (the start of its creation lease), unless a later fire
// time did so already.
// KEYS state hash. ARGV fire time, campaign, owner, marked (Unix ms).
var markScript = redis.NewScript(`
if tonumber(ARGV[1]) < tonumber(redis.call('HGET', KEYS[1], 'prev_fire') or '-1') then return 0 end
redis.call('HSET', KEYS[1], 'prev_fire', ARGV[1], 'prev_campaign', ARGV[2], 'prev_created', '', 'prev_owner', ARGV[3],
  'prev_marked', ARGV[4])
return 1
`)

// markPrevious runs markScript for the campaign id of fire time at.
func (s *Scheduler) markPrevious(ctx context.Context, sc *Schedule, at time.Time, id string) error {
	if err := markScript.Run(ctx, s.rdb, []string{jobs.ScheduleKey(s.ns, sc.slug)}, at.Unix(), id, sc.owner(), s.now().UnixMilli()).Err(); err != nil {
		return fmt.Errorf("record campaign %s as the previous one: %w", id, err)
	}
	return nil
}

// record stores a firing's outcome for List, and the campaign c it
// created (nil if none) for previous. It runs even when ctx was cancelled
// during the firing.
func (s *Scheduler) record(ctx context.Context, sc *Schedule, at time.Time, c *jobs.Campaign, result string, ferr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	msg := ""
	if ferr != nil {
		msg = ferr.Error()
		if len(msg) > 1024 {
			msg = msg[:1024] + "…"
		}
	}
	campaign, created, owner := "", "", ""
	if c != nil {
		campaign, created, owner = c.ID, strconv.FormatInt(c.CreatedAt.UnixMilli(), 10), c.Owner
	}
	return recordScript.Run(ctx, s.rdb, []string{jobs.ScheduleKey(s.ns, sc.slug)},
		at.Unix(), campaign, msg, result, s.replica, created, owner).Err()
}

// previous returns the campaign the schedule created last, as recorded in
// Redis (so that it survives restarts and is shared by replicas), or nil
// when there is none any more: never recorded, deleted (retention, an
// operator), or its ID now names another campaign (created again, by
// anyone, with another creation time or owner). It also returns nil when
// that campaign is current's, the campaign of the fire time being handled
// (a repeated firing, which Submit recognises). A Redis error is an error,
// never "none".
//
// A campaign named but not in the store is not "deleted" while the firing
// that named it may still be creating it (another replica, listing
// slowly): unless that firing recorded its end, it is being created for
// the creation lease after it was named, and previous returns a
// *PreviousOpenError with Creating set. Past the lease the firing is
// taken for dead.
func (s *Scheduler) previous(ctx context.Context, sc *Schedule, current string) (*jobs.Campaign, *PreviousOpenError, error) {
	m, err := s.rdb.HMGet(ctx, jobs.ScheduleKey(s.ns, sc.slug), "prev_campaign", "prev_created", "prev_owner", "prev_marked").Result()
	if err != nil {
		return nil, nil, fmt.Errorf("load previous campaign: %w", err)
	}
	id, _ := m[0].(string)
	createdS, _ := m[1].(string)
	owner, _ := m[2].(string)
	markedS, _ := m[3].(string)
	if id == "" || id == current {
		return nil, nil, nil
	}
	c, err := s.store.Get(ctx, id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		marked, perr := strconv.ParseInt(markedS, 10, 64)
		if createdS == "" && perr == nil {
			if since := time.UnixMilli(marked); s.now().Sub(since) < s.lease {
				return nil, &PreviousOpenError{Schedule: sc.Name, Campaign: id, Creating: true, Since: since}, nil
			}
			s.log.Warn("schedule: the firing that named its previous campaign did not create it within the creation lease; taking it for abandoned",
				"schedule", sc.Name, "campaign", id, "lease", s.lease)
		}
		return nil, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("load previous campaign %s: %w", id, err)
	}
	// No creation time: the firing that named it ended before recording
	// it (crash, Redis error), or is still recording it; the owner still
	// ties it to the schedule.
	created, perr := strconv.ParseInt(createdS, 10, 64)
	if c.Owner != owner || createdS != "" && createdS != "-" && (perr != nil || c.CreatedAt.UnixMilli() != created) {
		s.log.Info("schedule: the campaign recorded as its previous one was replaced by another campaign with that ID; not waiting for it",
			"schedule", sc.Name, "campaign", id)
		return nil, nil, nil
	}
	return c, nil, nil
}

// reasonScript sets the reason of a campaign that is still pending (an
// operator may have approved it already).
var reasonScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') == 'pending' then redis.call('HSET', KEYS[1], 'reason', ARGV[1]) end
return 0
`)

// setReason writes the reason field of the campaign's meta hash, whose key
// layout is documented in package jobs. (SubmitOptions has no reason.)
func (s *Scheduler) setReason(ctx context.Context, id, reason string) error {
	return reasonScript.Run(ctx, s.rdb, []string{jobs.MetaKey(s.ns, id)}, reason).Err()
}

// loadGauges sets the last-fire gauges from Redis, so that a restarted
// scheduler reports the real age of the last firing. Best effort.
func (s *Scheduler) loadGauges(ctx context.Context) {
	for _, sc := range s.schedules {
		v, err := s.rdb.HGet(ctx, jobs.ScheduleKey(s.ns, sc.slug), "last_fire").Int64()
		if err == nil && v > 0 {
			s.metrics.lastFire.WithLabelValues(sc.Name).Set(float64(v))
		}
	}
}

// Status is what `labelreset schedules` shows of one schedule.
type Status struct {
	Name     string `json:"name"`
	Cron     string `json:"cron"`
	Timezone string `json:"timezone"`
	// Next is the next fire time after now, in the schedule's zone; zero
	// if it never fires again.
	Next time.Time `json:"next,omitzero"`
	// LastFire is the last fire time any replica recorded (UTC), zero if
	// none; LastCampaign the campaign it created ("" if none), LastError
	// its error ("" on success), LastResult one of the Result* values.
	LastFire     time.Time `json:"last_fire,omitzero"`
	LastCampaign string    `json:"last_campaign,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	LastResult   string    `json:"last_result,omitempty"`
}

// List returns the status of every schedule of cfg, in file order: the
// next fire time after now and what the last firing recorded in store's
// Redis.
func List(ctx context.Context, store *jobs.Store, cfg *Config, now time.Time) ([]Status, error) {
	if store == nil || cfg == nil {
		return nil, errors.New("schedule: List needs a store and a config")
	}
	rdb := store.Redis()
	out := make([]Status, 0, len(cfg.Schedules))
	for i := range cfg.Schedules {
		sc := cfg.Schedules[i]
		if sc.next == nil {
			if err := sc.validate(); err != nil {
				return nil, err
			}
		}
		st := Status{Name: sc.Name, Cron: sc.Cron, Timezone: sc.Timezone, Next: sc.nextAfter(now)}
		m, err := rdb.HGetAll(ctx, jobs.ScheduleKey(store.Namespace(), sc.slug)).Result()
		if err != nil {
			return nil, fmt.Errorf("schedule %q: load state: %w", sc.Name, err)
		}
		if v, err := strconv.ParseInt(m["last_fire"], 10, 64); err == nil && v > 0 {
			st.LastFire = time.Unix(v, 0).UTC()
		}
		st.LastCampaign, st.LastError, st.LastResult = m["last_campaign"], m["last_error"], m["last_result"]
		out = append(out, st)
	}
	return out, nil
}
