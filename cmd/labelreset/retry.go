package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/labelreset/labelreset/jobs"
)

func (a *app) cmdRetry(ctx context.Context, args []string) error {
	fs := a.newFlagSet("retry")
	rf := a.addRedisFlags(fs)
	outcomes := fs.String("outcome", "failed", "re-drive assets whose latest outcome is one of these (comma-separated)")
	asJSON := fs.Bool("json", false, "print JSON")
	id, store, closeFn, err := a.campaignArgs(ctx, fs, rf, args)
	if err != nil {
		return err
	}
	defer closeFn()
	want := splitList(*outcomes)
	n, err := store.Redrive(ctx, id, want)
	if err != nil {
		return err
	}
	c, err := store.Get(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.writeJSON(map[string]any{"campaign": id, "requeued": n, "state": c.State})
	}
	fmt.Fprintf(a.stdout, "campaign %s: %d assets re-enqueued", id, n)
	if n == 0 {
		if len(want) == 0 {
			want = []string{jobs.OutcomeFailed}
		}
		fmt.Fprintf(a.stdout, " (no asset has outcome %s)\n", strings.Join(want, ","))
		return nil
	}
	// A retry never releases a held campaign: say what will.
	switch c.State {
	case jobs.StatePaused, jobs.StateBlocked:
		fmt.Fprintf(a.stdout, "; the campaign stays %s: nothing is called until `labelreset resume %s`\n", c.State, id)
	case jobs.StatePending:
		fmt.Fprintf(a.stdout, "; the campaign stays pending: nothing is called until `labelreset approve %s`\n", id)
	default:
		fmt.Fprintln(a.stdout)
	}
	return nil
}
