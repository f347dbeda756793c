package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// campaignStatus is the JSON form of a campaign in every status-like
// command (and the HTTP API).
type campaignStatus struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	State     jobs.State       `json:"state"`
	Reason    string           `json:"reason,omitempty"`
	Total     int64            `json:"total"`
	Counts    map[string]int64 `json:"counts"`
	Mode      jobs.Mode        `json:"mode"`
	Labels    []string         `json:"labels,omitempty"`
	TeamID    string           `json:"team_id,omitempty"`
	APIServer string           `json:"api_server,omitempty"`
	Priority  jobs.Priority    `json:"priority"`
	Source    string           `json:"source,omitempty"`
	// RestoreOf and Exact describe a restore campaign (undo).
	RestoreOf     string `json:"restore_of,omitempty"`
	Exact         bool   `json:"exact,omitempty"`
	ResetUnlisted bool   `json:"reset_unlisted,omitempty"`
	// NotBefore is when a restore campaign makes its first call: the
	// calls its source had in flight when undone have ended by then.
	NotBefore *time.Time `json:"not_before,omitempty"`
	// Undoable is true for a campaign that records a snapshot.
	Undoable   bool       `json:"undoable"`
	Redrives   int        `json:"redrives"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// FailureReasons are the topReasons most frequent reasons of failed
	// and invalid assets, in the summaries of status and run only: reading
	// them costs a Redis call that a list of campaigns does not make.
	FailureReasons []jobs.FailureReason `json:"failure_reasons,omitempty"`
	// Snapshot is the snapshot's progress or, once complete, what it
	// found; in the summaries of status and run only (a Redis call).
	Snapshot *jobs.SnapshotInfo `json:"snapshot,omitempty"`
	// Express is the bulk call of an express campaign (jobs.ExpressInfo);
	// in the summaries of status and run, and cancel's answer, only (a
	// Redis call).
	Express *jobs.ExpressInfo `json:"express,omitempty"`
}

func statusJSON(c *jobs.Campaign) campaignStatus {
	counts := make(map[string]int64, len(jobs.Outcomes)+1)
	for _, o := range jobs.Outcomes {
		counts[o] = c.Counts[o]
	}
	counts[jobs.OutcomePending] = c.Total - c.Finished()
	s := campaignStatus{
		ID: c.ID, Name: c.Name, State: c.State, Reason: c.Reason, Total: c.Total, Counts: counts,
		Mode: c.Mode, Labels: c.Labels, TeamID: c.TeamID, APIServer: c.Server, Priority: c.Priority, Source: c.Source,
		Redrives: c.Gen, CreatedAt: c.CreatedAt,
		RestoreOf: c.RestoreOf, Exact: c.Exact, ResetUnlisted: c.ResetUnlisted, Undoable: c.Snapshot,
	}
	if !c.FinishedAt.IsZero() {
		t := c.FinishedAt
		s.FinishedAt = &t
	}
	if !c.NotBefore.IsZero() {
		t := c.NotBefore
		s.NotBefore = &t
	}
	return s
}

// restoreWaits is the line of a restore campaign that waits for its
// source's in-flight calls, "" when it does not (any more).
func restoreWaits(c *jobs.Campaign, now time.Time) string {
	if c.NotBefore.IsZero() || !c.NotBefore.After(now) || c.State.Final() {
		return ""
	}
	return fmt.Sprintf("restore starts at %s (waits for the source's in-flight calls)", c.NotBefore.Local().Format(time.TimeOnly))
}

func (a *app) cmdStatus(ctx context.Context, args []string) error {
	fs := a.newFlagSet("status")
	rf := a.addRedisFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON (id, state, total, counts, ...)")
	watch := fs.Bool("watch", false, "redraw a progress bar until the campaign ends")
	id, store, closeFn, err := a.campaignArgs(ctx, fs, rf, args)
	if err != nil {
		return err
	}
	defer closeFn()
	if *watch {
		c, err := a.watchWith(ctx, store, id, watchOptions{stallAfter: a.stallAfter})
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil // Ctrl-C is how a watch ends: nothing went wrong
		}
		if err != nil {
			return err
		}
		return a.printStatusHint(ctx, store, c, *asJSON)
	}
	c, err := store.Get(ctx, id)
	if err != nil {
		return err
	}
	return a.printStatusHint(ctx, store, c, *asJSON)
}

// printStatusHint is printStatusReasons, then (on stderr, so that stdout
// stays the status) what to do with a campaign that waits for someone.
func (a *app) printStatusHint(ctx context.Context, store *jobs.Store, c *jobs.Campaign, asJSON bool) error {
	if err := a.printStatusReasons(ctx, store, c, asJSON); err != nil {
		return err
	}
	if h := holdHint(c, store.Namespace()); h != "" {
		fmt.Fprintln(a.stderr, h)
	}
	return nil
}

// printStatusReasons is printStatus with the top failure reasons.
func (a *app) printStatusReasons(ctx context.Context, store *jobs.Store, c *jobs.Campaign, asJSON bool) error {
	if asJSON {
		return a.writeJSON(a.summaryJSON(ctx, store, c))
	}
	if err := a.printStatus(c); err != nil {
		return err
	}
	a.printSnapshotStatus(ctx, store, c)
	printExpressStatus(a.stdout, c, a.readExpress(ctx, store, c))
	a.printFailureReasons(ctx, store, c, reportCommand(c.ID, store.Namespace()))
	return nil
}

func (a *app) printStatus(c *jobs.Campaign) error {
	s := statusJSON(c)
	w := a.stdout
	fmt.Fprintf(w, "campaign:  %s (%s)\n", c.ID, c.Name)
	fmt.Fprintf(w, "state:     %s", c.State)
	if c.Reason != "" {
		fmt.Fprintf(w, " — %s", c.Reason)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "mode:      %s\n", modeText(c))
	if wait := restoreWaits(c, time.Now()); wait != "" {
		fmt.Fprintf(w, "waiting:   %s\n", wait)
	}
	fmt.Fprintf(w, "total:     %d\n", c.Total)
	for _, o := range append(append([]string{}, jobs.Outcomes...), jobs.OutcomePending) {
		if s.Counts[o] == 0 && !outcomeOfMode(o, c.Mode) {
			continue // an outcome this kind of campaign never records
		}
		fmt.Fprintf(w, "  %-16s %d\n", o, s.Counts[o])
	}
	fmt.Fprintf(w, "created:   %s\n", c.CreatedAt.Format(time.RFC3339))
	if !c.FinishedAt.IsZero() {
		fmt.Fprintf(w, "finished:  %s\n", c.FinishedAt.Format(time.RFC3339))
	}
	return nil
}

// modeText says what a campaign does to each asset.
func modeText(c *jobs.Campaign) string {
	switch c.Mode {
	case jobs.ModeRemove:
		return "remove " + strings.Join(c.Labels, ",")
	case jobs.ModeRestore:
		how := "add back the labels removed (POST)"
		if c.Exact {
			how = "set exactly the labels of the snapshot (PATCH update_type=replace)"
		}
		if c.RestoreOf != "" {
			return "restore: undo of campaign " + c.RestoreOf + ", " + how
		}
		return "restore from a snapshot file, " + how
	}
	return "delete all labels"
}

// outcomeOfMode reports whether campaigns of mode m can record outcome o:
// status lists those even at 0, and the others only when they occur.
func outcomeOfMode(o string, m jobs.Mode) bool {
	switch o {
	case jobs.OutcomeRestored, jobs.OutcomeUnchanged:
		return m == jobs.ModeRestore
	case jobs.OutcomeReset, jobs.OutcomeNotInInventory:
		return m != jobs.ModeRestore
	}
	return true
}

// printSnapshotStatus prints the snapshot part of status: none (the
// campaign cannot be undone), its progress, or what it found.
func (a *app) printSnapshotStatus(ctx context.Context, store *jobs.Store, c *jobs.Campaign) {
	w := a.stdout
	if c.Mode == jobs.ModeRestore {
		return
	}
	if !c.Snapshot {
		// Campaigns stored before snapshots existed read as none too.
		fmt.Fprintf(w, "snapshot:  none (--no-snapshot, or created before snapshots existed): this campaign cannot be undone\n")
		return
	}
	info, err := store.Snapshot(ctx, c)
	if err != nil {
		a.log.Warn("snapshot progress could not be read", "campaign", c.ID, "err", err)
		return
	}
	if !info.Complete {
		fmt.Fprintf(w, "snapshot:  %s\n", snapshotProgress(info))
		if lf := info.ListingFailing; lf != nil {
			fmt.Fprintf(w, "  %s; it keeps retrying\n", listingFailing(lf))
		}
		return
	}
	fmt.Fprintf(w, "snapshot:  complete (%s): every asset's labels recorded before any reset; labelreset undo %s puts them back\n",
		info.FinishedAt.Format(time.RFC3339), c.ID)
	printSnapshotFound(w, info, c.Total, "  ")
}

// snapshotProgress is one line of a snapshot still being taken.
func snapshotProgress(info *jobs.SnapshotInfo) string {
	elapsed := info.Elapsed
	if elapsed == 0 && !info.StartedAt.IsZero() {
		elapsed = time.Since(info.StartedAt)
	}
	segs := ""
	if info.Segments > 1 {
		segs = fmt.Sprintf(" (%d of %d segments done)", info.SegmentsDone, info.Segments)
	}
	return fmt.Sprintf("taking%s: %s, %d assets listed, %d of the campaign's found, %s",
		segs, count(info.Pages, "page"), info.Listed, info.Found, elapsed.Round(time.Second))
}

// listingFailing names the snapshot's last listing failure: without it a
// snapshot stuck on a PDCP outage reads as one that merely does not move.
func listingFailing(lf *jobs.ListingFailure) string {
	return fmt.Sprintf("listing failing: %s (%s, last %s)", lf.Error, count(lf.Failures, "attempt"), lf.At.Local().Format(time.TimeOnly))
}

// snapshotCost is the pages and time a complete snapshot took.
func snapshotCost(info *jobs.SnapshotInfo) string {
	return fmt.Sprintf("%s (%d assets listed) in %s", count(info.Pages, "listing request"), info.Listed,
		info.Elapsed.Round(10*time.Millisecond))
}

// printSnapshotFound prints what a complete snapshot (or a preview)
// found among total assets.
func printSnapshotFound(w io.Writer, info *jobs.SnapshotInfo, total int64, indent string) {
	fmt.Fprintf(w, "%swith labels:      %d of %d\n", indent, info.WithLabels, total)
	fmt.Fprintf(w, "%swithout labels:   %d\n", indent, info.WithoutLabels)
	fmt.Fprintf(w, "%snot in inventory: %d\n", indent, info.NotInInventory)
	if len(info.TopLabels) > 0 {
		tops := make([]string, len(info.TopLabels))
		for i, l := range info.TopLabels {
			tops[i] = fmt.Sprintf("%q (%d)", l.Label, l.Assets)
		}
		fmt.Fprintf(w, "%stop labels:       %s\n", indent, strings.Join(tops, ", "))
	}
	fmt.Fprintf(w, "%spages and time:   %s\n", indent, snapshotCost(info))
}
