package main

import (
	"context"
	"fmt"
)

func controlCmd(action string) func(*app, context.Context, []string) error {
	return func(a *app, ctx context.Context, args []string) error {
		fs := a.newFlagSet(action)
		rf := a.addRedisFlags(fs)
		asJSON := fs.Bool("json", false, "print the campaign as JSON afterwards")
		id, store, closeFn, err := a.campaignArgs(ctx, fs, rf, args)
		if err != nil {
			return err
		}
		defer closeFn()
		switch action {
		case "approve":
			_, err = store.Approve(ctx, id)
		case "pause":
			err = store.Pause(ctx, id)
		case "resume":
			_, err = store.Resume(ctx, id)
		case "cancel":
			_, err = store.Cancel(ctx, id)
		}
		if err != nil {
			return err
		}
		c, err := store.Get(ctx, id)
		if err != nil {
			return err
		}
		// A cancelled express campaign whose bulk call was sent: say what
		// cancelling did not stop, as the API's answer does.
		var note string
		s := statusJSON(c)
		if action == "cancel" && c.Express {
			s.Express = a.readExpress(ctx, store, c)
			note = s.Express.CancelNote()
		}
		if *asJSON {
			return a.writeJSON(struct {
				campaignStatus
				Note string `json:"note,omitempty"`
			}{s, note})
		}
		fmt.Fprintf(a.stdout, "campaign %s: %s\n", id, c.State)
		if note != "" {
			fmt.Fprintf(a.stdout, "note: %s\n", note)
		}
		return nil
	}
}
