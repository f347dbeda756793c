// The dispatcher's metrics.

package notify

import "github.com/prometheus/client_golang/prometheus"

// metrics are labelled by notifier and event kind only: both small sets
// the operator chose, never a campaign or asset ID.
type metrics struct {
	sent   *prometheus.CounterVec
	failed *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_notifications_sent_total",
			Help: "Notifications a notifier acknowledged (2xx), by notifier and event.",
		}, []string{"notifier", "event"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_notifications_failed_total",
			Help: "Delivery attempts that failed (no answer, or not 2xx), by notifier; each is retried.",
		}, []string{"notifier"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sent, m.failed} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
