package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// campaignStatus is the JSON form of a campaign in every status-like
// command (and the HTTP API).
type campaignStatus struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	State      jobs.State       `json:"state"`
	Reason     string           `json:"reason,omitempty"`
	Total      int64            `json:"total"`
	Counts     map[string]int64 `json:"counts"`
	Mode       jobs.Mode        `json:"mode"`
	Labels     []string         `json:"labels,omitempty"`
	TeamID     string           `json:"team_id,omitempty"`
	APIServer  string           `json:"api_server,omitempty"`
	Priority   jobs.Priority    `json:"priority"`
	Source     string           `json:"source,omitempty"`
	Redrives   int              `json:"redrives"`
	CreatedAt  time.Time        `json:"created_at"`
	FinishedAt *time.Time       `json:"finished_at"`
	// FailureReasons are the topReasons most frequent reasons of failed
	// and invalid assets, in the summaries of status and run only: reading
	// them costs a Redis call that a list of campaigns does not make.
	FailureReasons []jobs.FailureReason `json:"failure_reasons,omitempty"`
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
	}
	if !c.FinishedAt.IsZero() {
		t := c.FinishedAt
		s.FinishedAt = &t
	}
	return s
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
	mode := "delete all labels"
	if c.Mode == jobs.ModeRemove {
		mode = "remove " + strings.Join(c.Labels, ",")
	}
	fmt.Fprintf(w, "mode:      %s\n", mode)
	fmt.Fprintf(w, "total:     %d\n", c.Total)
	for _, o := range append(append([]string{}, jobs.Outcomes...), jobs.OutcomePending) {
		fmt.Fprintf(w, "  %-10s %d\n", o, s.Counts[o])
	}
	fmt.Fprintf(w, "created:   %s\n", c.CreatedAt.Format(time.RFC3339))
	if !c.FinishedAt.IsZero() {
		fmt.Fprintf(w, "finished:  %s\n", c.FinishedAt.Format(time.RFC3339))
	}
	return nil
}
