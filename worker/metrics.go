package worker

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
)

// Metrics are the worker's Prometheus metrics. They are registered on an
// injected registerer, never the global one, so that several workers (in
// tests) and the API server can live in one process.
type Metrics struct {
	assets    *prometheus.CounterVec
	requests  *prometheus.CounterVec
	duration  prometheus.Histogram
	retries   *prometheus.CounterVec
	throttled prometheus.Counter
	inflight  prometheus.Gauge
	batches   *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	redisUp   prometheus.Gauge

	// The snapshot phase (snapshot.go).
	snapshotPages, snapshotListed, snapshotFound prometheus.Counter
	snapshotSegments, snapshotCheckpoints        prometheus.Counter
	snapshotPageErrors                           *prometheus.CounterVec

	// Express campaigns (express.go).
	expressBulkCalls                 *prometheus.CounterVec
	expressVerified, expressFallback prometheus.Counter

	// Children resolved once: label lookups are too slow for the hot path.
	byOutcome map[string]prometheus.Counter
	mu        sync.RWMutex
	byCode    map[int]prometheus.Counter
}

// NewMetrics creates and registers the worker metrics on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		assets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_assets_processed_total",
			Help: "Assets that reached a final outcome, by outcome.",
		}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_api_requests_total",
			Help: "PDCP API requests by HTTP status code (\"error\" when no response arrived).",
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "labelreset_api_request_duration_seconds",
			Help:    "Duration of PDCP API requests.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_retries_total",
			Help: "Asset retries scheduled, by reason (throttled, server_error, network).",
		}, []string{"reason"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "labelreset_throttled_total",
			Help: "PDCP answers asking to slow down (429, or 503 with Retry-After).",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "labelreset_inflight_requests",
			Help: "PDCP API requests in flight in this process.",
		}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_batches_processed_total",
			Help: "Batch tasks handled, by result (done, requeued, failed).",
		}, []string{"result"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_batches_skipped_total",
			Help: "Batch and snapshot tasks handed back untouched for another worker, by reason (api_server_mismatch: the campaign was planned against another PDCP API server; other_campaign: this process works one campaign only).",
		}, []string{"reason"}),
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "labelreset_redis_up",
			Help: "1 when the last Redis health check succeeded.",
		}),
		snapshotPages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "labelreset_snapshot_pages_total",
			Help: "Inventory pages read by campaign snapshots (GET /v1/asset/enumerate/contents answered 2xx).",
		}),
		snapshotListed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "labelreset_snapshot_assets_listed_total",
			Help: "Inventory items read by campaign snapshots, overlapping rows of consecutive pages included.",
		}),
		snapshotFound: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "labelreset_snapshot_assets_found_total",
			Help: "Inventory items read by campaign snapshots that are assets of the campaign, rows read twice included.",
		}),
		snapshotSegments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "labelreset_snapshot_segments_completed_total",
			Help: "Campaign segments whose snapshot this process completed (their batches may run then).",
		}),
		snapshotCheckpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "labelreset_snapshot_checkpoints_total",
			Help: "Snapshot progress checkpoints written to Redis.",
		}),
		snapshotPageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_snapshot_page_errors_total",
			Help: "Inventory pages that failed (snapshots and express listings), by reason (throttled, server_error, network, unauthorized, rejected: a 4xx or a server that ignores offset); failed pages are asked for again.",
		}, []string{"reason"}),
		expressBulkCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_express_bulk_calls_total",
			Help: "Bulk calls of express campaigns (PATCH /v1/asset/labels), by result (ok, throttled, server_error, network, unauthorized, rejected: a 4xx).",
		}, []string{"result"}),
		expressVerified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "labelreset_express_verified_assets_total",
			Help: "Assets of express campaigns that verification saw without the removed labels and recorded reset with no per-asset call.",
		}),
		expressFallback: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "labelreset_express_fallback_assets_total",
			Help: "Assets of express campaigns left to per-asset calls when the express phase ended (not seen clean by the deadline, or the bulk call refused or failed).",
		}),
		byOutcome: map[string]prometheus.Counter{},
		byCode:    map[int]prometheus.Counter{},
	}
	for _, o := range jobs.Outcomes {
		m.byOutcome[o] = m.assets.WithLabelValues(o)
	}
	for _, r := range []string{"throttled", "server_error", "network"} {
		m.retries.WithLabelValues(r)
	}
	for _, r := range []string{"done", "requeued", "failed"} {
		m.batches.WithLabelValues(r)
	}
	for _, r := range []string{skipServerMismatch, skipOtherCampaign} {
		m.skipped.WithLabelValues(r)
	}
	for _, r := range []string{pageErrThrottled, pageErrServer, pageErrNetwork, pageErrUnauthorized, pageErrRejected} {
		m.snapshotPageErrors.WithLabelValues(r)
	}
	for _, r := range []string{bulkResultOK, bulkResultThrottled, bulkResultServerError, bulkResultNetwork, bulkResultUnauthorized, bulkResultRejected} {
		m.expressBulkCalls.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.assets, m.requests, m.duration, m.retries, m.throttled, m.inflight, m.batches, m.skipped, m.redisUp,
			m.snapshotPages, m.snapshotListed, m.snapshotFound, m.snapshotSegments, m.snapshotCheckpoints, m.snapshotPageErrors,
			m.expressBulkCalls, m.expressVerified, m.expressFallback)
	}
	return m
}

func (m *Metrics) outcome(o string) { m.byOutcome[o].Inc() }

// Reasons of labelreset_snapshot_page_errors_total.
const (
	pageErrThrottled    = "throttled"
	pageErrServer       = "server_error"
	pageErrNetwork      = "network"
	pageErrUnauthorized = "unauthorized"
	pageErrRejected     = "rejected"
)

func (m *Metrics) bulkCall(result string) { m.expressBulkCalls.WithLabelValues(result).Inc() }

func (m *Metrics) pageError(reason string) { m.snapshotPageErrors.WithLabelValues(reason).Inc() }

func (m *Metrics) request(r *client.Result) {
	m.duration.Observe(r.Duration.Seconds())
	m.mu.RLock()
	c := m.byCode[r.Status]
	m.mu.RUnlock()
	if c == nil {
		code := "error"
		if r.Status > 0 {
			code = strconv.Itoa(r.Status)
		}
		c = m.requests.WithLabelValues(code)
		m.mu.Lock()
		m.byCode[r.Status] = c
		m.mu.Unlock()
	}
	c.Inc()
}
