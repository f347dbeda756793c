package console

import (
	"sync"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// campaignView is a campaign as the pages show it: its stored fields and
// counters, and what the console derives from them.
type campaignView struct {
	*jobs.Campaign
	Finished, Pending int64
	// Worked is Finished less the assets cancelled: the campaigns list's
	// bar, so that a cancelled campaign shows how far it got rather than
	// a full bar (its cancelled assets count as finished).
	Worked int64
	// Rate is the assets finished per second over the last minute the
	// console watched the campaign (0: not known yet, or not running);
	// ETA the time the rest would take at that rate.
	Rate float64
	ETA  time.Duration
	// Outcomes are the outcome counters in a fixed order, pending last.
	Outcomes []outcomeCount
}

type outcomeCount struct {
	Outcome string
	Count   int64
}

func (c *Console) view(cp *jobs.Campaign) *campaignView {
	v := &campaignView{Campaign: cp, Finished: cp.Finished()}
	v.Pending = max(0, cp.Total-v.Finished)
	v.Worked = v.Finished - cp.Counts[jobs.OutcomeCancelled]
	for _, o := range jobs.Outcomes {
		v.Outcomes = append(v.Outcomes, outcomeCount{o, cp.Counts[o]})
	}
	v.Outcomes = append(v.Outcomes, outcomeCount{jobs.OutcomePending, v.Pending})
	if cp.State == jobs.StateRunning {
		v.Rate = c.rates.observe(cp, v.Finished, c.now())
		if v.Rate > 0 {
			v.ETA = time.Duration(float64(v.Pending) / v.Rate * float64(time.Second))
		}
	}
	return v
}

// rates measures each running campaign's achieved rate from the finished
// counts the console reads (the list, the live streams). Entries are keyed
// by the campaign's ID and incarnation, so a campaign deleted and created
// again under its ID starts afresh, and are dropped when not read for
// rateForget.
type rates struct {
	mu        sync.Mutex
	m         map[string]*rateSamples
	lastSweep time.Time
}

const (
	rateWindow = time.Minute
	rateForget = 10 * time.Minute
)

type rateSamples struct {
	t    []time.Time
	n    []int64
	seen time.Time
}

func newRates() *rates { return &rates{m: map[string]*rateSamples{}} }

// observe records that cp had finished n assets at now and returns its
// rate over the samples of the last rateWindow (0 until two samples at
// least two seconds apart exist).
func (rs *rates) observe(cp *jobs.Campaign, n int64, now time.Time) float64 {
	key := cp.ID + "\x00" + cp.LedgerIdentity()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if now.Sub(rs.lastSweep) > rateForget {
		for k, s := range rs.m {
			if now.Sub(s.seen) > rateForget {
				delete(rs.m, k)
			}
		}
		rs.lastSweep = now
	}
	s := rs.m[key]
	if s == nil {
		s = &rateSamples{}
		rs.m[key] = s
	}
	s.seen = now
	// A count lower than the last (a retry re-queued assets) starts over.
	if k := len(s.n); k > 0 && n < s.n[k-1] {
		s.t, s.n = s.t[:0], s.n[:0]
	}
	if k := len(s.t); k == 0 || now.Sub(s.t[k-1]) >= 500*time.Millisecond {
		s.t, s.n = append(s.t, now), append(s.n, n)
	}
	i := 0
	for i < len(s.t)-2 && now.Sub(s.t[i]) > rateWindow {
		i++
	}
	s.t, s.n = s.t[i:], s.n[i:]
	span := s.t[len(s.t)-1].Sub(s.t[0])
	if span < 2*time.Second {
		return 0
	}
	return float64(s.n[len(s.n)-1]-s.n[0]) / span.Seconds()
}
