package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

func (a *app) cmdRun(ctx context.Context, args []string) error {
	a.tuneGC()
	fs := a.newFlagSet("run")
	rf := a.addRedisFlags(fs)
	af := a.addAPIFlags(fs)
	cf := a.addCampaignFlags(fs)
	wf := a.addWorkerFlags(fs, "")
	report := fs.String("report", "", "write the per-asset report to this file when the campaign ends")
	reportFormat := fs.String("report-format", "csv", "csv or jsonl")
	demo := fs.Bool("demo", false, "serve a built-in fake PDCP in-process and run against it (no API key needed)")
	demoAssets := fs.Int("demo-assets", 5000, "assets of the --demo fake")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cf.rate = wf.rate
	rfmt, err := jobs.ParseReportFormat(*reportFormat)
	if err != nil {
		return usageError{err}
	}
	if *demo {
		fake := pdcpfake.NewServer(pdcpfake.Options{
			APIKey: "demo-key", Assets: *demoAssets, Seed: 1,
			FailFraction: 0.05, FailTimes: 2, ThrottleFraction: 0.01, Latency: 2 * time.Millisecond,
			LatencyJitter: 8 * time.Millisecond,
		})
		defer fake.Close()
		af.server, af.key, af.team, af.credentials = fake.URL(), "demo-key", "", ""
		fmt.Fprintf(a.stderr, "demo: fake PDCP with %d assets at %s (5%% failing twice, 1%% throttled)\n", *demoAssets, fake.URL())
		if cf.csv == "" && cf.ids == "" {
			// Ask for 3% more IDs than exist, so some answer 404.
			n := *demoAssets + *demoAssets*3/100
			ids := make([]string, n)
			for i := range ids {
				ids[i] = strconv.Itoa(i + 1)
			}
			cf.ids = joinComma(ids)
		}
		cf.yes = true
		if cf.id == "" {
			cf.id = "demo-" + time.Now().UTC().Format("20060102-150405")
		}
	}
	def, plan, err := a.plan(cf, af)
	if err != nil || plan == nil {
		return err // plan == nil: a dry run, already printed
	}
	ccfg, err := af.resolve(a.getenv, wf.concurrency)
	if err != nil {
		return err
	}
	if !cf.yes && cf.confirmAbove >= 0 && plan.Valid > cf.confirmAbove {
		if _, yes := a.confirm(def, plan); !yes {
			return usagef("campaign has %d assets, above --confirm-above %d: confirm with --yes (or submit it and 'labelreset approve' it)",
				plan.Valid, cf.confirmAbove)
		}
	}

	if err := wf.listenMetrics(); err != nil {
		return err
	}
	defer wf.closeMetrics()

	var ropts *redis.UniversalOptions
	var rdb redis.UniversalClient
	embedded := rf.url == ""
	if embedded {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start embedded Redis: %w", err)
		}
		defer mr.Close()
		fmt.Fprintf(a.stderr, "no Redis configured (--redis / REDIS_URL): using an embedded Redis at %s; "+
			"campaign state lives in this process only\n", mr.Addr())
		rf.url = "redis://" + mr.Addr()
	}
	ropts, rdb, err = a.connect(ctx, rf)
	if err != nil {
		return err
	}
	defer rdb.Close()
	store := jobs.NewStore(rdb, jobs.StoreOptions{Namespace: rf.namespace})
	res, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{
		Strict: cf.strict, Append: cf.appendIDs, ConfirmAbove: -1, Approved: true,
	})
	if err != nil {
		return err
	}
	a.printSubmit(res, false)
	id := res.Campaign.ID
	if res.Campaign.State == jobs.StatePending {
		if _, err := store.Approve(ctx, id); err != nil {
			return err
		}
	}

	// Only this campaign: on a shared Redis, other people's campaigns are
	// theirs to work, with their own API server and key.
	rw, err := a.buildWorker(ropts, rdb, rf.namespace, ccfg, wf, id)
	if err != nil {
		return err
	}
	wctx, stopWorker := context.WithCancel(context.Background())
	werr := make(chan error, 1)
	go func() { werr <- rw.run(wctx) }()

	c, watchErr := a.watch(ctx, store, id, false)
	stopWorker()
	if err := <-werr; err != nil {
		return err
	}
	// Reload: the last outcomes were flushed while the worker stopped.
	if fresh, err := store.Get(context.Background(), id); err == nil {
		c = fresh
	}
	if *report != "" {
		n, err := a.writeReport(context.Background(), store, id, *report, rfmt, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "report: %d rows written to %s\n", n, *report)
	}
	a.printSummary(c)
	if errors.Is(watchErr, context.Canceled) {
		if embedded {
			fmt.Fprintf(a.stderr, "interrupted: the embedded Redis goes away with this process; unfinished assets are listed as pending in the report\n")
		} else {
			fmt.Fprintf(a.stderr, "interrupted: campaign %s stays in Redis; continue it with 'labelreset worker'\n", id)
		}
		return exitError{exitStopped}
	}
	return a.campaignExit(c, embedded)
}

func (a *app) printSummary(c *jobs.Campaign) {
	s := statusJSON(c)
	fmt.Fprintf(a.stdout, "campaign %s %s: %d assets — reset %d, not_found %d, invalid %d, failed %d, cancelled %d, pending %d\n",
		c.ID, c.State, c.Total, s.Counts["reset"], s.Counts["not_found"], s.Counts["invalid"], s.Counts["failed"],
		s.Counts["cancelled"], s.Counts["pending"])
	if c.Reason != "" {
		fmt.Fprintf(a.stdout, "reason: %s\n", c.Reason)
	}
}

// campaignExit maps a campaign's end to the exit code: 0 all reset or
// not_found, 1 some invalid or failed, 3 stopped before the end.
func (a *app) campaignExit(c *jobs.Campaign, embedded bool) error {
	switch {
	case c.State == jobs.StateBlocked || c.State == jobs.StateStopped || c.State == jobs.StateCancelled || c.State == jobs.StatePaused:
		if embedded {
			fmt.Fprintf(a.stderr, "campaign %s is %s; the embedded Redis goes away with this process: rerun with --redis to keep campaigns resumable\n", c.ID, c.State)
		} else {
			fmt.Fprintf(a.stderr, "campaign %s is %s: fix the cause, then 'labelreset resume %s' and run a worker\n", c.ID, c.State, c.ID)
		}
		return exitError{exitStopped}
	case c.Counts[jobs.OutcomeInvalid] > 0 || c.Counts[jobs.OutcomeFailed] > 0:
		return exitError{exitFailed}
	}
	return nil
}

func joinComma(s []string) string {
	n := 0
	for _, v := range s {
		n += len(v) + 1
	}
	b := make([]byte, 0, n)
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, v...)
	}
	return string(b)
}
