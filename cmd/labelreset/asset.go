package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// assetJSON is asset --json: the same object as GET /v1/assets/{id}.
type assetJSON struct {
	AssetID   int64           `json:"asset_id"`
	Campaigns []jobs.AssetHit `json:"campaigns"`
}

// cmdAsset shows an asset's outcome in every campaign that holds it,
// newest first. Like status, it reads Redis directly and sees every team's
// campaigns: whoever holds the Redis URL holds all of them anyway.
func (a *app) cmdAsset(ctx context.Context, args []string) error {
	fs := a.newFlagSet("asset")
	rf := a.addRedisFlags(fs)
	asJSON := fs.Bool("json", false, `print JSON: {"asset_id", "campaigns": [...]} as GET /v1/assets/{id} answers`)
	pos, err := a.parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one asset ID argument, got %d", len(pos))
	}
	id, err := idfile.ParseID(pos[0])
	if err != nil {
		return usageError{err}
	}
	store, closeFn, err := a.storeFor(ctx, rf)
	if err != nil {
		return err
	}
	defer closeFn()
	hits, err := store.FindAsset(ctx, id, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		if hits == nil {
			hits = []jobs.AssetHit{}
		}
		return a.writeJSON(assetJSON{AssetID: id, Campaigns: hits})
	}
	if len(hits) == 0 {
		fmt.Fprintf(a.stdout, "asset %d: in no campaign\n", id)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	// The error is last: free text of any length.
	fmt.Fprintln(tw, "CAMPAIGN\tSTATE\tMODE\tOUTCOME\tSTATUS\tATTEMPTS\tCREATED\tFINISHED\tERROR")
	for _, h := range hits {
		r := h.Record
		fin, status := "-", "-"
		if !r.FinishedAt.IsZero() {
			fin = r.FinishedAt.Format(time.RFC3339)
		}
		if r.Status != 0 {
			status = fmt.Sprint(r.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", h.Campaign, h.State, h.Mode, r.Outcome, status,
			r.Attempts, h.CreatedAt.Format(time.RFC3339), fin, tableCell(r.Error, 80))
	}
	return tw.Flush()
}
