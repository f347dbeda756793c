package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// State is a limiter's shared state as another process reads it (the web
// console), without taking a token.
type State struct {
	// Rate is the configured rate (requests/s; 0 = unlimited) and
	// EffectiveRate what the limiter grants now: lower than Rate while
	// AIMD climbs back after a 429.
	Rate          float64
	EffectiveRate float64
	// PausedUntil is the end of the shared pause (PDCP's Retry-After) on
	// this process's clock, zero when there is none.
	PausedUntil time.Time
}

// stateScript reads the AIMD hash and the pause on the Redis clock, so a
// reader with a skewed clock still sees how long the pause lasts.
//
//	KEYS: 1 pause-until, 2 AIMD hash
//	ARGV: rate, inc/s, min rate
//	returns {effective rate in milli-requests/s, remaining pause µs}
var stateScript = redis.NewScript(luaPrelude + `
local rate = tonumber(ARGV[1])
local eff = rate
if rate > 0 then eff = aimd_rate(KEYS[2], rate, tonumber(ARGV[2]), tonumber(ARGV[3])) end
local pause = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = 0
if pause > now then left = math.ceil(pause - now) end
return {math.floor(eff * 1000), left}
`)

// ReadState reads the shared state of the limiter that cfg describes
// (cfg.Key, and the Rate, IncreasePerSecond and MinRate its workers use:
// the configured rate is a flag of each worker, never stored in Redis, so
// the reader must be told it). It writes nothing and takes no token: a
// page that shows the limiter costs its budget nothing.
func ReadState(ctx context.Context, rdb Redis, cfg Config) (State, error) {
	if rdb == nil {
		return State{}, fmt.Errorf("%w: Redis client is nil", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return State{}, err
	}
	k := newKeys(cfg.Key)
	start := time.Now()
	v, err := stateScript.Run(ctx, rdb, []string{k.pause, k.aimd},
		fmtFloat(cfg.Rate), fmtFloat(cfg.IncreasePerSecond), fmtFloat(cfg.MinRate)).Int64Slice()
	if err != nil {
		return State{}, fmt.Errorf("ratelimit: read the state of %q: %w", cfg.Key, err)
	}
	if len(v) != 2 {
		return State{}, fmt.Errorf("ratelimit: state script returned %d values, want 2", len(v))
	}
	st := State{Rate: cfg.Rate, EffectiveRate: float64(v[0]) / 1000}
	if v[1] > 0 {
		st.PausedUntil = start.Add(time.Duration(v[1]) * time.Microsecond)
	}
	return st, nil
}
