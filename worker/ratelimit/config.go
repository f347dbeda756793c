package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrInvalidConfig is wrapped by every error New returns for a bad Config.
var ErrInvalidConfig = errors.New("ratelimit: invalid config")

// maxKeyLen bounds Config.Key: it is repeated in every Redis key name.
const maxKeyLen = 128

// Config describes one shared budget. Every process that must share the
// budget uses the same Key, Rate and Burst; zero values select the documented
// defaults.
type Config struct {
	// Key identifies the limiter, e.g. a hash of the PDCP API key (never
	// the key itself: it appears in Redis key names). Every Redis key is
	// "lr:rl:{<Key>}:..." so that one limiter lives in one Cluster slot.
	// Required; must not contain '{' or '}'.
	Key string

	// Rate is the number of requests per second shared by all processes.
	// 0 means unlimited: Wait makes no Redis round trip, but pauses set with
	// PauseUntil still apply.
	Rate float64

	// Burst is how many requests may be sent at once after an idle period,
	// less the grants of 30 ms held back for network jitter (see the
	// package doc): any 1-second window holds at most Rate + Burst
	// requests. Default max(1, Rate/10).
	Burst int

	// TeamRate is an optional per-team limit (X-Team-Id), applied in
	// addition to Rate when Wait is called with a non-empty team.
	// 0 means no per-team limit.
	TeamRate float64

	// TeamBurst is the burst of the per-team limit. Default
	// max(1, TeamRate/10).
	TeamBurst int

	// AIMD enables the adaptive rate: Throttled lowers the shared rate
	// multiplicatively, and it climbs back additively up to Rate.
	// Requires Rate > 0.
	AIMD bool

	// DecreaseFactor multiplies the effective rate on a throttling
	// decrease. Default 0.85; must be in (0, 1).
	DecreaseFactor float64

	// IncreasePerSecond is how many requests/s the effective rate regains
	// per second without throttling. Default Rate*0.02.
	IncreasePerSecond float64

	// MinRate is the floor of the effective rate. Default
	// max(1, Rate*0.05), capped at Rate.
	MinRate float64

	// MaxChunk is the most tokens one process takes from Redis in one round
	// trip. Default clamp(Rate/50, 1, 64) (TeamRate when Rate is 0).
	MaxChunk int

	// PollInterval is how often a process without a Redis round trip per
	// request (Rate 0) reads the shared pause. Default 100ms.
	PollInterval time.Duration
}

// withDefaults returns a copy of c with zero fields replaced by their
// documented defaults, or an error saying which field to fix.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Key == "":
		return bad("Key is empty: set it to a stable identity of the budget, e.g. a hash of the API key")
	case len(c.Key) > maxKeyLen:
		return bad("Key is %d bytes long: use at most %d (a hex hash of the API key fits)", len(c.Key), maxKeyLen)
	case strings.ContainsAny(c.Key, "{}"):
		return bad("Key %q contains '{' or '}': these delimit the Redis Cluster hash tag, remove them", c.Key)
	case !finiteNonNeg(c.Rate):
		return bad("Rate is %v: use requests/s >= 0 (0 = unlimited)", c.Rate)
	case c.Burst < 0:
		return bad("Burst is %d: use >= 0 (0 = default max(1, Rate/10))", c.Burst)
	case !finiteNonNeg(c.TeamRate):
		return bad("TeamRate is %v: use requests/s >= 0 (0 = no per-team limit)", c.TeamRate)
	case c.TeamBurst < 0:
		return bad("TeamBurst is %d: use >= 0 (0 = default max(1, TeamRate/10))", c.TeamBurst)
	case c.TeamBurst > 0 && c.TeamRate == 0:
		return bad("TeamBurst is %d but TeamRate is 0: set TeamRate or drop TeamBurst", c.TeamBurst)
	case c.AIMD && c.Rate == 0:
		return bad("AIMD needs a Rate > 0 to adapt: set Rate or disable AIMD")
	case c.DecreaseFactor != 0 && !(c.DecreaseFactor > 0 && c.DecreaseFactor < 1):
		return bad("DecreaseFactor is %v: use a value in (0, 1), e.g. 0.85", c.DecreaseFactor)
	case !finiteNonNeg(c.IncreasePerSecond):
		return bad("IncreasePerSecond is %v: use requests/s per second >= 0", c.IncreasePerSecond)
	case !finiteNonNeg(c.MinRate):
		return bad("MinRate is %v: use requests/s >= 0", c.MinRate)
	case c.MinRate > c.Rate && c.AIMD:
		return bad("MinRate %v exceeds Rate %v: lower MinRate", c.MinRate, c.Rate)
	case c.MaxChunk < 0:
		return bad("MaxChunk is %d: use >= 0 (0 = default clamp(Rate/50, 1, 64))", c.MaxChunk)
	case c.PollInterval < 0:
		return bad("PollInterval is %v: use a positive duration (0 = default 100ms)", c.PollInterval)
	case c.PollInterval > 0 && c.PollInterval < time.Millisecond:
		return bad("PollInterval is %v: use at least 1ms, it costs one Redis round trip per process", c.PollInterval)
	}
	if c.Burst == 0 {
		c.Burst = int(math.Max(1, c.Rate/10))
	}
	if c.TeamRate > 0 && c.TeamBurst == 0 {
		c.TeamBurst = int(math.Max(1, c.TeamRate/10))
	}
	if c.DecreaseFactor == 0 {
		c.DecreaseFactor = 0.85
	}
	if c.IncreasePerSecond == 0 {
		c.IncreasePerSecond = c.Rate * 0.02
	}
	if c.MinRate == 0 {
		c.MinRate = math.Min(c.Rate, math.Max(1, c.Rate*0.05))
	}
	if c.MaxChunk == 0 {
		r := c.Rate
		if r == 0 {
			r = c.TeamRate
		}
		c.MaxChunk = int(math.Min(64, math.Max(1, r/50)))
	}
	if c.PollInterval == 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	return c, nil
}

func finiteNonNeg(f float64) bool { return f >= 0 && !math.IsInf(f, 0) && !math.IsNaN(f) }
