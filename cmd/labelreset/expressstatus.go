package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// The express part of status, run's summary and cancel: what the one bulk
// call of an express campaign did, read with one Redis call
// (jobs.Store.Express), so that status stays as fast for an express
// campaign as for any other.

// readExpress is store.Express for an express campaign, nil for any other
// campaign and when it cannot be read (logged: the rest of the status is
// still worth printing).
func (a *app) readExpress(ctx context.Context, store *jobs.Store, c *jobs.Campaign) *jobs.ExpressInfo {
	if !c.Express {
		return nil
	}
	x, err := store.Express(ctx, c)
	if err != nil {
		a.log.Warn("express state could not be read", "campaign", c.ID, "err", err)
		return nil
	}
	return x
}

// printExpressStatus prints the express block of status for campaign c
// whose bulk call x describes (nothing for a campaign that is not express).
func printExpressStatus(w io.Writer, c *jobs.Campaign, x *jobs.ExpressInfo) {
	if !c.Express {
		return
	}
	deadline := c.ExpressDeadline
	if deadline == 0 {
		deadline = jobs.DefaultExpressDeadline
	}
	if x == nil {
		fmt.Fprintf(w, "express:   state not readable now\n")
		return
	}
	switch x.State {
	case jobs.ExpressWaiting:
		fmt.Fprintf(w, "express:   waiting: one bulk call (PATCH /v1/asset/labels?update_type=delete) once the snapshot is taken, then verification for up to %s\n", deadline)
		if x.Reason != "" {
			// PDCP refused an earlier try with 401/403: nothing changed,
			// and resume sends it again.
			fmt.Fprintf(w, "  last try:         %s\n", x.Reason)
		}
		return
	case jobs.ExpressRefused:
		fmt.Fprintf(w, "express:   refused, bulk call not sent: %s; every asset is called one by one\n", x.Reason)
	case jobs.ExpressFailed:
		fmt.Fprintf(w, "express:   failed: PDCP refused the bulk call: %s; every asset is called one by one\n", x.Reason)
	case jobs.ExpressSending:
		fmt.Fprintf(w, "express:   sending: the bulk call was sent%s; its answer is not recorded, verification finds what it did\n", sentAt(x))
	case jobs.ExpressSent:
		fmt.Fprintf(w, "express:   sent%s: verifying asset by asset\n", sentAt(x))
	case jobs.ExpressVerified:
		fmt.Fprintf(w, "express:   verified: the bulk call was sent%s; the assets not seen clean are called one by one\n", sentAt(x))
	default:
		fmt.Fprintf(w, "express:   %s\n", x.State)
	}
	fmt.Fprintf(w, "  listed:           %d of the campaign's assets (guard listing)", x.Listed)
	if x.Outside > 0 {
		fmt.Fprintf(w, ", %d not the campaign's", x.Outside)
	}
	fmt.Fprintln(w)
	if !x.State.BulkSent() {
		return
	}
	if x.State != jobs.ExpressSending {
		if x.AssetCount < 0 {
			fmt.Fprintf(w, "  asset_count:      unknown (PDCP's answer could not be read; verification finds what changed)")
		} else {
			fmt.Fprintf(w, "  asset_count:      %d (PDCP)", x.AssetCount)
		}
		if d := x.DifferenceNote(); d != "" {
			fmt.Fprintf(w, ": %s", d)
		}
		fmt.Fprintln(w)
		if n := x.AsyncNote(); n != "" {
			fmt.Fprintf(w, "  async:            yes: %s\n", n)
		} else {
			fmt.Fprintf(w, "  async:            no\n")
		}
	}
	fmt.Fprintf(w, "  verified:         %d seen without the labels (path bulk)\n", x.Verified)
	if x.State == jobs.ExpressVerified {
		fmt.Fprintf(w, "  fallback:         %d left to per-asset calls (path per_asset)\n", x.Fallback)
	}
	if !x.Deadline.IsZero() {
		fmt.Fprintf(w, "  deadline:         %s (verification gives up then)\n", x.Deadline.Format(time.RFC3339))
	}
	if !x.FinishedAt.IsZero() {
		fmt.Fprintf(w, "  finished:         %s\n", x.FinishedAt.Format(time.RFC3339))
	}
}

// sentAt is " at T" for a bulk call whose time is recorded.
func sentAt(x *jobs.ExpressInfo) string {
	if x.SentAt.IsZero() {
		return ""
	}
	return " at " + x.SentAt.Format(time.RFC3339)
}
