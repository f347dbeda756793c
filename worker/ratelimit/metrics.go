package ratelimit

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the collectors of one Limiter. They carry no labels: a process
// with several limiters registers each on its own wrapped registerer, e.g.
// prometheus.WrapRegistererWith(prometheus.Labels{"account": name}, reg).
type metrics struct {
	wait      prometheus.Histogram
	throttled prometheus.Counter
	pauses    prometheus.Counter
	errors    prometheus.Counter

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newMetrics(l *Limiter, reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "labelreset", "ratelimit"
	m := &metrics{
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "wait_seconds",
			Help:    "Time callers spent in Wait before they could send a request.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9), // 0.5ms .. ~33s
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "throttled_total",
			Help: "Responses reported through Throttled (429 without Retry-After).",
		}),
		pauses: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "pauses_total",
			Help: "Pauses requested through PauseUntil (Retry-After).",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "errors_total",
			Help: "Redis errors met by the limiter; callers wait while they last.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{
		m.wait, m.throttled, m.pauses, m.errors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "effective_rate",
			Help: "Shared effective rate in requests per second (the AIMD rate; 0 when unlimited).",
		}, l.EffectiveRate),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "configured_rate",
			Help: "Configured rate in requests per second shared by all processes (0 = unlimited).",
		}, func() float64 { return l.cfg.Rate }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "paused",
			Help: "1 while a shared pause (Retry-After) is known to be in effect.",
		}, func() float64 { return b2f(l.pausedFor() > 0) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "near_limit",
			Help: "1 when callers had to wait for tokens in the last second (demand >= budget).",
		}, func() float64 { return b2f(l.nearLimit()) }),
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, r := range cs[:i] {
				reg.Unregister(r)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("ratelimit: metrics already registered: give each Limiter of a process its own registerer, e.g. prometheus.WrapRegistererWith(labels, reg): %w", err)
			}
			return nil, fmt.Errorf("ratelimit: register metrics: %w", err)
		}
	}
	m.reg, m.registered = reg, cs
	return m, nil
}

// unregister removes the collectors so that a new Limiter may register on
// the same registerer after Close.
func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
