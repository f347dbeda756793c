package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/labelreset/labelreset/jobs/schedule"
)

func (a *app) cmdSchedules(ctx context.Context, args []string) error {
	fs := a.newFlagSet("schedules")
	rf := a.addRedisFlags(fs)
	config := fs.String("config", "", "schedules YAML file")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := a.parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := a.loadSchedules(*config)
	if err != nil {
		return err
	}
	store, closeFn, err := a.storeFor(ctx, rf)
	if err != nil {
		return err
	}
	defer closeFn()
	list, err := schedule.List(ctx, store, cfg, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		return a.writeJSON(list)
	}
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCRON\tTIMEZONE\tNEXT\tLAST FIRE\tLAST CAMPAIGN\tLAST ERROR")
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Cron, s.Timezone, ts(s.Next), ts(s.LastFire),
			orDash(s.LastCampaign), orDash(s.LastError))
	}
	return tw.Flush()
}
