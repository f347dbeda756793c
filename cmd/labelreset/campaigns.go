package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/labelreset/labelreset/jobs"
)

// tableCell is s on one line (control characters as spaces), cut to at
// most n runes with "…".
func tableCell(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

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
	// MODE comes after the columns scripts already cut by position.
	fmt.Fprintln(tw, "ID\tSTATE\tTOTAL\tRESET\tNOT_FOUND\tINVALID\tFAILED\tCANCELLED\tPENDING\tCREATED\tFINISHED\tMODE\tNAME")
	for _, c := range cs {
		s := statusJSON(c)
		fin := "-"
		if s.FinishedAt != nil {
			fin = s.FinishedAt.Format(time.RFC3339)
		}
		// The name is last: it is free text, and a script cutting the
		// table by columns keeps finding the others where they were.
		// RESET of a restore campaign counts its restored assets: the
		// column is "calls that did what the campaign is for".
		done := s.Counts[jobs.OutcomeReset] + s.Counts[jobs.OutcomeRestored]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", c.ID, c.State, c.Total,
			done, s.Counts["not_found"], s.Counts["invalid"], s.Counts["failed"],
			s.Counts["cancelled"], s.Counts["pending"], c.CreatedAt.Format(time.RFC3339), fin, c.Mode, tableCell(c.Name, 48))
	}
	return tw.Flush()
}
