package worker

import "slices"

// Reasons a batch is left for another worker, the `reason` label of
// labelreset_batches_skipped_total.
const (
	// skipServerMismatch: the campaign was planned against another PDCP
	// API server. Its asset IDs name other assets on this worker's server
	// (or none: a 404 would be recorded as a final not_found).
	skipServerMismatch = "api_server_mismatch"
	// skipOtherCampaign: the worker works only some campaigns
	// (Config.Campaigns, as in "labelreset run").
	skipOtherCampaign = "other_campaign"
)

// mine reports whether this worker works campaign id at all.
func (w *Worker) mine(id string) bool {
	return len(w.cfg.Campaigns) == 0 || slices.Contains(w.cfg.Campaigns, id)
}

// skip hands a batch back to the queue untouched: no call, no ledger
// write, no state change, so that a worker it belongs to takes it. A server
// mismatch is logged once per campaign in this process; every skip is
// counted. The batch is back in the queue after HoldDelay (a run's own
// worker skips other campaigns after a short delay: it must not hold their
// batches away from their workers).
func (w *Worker) skip(campaign, reason, server string) error {
	w.metrics.skipped.WithLabelValues(reason).Inc()
	delay := w.cfg.HoldDelay
	if reason == skipServerMismatch {
		if _, logged := w.skipLogged.LoadOrStore(campaign, true); !logged {
			w.log.Warn("leaving a campaign to workers of its own API server: it was planned against another server",
				"campaign", campaign, "campaign_api_server", server, "worker_api_server", w.cfg.Server)
		}
	} else {
		delay = 0
	}
	return &retryLater{delay: delay, reason: reason}
}
