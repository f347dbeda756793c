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
//	<ns>:sched:<slug>             hash: last_fire (Unix s), last_campaign, last_error, last_result, replica
//	<ns>:sched:<slug>:<fireUnix>  string: the replica that claimed the fire time; expires after 24h
func stateKey(ns, slug string) string { return ns + ":sched:" + slug }

func (s *Scheduler) claimKey(sc *Schedule, at time.Time) string {
	return stateKey(s.ns, sc.slug) + ":" + strconv.FormatInt(at.Unix(), 10)
}

// recordScript stores the outcome of a firing unless a later fire time
// was recorded already (firings of one schedule may finish out of order).
// KEYS state hash. ARGV fire time, campaign, error, result, replica.
var recordScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'last_fire') or '-1')
if tonumber(ARGV[1]) < cur then return 0 end
redis.call('HSET', KEYS[1], 'last_fire', ARGV[1], 'last_campaign', ARGV[2], 'last_error', ARGV[3],
  'last_result', ARGV[4], 'replica', ARGV[5])
return 1
`)

// record stores a firing's outcome for List. It runs even when ctx was
// cancelled during the firing.
func (s *Scheduler) record(ctx context.Context, sc *Schedule, at time.Time, campaign, result string, ferr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	msg := ""
	if ferr != nil {
		msg = ferr.Error()
		if len(msg) > 1024 {
			msg = msg[:1024] + "…"
		}
	}
	return recordScript.Run(ctx, s.rdb, []string{stateKey(s.ns, sc.slug)},
		at.Unix(), campaign, msg, result, s.replica).Err()
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
	return reasonScript.Run(ctx, s.rdb, []string{s.ns + ":{" + id + "}:meta"}, reason).Err()
}

// loadGauges sets the last-fire gauges from Redis, so that a restarted
// scheduler reports the real age of the last firing. Best effort.
func (s *Scheduler) loadGauges(ctx context.Context) {
	for _, sc := range s.schedules {
		v, err := s.rdb.HGet(ctx, stateKey(s.ns, sc.slug), "last_fire").Int64()
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
		m, err := rdb.HGetAll(ctx, stateKey(store.Namespace(), sc.slug)).Result()
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
