package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"
)

func (a *app) cmdCampaigns(ctx context.Context, args []string) error {
	fs := a.newFlagSet("campaigns")
	rf := a.addRedisFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 100, "most recent campaigns to list")
	if _, err := a.parseFlags(fs, args); err != nil {
		return err
	}
	store, closeFn, err := a.storeFor(ctx, rf)
	if err != nil {
		return err
	}
	defer closeFn()
	cs, err := store.List(ctx, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]campaignStatus, len(cs))
		for i, c := range cs {
			out[i] = statusJSON(c)
		}
		return a.writeJSON(out)
	}
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tTOTAL\tRESET\tNOT_FOUND\tINVALID\tFAILED\tCANCELLED\tPENDING\tCREATED\tFINISHED")
	for _, c := range cs {
		s := statusJSON(c)
		fin := "-"
		if s.FinishedAt != nil {
			fin = s.FinishedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", c.ID, c.State, c.Total,
			s.Counts["reset"], s.Counts["not_found"], s.Counts["invalid"], s.Counts["failed"],
			s.Counts["cancelled"], s.Counts["pending"], c.CreatedAt.Format(time.RFC3339), fin)
	}
	return tw.Flush()
}
