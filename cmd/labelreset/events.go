package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"
)

// cmdEvents prints a campaign's audit log: who changed its state, when,
// from what to what.
func (a *app) cmdEvents(ctx context.Context, args []string) error {
	fs := a.newFlagSet("events")
	rf := a.addRedisFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON: {campaign, events: [{time, actor, action, from, to, reason}]}")
	id, store, closeFn, err := a.campaignArgs(ctx, fs, rf, args)
	if err != nil {
		return err
	}
	defer closeFn()
	evs, err := store.Events(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.writeJSON(map[string]any{"campaign": id, "events": evs})
	}
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tFROM\tTO\tREASON")
	for _, e := range evs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Actor, e.Action,
			orDash(string(e.From)), e.To, orDash(e.Reason))
	}
	return tw.Flush()
}
