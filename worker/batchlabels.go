package worker

import (
	"context"
	"slices"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// batchSnapshot is what a campaign's snapshot says about the IDs of one
// batch task: the labels each held before the campaign (or, for a restore
// campaign, the labels to put back) and whether the listing found it.
type batchSnapshot struct {
	ids    []int64 // the task's IDs, strictly increasing
	labels [][]string
	listed []bool
}

// batchLabels loads the snapshot of batch b, one round trip, for a
// campaign that has one (or a restore campaign, whose labels to put back
// are stored the same way). It returns nil and a nil error for a campaign
// without one. When it returns nil and an error, the error is
// ProcessTask's answer: the batch is held until the snapshot of its
// segment is complete. EnsureEnqueued holds such batches already; this is
// the defence in depth that keeps any asset from being reset before its
// labels are recorded, whoever enqueued its batch (a repair, a re-drive,
// a producer of an earlier version).
func (w *Worker) batchLabels(ctx context.Context, ci *campaignInfo, b *jobs.Batch) (*batchSnapshot, error) {
	if !ci.def.Snapshot && ci.def.Mode != jobs.ModeRestore {
		return nil, nil
	}
	labels, listed, ready, err := w.store.BatchLabels(ctx, ci.def, b.Batch, b.IDs)
	switch {
	case isGone(err):
		w.campaignGone(ci)
		return nil, nil
	case err != nil:
		return nil, w.requeue(&retryLater{delay: w.cfg.HoldDelay, reason: "snapshot unreadable: " + err.Error()})
	case !ready:
		return nil, w.requeue(&retryLater{delay: w.cfg.HoldDelay, reason: "snapshot in progress"})
	case len(labels) != len(b.IDs) || len(listed) != len(b.IDs):
		// A store that answers for other IDs than asked would make the
		// worker call with another asset's labels: hold, and say so.
		return nil, w.requeue(&retryLater{delay: w.cfg.HoldDelay, reason: "snapshot answered for another set of IDs"})
	}
	if ci.def.Mode == jobs.ModeRestore {
		// The plan restored every asset its source might have called;
		// the source's ledger says now which it never did.
		never, ok, err := w.store.NeverCalled(ctx, ci.def, b.Batch, b.IDs)
		if err != nil {
			return nil, w.requeue(&retryLater{delay: w.cfg.HoldDelay, reason: "source ledger unreadable: " + err.Error()})
		}
		if ok {
			labels = slices.Clone(labels)
			for i := range never {
				if never[i] {
					labels[i] = nil
				}
			}
		}
	}
	return &batchSnapshot{ids: b.IDs, labels: labels, listed: listed}, nil
}

// withoutCall returns the outcome of an asset of campaign c that is
// recorded without a call ("" when the asset is called): a restore with
// nothing to put back is unchanged; an asset the snapshot did not find in
// the inventory is not_in_inventory, unless the campaign resets unlisted
// assets. It gives the asset the labels a restore call puts back. A nil
// snapshot (a campaign without one) calls every asset.
func (s *batchSnapshot) withoutCall(c *jobs.Campaign, a *asset) string {
	if s == nil {
		return ""
	}
	// LoadForRun answers for the task's IDs only; were an ID outside
	// them, it would count as one the snapshot knows nothing of.
	var labels []string
	listed := false
	if i, ok := slices.BinarySearch(s.ids, a.id); ok {
		labels, listed = s.labels[i], s.listed[i]
	}
	if c.Mode == jobs.ModeRestore {
		if len(labels) == 0 {
			return jobs.OutcomeUnchanged
		}
		a.labels = labels
		return ""
	}
	if !listed && !c.ResetUnlisted {
		return jobs.OutcomeNotInInventory
	}
	return ""
}

// recordWithoutCall sends an outcome reached without a PDCP call to the
// ledger; the batch's handler waits for it with the others. It needs no
// call slot and no pending token: nothing is in flight.
func (w *Worker) recordWithoutCall(b *jobs.Batch, run *batchRun, a *asset, outcome string) {
	r := a.record(outcome)
	r.Error, r.ErrorID, r.FinishedAt = "", "", time.Now()
	run.acks.add()
	w.writer.send(record{campaign: b.Campaign, inc: run.inc, batch: b.Batch, rec: r, acks: &run.acks})
}
