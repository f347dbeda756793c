package jobs

import (
	"fmt"
	"time"
)

// The sentences every surface (the API, the CLI, the console) uses to
// tell what an express campaign's bulk call did and what cancelling it
// can still stop, written once so that the three cannot say different
// things about the same call.

// CancelNote is what cancelling an express campaign whose bulk call may
// have reached PDCP does not undo, "" when x is nil or the call was never
// sent (cancelling then stops everything, as for any campaign).
func (x *ExpressInfo) CancelNote() string {
	if x == nil || !x.State.BulkSent() {
		return ""
	}
	at := ""
	if !x.SentAt.IsZero() {
		at = " at " + x.SentAt.UTC().Format(time.RFC3339)
	}
	return "the bulk call was sent" + at +
		": cancelling stops only the per-asset calls; what the bulk call changed stays changed (undo puts it back)"
}

// DifferenceNote says what PDCP's asset_count differing from the guard
// listing means, "" when it does not differ (or no answer came yet).
// More assets than listed were changed but are not the campaign's: no
// snapshot holds their labels, so no undo can put them back. Fewer means
// some listed assets stopped matching before the call: verification does
// not see them clean, and they are called one by one.
// An unknown asset_count (-1: PDCP's 2xx answer did not decode) has no
// difference to speak of.
func (x *ExpressInfo) DifferenceNote() string {
	if x == nil || x.Difference == 0 || x.AssetCount < 0 {
		return ""
	}
	if x.Difference > 0 {
		return fmt.Sprintf("%d %s changed by the bulk call %s not the campaign's and cannot be undone",
			x.Difference, expressPlural(x.Difference, "asset", "assets"), expressPlural(x.Difference, "is", "are"))
	}
	n := -x.Difference
	return fmt.Sprintf("the bulk call matched %d fewer %s than the guard listing found: %s to per-asset calls if verification does not see %s clean",
		n, expressPlural(n, "asset", "assets"), expressPlural(n, "it is left", "they are left"), expressPlural(n, "it", "them"))
}

// AsyncNote is the caveat of an asynchronous bulk call ("" otherwise):
// PDCP said nothing of when, or to which assets, it applies the change.
func (x *ExpressInfo) AsyncNote() string {
	if x == nil || !x.Async {
		return ""
	}
	return "PDCP applies the change later (async): asset_count is what matched when it answered, and only verification tells which assets changed"
}

func expressPlural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
