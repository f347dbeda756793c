package worker

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
)

func promhttpHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// queueCollector exports queue depth and latency and per-campaign
// progress. asynq's GetQueueInfo runs a Lua script whose cost grows with
// the queue (hibiken/asynq#1160), so values are cached and refreshed at
// most every refreshEvery, however often Prometheus scrapes.
type queueCollector struct {
	insp  *asynq.Inspector
	ns    string
	store *jobs.Store

	size, latency, campAssets, campTotal, campState *prometheus.Desc
	snapDone, snapListed, snapFound                 *prometheus.Desc

	mu      sync.Mutex
	last    time.Time
	metrics []prometheus.Metric
}

const refreshEvery = 10 * time.Second

// maxCampaignSeries bounds the per-campaign series: only the newest
// campaigns that are not final (plus those finished in the last hour) are
// exported.
const maxCampaignSeries = 50

func newQueueCollector(rdb redis.UniversalClient, ns string, store *jobs.Store) *queueCollector {
	return &queueCollector{
		insp: asynq.NewInspectorFromRedisClient(rdb), ns: ns, store: store,
		size: prometheus.NewDesc("labelreset_queue_size", "Batch tasks in the queue, by state.",
			[]string{"queue", "state"}, nil),
		latency: prometheus.NewDesc("labelreset_queue_latency_seconds", "Age of the oldest pending batch task.",
			[]string{"queue"}, nil),
		campAssets: prometheus.NewDesc("labelreset_campaign_assets", "Assets of a campaign by outcome.",
			[]string{"campaign", "outcome"}, nil),
		campTotal: prometheus.NewDesc("labelreset_campaign_total_assets", "Assets in a campaign.",
			[]string{"campaign"}, nil),
		campState: prometheus.NewDesc("labelreset_campaign_state", "1 for the campaign's current state.",
			[]string{"campaign", "state"}, nil),
		snapDone: prometheus.NewDesc("labelreset_campaign_snapshot_complete",
			"1 once the campaign's snapshot is complete (its assets may be reset), 0 while it lists; campaigns with a snapshot only.",
			[]string{"campaign"}, nil),
		snapListed: prometheus.NewDesc("labelreset_campaign_snapshot_listed_assets",
			"Inventory items the campaign's snapshot has read so far.", []string{"campaign"}, nil),
		snapFound: prometheus.NewDesc("labelreset_campaign_snapshot_found_assets",
			"Assets of the campaign its snapshot has found in the inventory so far.", []string{"campaign"}, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.latency
	ch <- c.campAssets
	ch <- c.campTotal
	ch <- c.campState
	ch <- c.snapDone
	ch <- c.snapListed
	ch <- c.snapFound
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.last) > refreshEvery {
		c.metrics = c.gather()
		c.last = time.Now()
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

var allStates = []jobs.State{jobs.StatePending, jobs.StateRunning, jobs.StatePaused, jobs.StateBlocked,
	jobs.StateStopped, jobs.StateCancelled, jobs.StateDone}

func (c *queueCollector) gather() []prometheus.Metric {
	var out []prometheus.Metric
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	for _, p := range []jobs.Priority{jobs.PriorityHigh, jobs.PriorityNormal, jobs.PriorityLow} {
		q := jobs.Queue(c.ns, p)
		info, err := c.insp.GetQueueInfo(q)
		if err != nil {
			// A queue that never had a task does not exist yet: report zeros.
			info = &asynq.QueueInfo{}
		}
		g(c.size, float64(info.Pending), q, "pending")
		g(c.size, float64(info.Active), q, "active")
		g(c.size, float64(info.Scheduled), q, "scheduled")
		g(c.size, float64(info.Retry), q, "retry")
		g(c.size, float64(info.Archived), q, "archived")
		g(c.latency, info.Latency.Seconds(), q)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	camps, err := c.store.List(ctx, maxCampaignSeries)
	if err != nil {
		return out
	}
	for _, cp := range camps {
		if cp.State.Final() && !cp.FinishedAt.IsZero() && time.Since(cp.FinishedAt) > time.Hour {
			continue
		}
		g(c.campTotal, float64(cp.Total), cp.ID)
		for _, o := range jobs.Outcomes {
			g(c.campAssets, float64(cp.Counts[o]), cp.ID, o)
		}
		g(c.campAssets, float64(cp.Total-cp.Finished()), cp.ID, jobs.OutcomePending)
		for _, s := range allStates {
			v := 0.0
			if s == cp.State {
				v = 1
			}
			g(c.campState, v, cp.ID, string(s))
		}
		if !cp.Snapshot {
			continue
		}
		// One small hash read per campaign with a snapshot, at most every
		// refreshEvery; an unreadable one is left out of this scrape.
		if info, err := c.store.Snapshot(ctx, cp); err == nil {
			done := 0.0
			if info.Complete {
				done = 1
			}
			g(c.snapDone, done, cp.ID)
			g(c.snapListed, float64(info.Listed), cp.ID)
			g(c.snapFound, float64(info.Found), cp.ID)
		}
	}
	return out
}
