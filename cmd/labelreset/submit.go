package main

import (
	"context"
	"fmt"
	"io"

	"github.com/labelreset/labelreset/jobs"
)

func (a *app) cmdSubmit(ctx context.Context, args []string) error {
	fs := a.newFlagSet("submit")
	rf := a.addRedisFlags(fs)
	af := a.addAPIFlags(fs)
	cf := a.addCampaignFlags(fs)
	fs.Float64Var(&cf.rate, "rate", DefaultRate, "the workers' shared requests/s (their --rate), for the plan's time estimate; 0: unlimited")
	noPreflight := addPreflightFlag(fs)
	if _, err := a.parseFlags(fs, args); err != nil {
		return err
	}
	def, plan, err := a.plan(ctx, cf, af)
	if err != nil || plan == nil {
		return err // plan == nil: a dry run, already printed
	}
	if !*noPreflight {
		if err := a.submitPreflight(ctx, af, def); err != nil {
			return err
		}
	}
	_, rdb, err := a.connect(ctx, rf)
	if err != nil {
		return err
	}
	defer rdb.Close()
	store := jobs.NewStore(rdb, jobs.StoreOptions{Namespace: rf.namespace, Actor: jobs.CLIActor()})
	approved := cf.yes
	// A --select-all campaign waits for approval whatever is confirmed
	// here (as a select_all schedule's): nothing to ask.
	if !approved && !cf.qf.selectAll && cf.confirmAbove >= 0 && plan.Valid > cf.confirmAbove {
		// Without a terminal the campaign is staged pending for
		// 'labelreset approve'; an explicit "no" creates nothing.
		var asked bool
		if asked, approved = a.confirm(def, plan); asked && !approved {
			return usagef("not confirmed: campaign not submitted, nothing was written")
		}
	}
	res, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{
		Strict: cf.strict, Append: cf.appendIDs, ConfirmAbove: cf.confirmAbove, Approved: approved, RequireApproval: cf.qf.selectAll,
	})
	if err != nil {
		return err
	}
	a.printSubmit(res, cf.json, cf.qf.selectAll)
	return nil
}

// printSubmit says what Submit did; selectAll: the campaign was created
// with --select-all, which is why it waits for approval.
func (a *app) printSubmit(res *jobs.SubmitResult, asJSON, selectAll bool) {
	a.printSubmitTo(a.stdout, res, asJSON, selectAll)
}

// printSubmitTo is printSubmit to w.
func (a *app) printSubmitTo(w io.Writer, res *jobs.SubmitResult, asJSON, selectAll bool) {
	c := res.Campaign
	if asJSON {
		writeJSONTo(w, struct {
			Campaign any        `json:"campaign"`
			Plan     *jobs.Plan `json:"plan"`
			Created  bool       `json:"created"`
			Appended int64      `json:"appended"`
			Enqueued int        `json:"enqueued_batches"`
		}{statusJSON(c), res.Plan, res.Created, res.Appended, res.Enqueued})
		return
	}
	switch {
	case res.Existing:
		fmt.Fprintf(w, "campaign %s already holds this input (%d assets, %s); nothing new enqueued\n", c.ID, c.Total, c.State)
	case res.Created:
		fmt.Fprintf(w, "campaign %s created: %s in %s (%s, %s skipped)\n", c.ID, count(res.Plan.Valid, "asset"),
			count(int64(res.Plan.Batches), "batch"), count(res.Plan.Duplicates, "duplicate"), count(res.Plan.Bad, "bad row"))
	default:
		fmt.Fprintf(w, "campaign %s: %d new assets appended\n", c.ID, res.Appended)
	}
	if res.Created && !c.Snapshot {
		fmt.Fprintf(w, "campaign %s takes no snapshot (--no-snapshot): it cannot be undone\n", c.ID)
	}
	switch {
	case c.State != jobs.StatePending:
	case res.Created && selectAll:
		fmt.Fprintf(w, "campaign %s selects every asset of the team (--select-all) and waits for approval:\n  labelreset approve %s\n", c.ID, c.ID)
	default:
		fmt.Fprintf(w, "campaign %s has %d assets (above --confirm-above) and waits for approval:\n  labelreset approve %s\n", c.ID, c.Total, c.ID)
	}
}
