package schedule

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the scheduler's Prometheus series. The schedule label takes
// the configured names only.
type metrics struct {
	fires    *prometheus.CounterVec
	lastFire *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, names []string) (*metrics, error) {
	m := &metrics{
		fires: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_schedule_fires_total",
			Help: "Schedule fire times handled by this process, by result (created, skipped_duplicate, skipped: the previous campaign was still open, empty, error).",
		}, []string{"schedule", "result"}),
		lastFire: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "labelreset_schedule_last_fire_timestamp_seconds",
			Help: "Fire time (Unix seconds) of the last firing this process performed, whatever its result; at start, the last one any replica recorded.",
		}, []string{"schedule"}),
	}
	// Every series exists from the start, so that rate() and absent()
	// behave before the first firing.
	for _, n := range names {
		for _, r := range []string{ResultCreated, ResultSkippedDuplicate, ResultSkipped, ResultEmpty, ResultError} {
			m.fires.WithLabelValues(n, r)
		}
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.fires, m.lastFire} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("schedule: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// fired counts a fire time; at is set for firings this process performed.
func (m *metrics) fired(name, result string, at time.Time) {
	m.fires.WithLabelValues(name, result).Inc()
	if !at.IsZero() {
		m.lastFire.WithLabelValues(name).Set(float64(at.Unix()))
	}
}
