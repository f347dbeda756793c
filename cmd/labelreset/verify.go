package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/worker/ratelimit"
)

// shownWrong bounds the wrong and missing assets verify lists as text
// (--report has them all).
const shownWrong = 10

// cmdVerify lists the inventory again (GET only, from the workers' shared
// rate limit) and checks each asset of a campaign against what the
// campaign intended. Exit code 0: every checked asset is right; 1: some
// are wrong or missing.
func (a *app) cmdVerify(ctx context.Context, args []string) error {
	fs := a.newFlagSet("verify")
	rf := a.addRedisFlags(fs)
	af := a.addAPIFlags(fs)
	asJSON := fs.Bool("json", false, "print the counts (and the wrong and missing assets) as JSON")
	report := fs.String("report", "", "write every asset's verdict to this CSV file (asset_id, outcome, result, labels)")
	exact := fs.Bool("exact", false, "after a restore: each restored asset must hold exactly the restored labels")
	rate := fs.Float64("rate", DefaultRate, "listing requests/s, taken from the workers' shared budget for this API key (their --rate); 0 = unlimited")
	pos, err := a.parseFlags(fs, args)
	if err != nil {
		return err
	}
	id, err := oneCampaign(pos)
	if err != nil {
		return err
	}
	_, rdb, err := a.connect(ctx, rf)
	if err != nil {
		return err
	}
	defer a.closeRedis(rdb)
	store := jobs.NewStore(rdb, jobs.StoreOptions{Namespace: rf.namespace, Actor: jobs.CLIActor()})
	c, err := store.Get(ctx, id)
	if err != nil {
		return err
	}
	ccfg, err := a.verifyClientConfig(af, c)
	if err != nil {
		return err
	}
	v, err := store.NewVerification(ctx, c, jobs.VerifyOptions{Exact: *exact})
	if err != nil {
		return err
	}
	lim, err := ratelimit.New(rdb, ratelimit.Config{Key: limiterKey(rf.namespace, ccfg), Rate: *rate}, prometheus.NewRegistry())
	if err != nil {
		return usageError{err}
	}
	defer lim.Close()
	pc, err := client.New(ccfg)
	if err != nil {
		return err
	}
	defer pc.CloseIdleConnections()
	filter, err := campaignFilter(c)
	if err != nil {
		return err
	}
	start := time.Now()
	var listed int64
	pages, err := listInventory(ctx, pc, filter, func(ctx context.Context) error { return lim.Wait(ctx, c.TeamID) },
		func(page []client.Asset) error {
			listed += int64(len(page))
			v.Add(page)
			return nil
		})
	if err != nil {
		return fmt.Errorf("verify %s: %w", id, err)
	}
	elapsed := time.Since(start)
	if *report != "" {
		if err := writeVerifyReport(*report, v); err != nil {
			return err
		}
	}
	counts := v.Counts()
	var bad []jobs.VerifyRow
	v.Each(func(r jobs.VerifyRow) error {
		if (r.Result == jobs.VerifyWrong || r.Result == jobs.VerifyMissing) && len(bad) < 100 {
			bad = append(bad, r)
		}
		return nil
	})
	ok := counts[jobs.VerifyWrong] == 0 && counts[jobs.VerifyMissing] == 0
	if *asJSON {
		a.writeJSON(struct {
			Campaign string           `json:"campaign"`
			Mode     jobs.Mode        `json:"mode"`
			OK       bool             `json:"ok"`
			Counts   map[string]int64 `json:"counts"`
			Pages    int64            `json:"pages"`
			Listed   int64            `json:"listed"`
			Elapsed  time.Duration    `json:"elapsed_ns"`
			Problems []jobs.VerifyRow `json:"problems,omitempty"` // the first 100 wrong or missing
			Report   string           `json:"report,omitempty"`
		}{id, c.Mode, ok, counts, pages, listed, elapsed, bad, *report})
	} else {
		a.printVerify(c, counts, pages, listed, elapsed, bad, *report)
	}
	if !ok {
		return exitError{exitFailed}
	}
	return nil
}

// verifyClientConfig is the PDCP client of a verification: the key of
// the configuration, the campaign's team, and the campaign's API server,
// which the configuration must point at (the same IDs are other assets
// elsewhere, as for workers).
func (a *app) verifyClientConfig(af *apiFlags, c *jobs.Campaign) (client.Config, error) {
	ccfg, err := af.resolve(a.getenv, 1)
	if err != nil {
		return ccfg, err
	}
	server, err := client.NormalizeServer(ccfg.Server)
	if err != nil {
		return ccfg, usageError{err}
	}
	if c.Server != "" && c.Server != server {
		return ccfg, usagef("campaign %s is for API server %s; this configuration points at %s: verify lists the campaign's own server (--api-server)",
			c.ID, c.Server, server)
	}
	ccfg.TeamID = c.TeamID
	return ccfg, nil
}

func (a *app) printVerify(c *jobs.Campaign, counts map[string]int64, pages, listed int64, elapsed time.Duration, bad []jobs.VerifyRow, report string) {
	w := a.stdout
	intent := "none of the removed labels remain on the reset assets"
	if c.Mode == jobs.ModeRestore {
		intent = "every restored label is back on the restored assets"
	}
	fmt.Fprintf(w, "verify %s (%s): %s\n", c.ID, intent, verdict(counts))
	fmt.Fprintf(w, "  listed:   %d assets in %s, %s\n", listed, count(pages, "page"), elapsed.Round(10*time.Millisecond))
	for _, r := range jobs.VerifyResults {
		fmt.Fprintf(w, "  %-11s %d\n", r+":", counts[r])
	}
	for i, r := range bad {
		if i == shownWrong {
			fmt.Fprintf(w, "  ... and more: --report FILE lists every asset\n")
			break
		}
		switch r.Result {
		case jobs.VerifyMissing:
			fmt.Fprintf(w, "  asset %d (%s): not in the listing\n", r.AssetID, r.Outcome)
		default:
			fmt.Fprintf(w, "  asset %d (%s): wrong: %s\n", r.AssetID, r.Outcome, quoteLabels(r.Labels))
		}
	}
	if report != "" {
		fmt.Fprintf(a.stderr, "verify: every asset's verdict written to %s\n", report)
	}
}

func verdict(counts map[string]int64) string {
	var unchecked string
	if n := counts[jobs.VerifyUnchecked]; n > 0 {
		// Said in the verdict: "all ok" must not read as covering assets
		// whose removed labels nothing recorded.
		unchecked = fmt.Sprintf("; %s reset with no label known to check", count(n, "asset"))
	}
	if counts[jobs.VerifyWrong] == 0 && counts[jobs.VerifyMissing] == 0 {
		return fmt.Sprintf("all %d checked assets ok%s", counts[jobs.VerifyOK], unchecked)
	}
	return fmt.Sprintf("%d wrong, %d missing of %d checked%s", counts[jobs.VerifyWrong], counts[jobs.VerifyMissing],
		counts[jobs.VerifyOK]+counts[jobs.VerifyWrong]+counts[jobs.VerifyMissing], unchecked)
}

func quoteLabels(labels []string) string {
	q := make([]string, len(labels))
	for i, l := range labels {
		q[i] = strconv.Quote(l)
	}
	return strings.Join(q, ", ")
}

// writeVerifyReport writes every asset's verdict as CSV, atomically (temp
// file + rename). The labels column is a JSON array: labels may hold
// commas, quotes and any other character.
func writeVerifyReport(path string, v *jobs.Verification) error {
	tmp, err := os.CreateTemp(dirOf(path), ".labelreset-verify-*")
	if err != nil {
		return fmt.Errorf("verify report %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = writeVerifyCSV(tmp, v)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("verify report %s: %w", path, err)
	}
	return nil
}

func writeVerifyCSV(w io.Writer, v *jobs.Verification) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"asset_id", "outcome", "result", "labels"})
	err := v.Each(func(r jobs.VerifyRow) error {
		labels, err := json.Marshal(r.Labels)
		if err != nil {
			return err
		}
		return cw.Write([]string{strconv.FormatInt(r.AssetID, 10), r.Outcome, r.Result, string(labels)})
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return err
}
