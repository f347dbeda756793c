package jobs_test

import (
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// TestExpressNotes: the sentences the API, the CLI and the console share
// say what happened, and nothing when there is nothing to say.
func TestExpressNotes(t *testing.T) {
	at := time.Date(2026, 12, 3, 21, 30, 0, 0, time.UTC)
	tests := []struct {
		name                string
		x                   *jobs.ExpressInfo
		cancel, diff, async string
	}{
		{name: "not express", x: nil},
		{name: "waiting", x: &jobs.ExpressInfo{}},
		{name: "refused", x: &jobs.ExpressInfo{State: jobs.ExpressRefused, Reason: "outside", Outside: 2}},
		{name: "failed", x: &jobs.ExpressInfo{State: jobs.ExpressFailed, Reason: "HTTP 500"}},
		{name: "sending, no time yet", x: &jobs.ExpressInfo{State: jobs.ExpressSending},
			cancel: "the bulk call was sent: cancelling stops only the per-asset calls; what the bulk call changed stays changed (undo puts it back)"},
		{name: "sent, more matched", x: &jobs.ExpressInfo{State: jobs.ExpressSent, SentAt: at, Listed: 3, AssetCount: 5, Difference: 2, Async: true},
			cancel: "the bulk call was sent at 2026-12-03T21:30:00Z: cancelling stops only the per-asset calls; what the bulk call changed stays changed (undo puts it back)",
			diff:   "2 assets changed by the bulk call are not the campaign's and cannot be undone",
			async:  "PDCP applies the change later (async): asset_count is what matched when it answered, and only verification tells which assets changed"},
		{name: "verified, one more", x: &jobs.ExpressInfo{State: jobs.ExpressVerified, SentAt: at, Listed: 3, AssetCount: 4, Difference: 1},
			cancel: "the bulk call was sent at 2026-12-03T21:30:00Z: cancelling stops only the per-asset calls; what the bulk call changed stays changed (undo puts it back)",
			diff:   "1 asset changed by the bulk call is not the campaign's and cannot be undone"},
		{name: "asset_count unknown", x: &jobs.ExpressInfo{State: jobs.ExpressSent, Listed: 3, AssetCount: -1, Difference: -4},
			cancel: "the bulk call was sent: cancelling stops only the per-asset calls; what the bulk call changed stays changed (undo puts it back)"},
		{name: "fewer matched", x: &jobs.ExpressInfo{State: jobs.ExpressSent, SentAt: at, Listed: 3, AssetCount: 1, Difference: -2},
			cancel: "the bulk call was sent at 2026-12-03T21:30:00Z: cancelling stops only the per-asset calls; what the bulk call changed stays changed (undo puts it back)",
			diff:   "the bulk call matched 2 fewer assets than the guard listing found: they are left to per-asset calls if verification does not see them clean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.x.CancelNote(); got != tc.cancel {
				t.Errorf("CancelNote:\n got %q\nwant %q", got, tc.cancel)
			}
			if got := tc.x.DifferenceNote(); got != tc.diff {
				t.Errorf("DifferenceNote:\n got %q\nwant %q", got, tc.diff)
			}
			if got := tc.x.AsyncNote(); got != tc.async {
				t.Errorf("AsyncNote:\n got %q\nwant %q", got, tc.async)
			}
		})
	}
}
