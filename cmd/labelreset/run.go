package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	outageLimit := fs.Duration("redis-outage-limit", 5*time.Minute,
		"how long to wait for an unreachable Redis before stopping with exit code 3 (the campaign stays in Redis)")
	if _, err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if *outageLimit <= 0 {
		return usagef("--redis-outage-limit %v: want a positive duration", *outageLimit)
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
	// approved: what this invocation's own prompt (or --yes) covered, and
	// nothing more: run never approves assets someone else staged.
	approved := cf.yes
	if !cf.yes && cf.confirmAbove >= 0 && plan.Valid > cf.confirmAbove {
		_, yes := a.confirm(def, plan)
		approved = yes
		if !yes {
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
	defer a.closeRedis(rdb)
	store := jobs.NewStore(rdb, jobs.StoreOptions{Namespace: rf.namespace, Actor: jobs.CLIActor()})
	res, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{
		Strict: cf.strict, Append: cf.appendIDs, ConfirmAbove: cf.confirmAbove, Approved: approved,
	})
	if err != nil {
		return err
	}
	a.printSubmit(res, false)
	id := res.Campaign.ID
	if res.Campaign.State == jobs.StatePending {
		// Pending for assets this invocation did not confirm: staged by
		// someone else (or a select_all schedule), or appended beyond
		// --confirm-above since the last approval. Approving them is an
		// approver's decision, not a side effect of run.
		why := res.Campaign.Reason
		if why == "" {
			why = "staged pending by its creator"
		}
		fmt.Fprintf(a.stderr, "campaign %s waits for approval of %d assets that this run did not confirm (%s); "+
			"run does not approve it: approve it with 'labelreset approve %s' (not by whoever staged them), "+
			"then work it with 'labelreset worker'\n",
			id, res.Campaign.Total-res.Campaign.ApprovedTotal, why, id)
		return exitError{exitStopped}
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

	// One deadline for the whole stop after a signal: the worker's stop,
	// the status reload, the report and closing Redis all fit in
	// --shutdown-timeout + stopGrace, also when Redis hangs.
	sctx, endBudget := stopBudget(ctx, wf.shutdownTimeout+stopGrace)
	defer endBudget()
	c, watchErr := a.watch(ctx, store, id, false, *outageLimit)
	if watchErr != nil {
		// Stopped by a signal or an outage: the budget starts now even
		// if ctx is still live (an outage).
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeoutCause(sctx, wf.shutdownTimeout+stopGrace, errStopBudget)
		defer cancel()
	}
	stopWorker()
	// A worker that could not write every outcome says so; the campaign
	// then has assets without one, which the exit code below reflects.
	stopErr := <-werr
	// Reload: the last outcomes were flushed while the worker stopped.
	// Bounded: Redis may still be down or hang.
	rctx, cancel := context.WithTimeout(sctx, 5*time.Second)
	var fresh *jobs.Campaign
	err = bounded(rctx, &a.inflight, func(ctx context.Context) (err error) {
		fresh, err = store.Get(ctx, id)
		return err
	})
	if err == nil {
		c = fresh
	} else if watchErr == nil {
		a.log.Warn("status reload after the stop failed: the summary may miss the last outcomes", "campaign", id, "err", err)
	}
	cancel()
	if *report != "" && c != nil {
		rctx, cancel := context.WithTimeout(sctx, time.Minute)
		var n int64
		err := bounded(rctx, &a.inflight, func(ctx context.Context) (err error) {
			n, err = a.writeReport(ctx, store, id, *report, rfmt, nil)
			return err
		})
		cancel()
		if err != nil && watchErr == nil && stopErr == nil {
			return err
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "report: not written: %v\n", err)
		} else {
			fmt.Fprintf(a.stderr, "report: %d rows written to %s\n", n, *report)
		}
	}
	if c != nil {
		a.printSummary(c)
	}
	if stopErr != nil {
		fmt.Fprintf(a.stderr, "labelreset: %v\n", stopErr)
	}
	var outage *redisOutageError
	switch {
	case errors.As(watchErr, &outage):
		fmt.Fprintf(a.stderr, "stopped: %v; the campaign's progress cannot be recorded without Redis\n", outage)
		a.printContinue(rf, id, embedded)
		return exitError{exitStopped}
	case errors.Is(watchErr, context.Canceled):
		if embedded {
			fmt.Fprintf(a.stderr, "interrupted: the embedded Redis goes away with this process; unfinished assets are listed as pending in the report\n")
		} else {
			fmt.Fprintf(a.stderr, "interrupted: campaign %s stays in Redis\n", id)
			a.printContinue(rf, id, embedded)
		}
		return exitError{exitStopped}
	case watchErr != nil:
		return watchErr
	case c == nil:
		return fmt.Errorf("campaign %s: no status could be read", id)
	}
	return a.campaignExit(c, embedded, func() { a.printContinue(rf, id, embedded) })
}

// printContinue prints the commands that finish a campaign this process
// leaves unfinished in Redis. They carry no secret: a Redis password shows
// as xxxxx and the API key comes from the environment as before.
func (a *app) printContinue(rf *redisFlags, id string, embedded bool) {
	if embedded {
		fmt.Fprintf(a.stderr, "the embedded Redis goes away with this process: rerun with --redis to keep campaigns resumable\n")
		return
	}
	ns := ""
	if rf.namespace != jobs.DefaultNamespace {
		ns = " --namespace " + rf.namespace
	}
	redisURL := jobs.RedactURL(rf.url)
	fmt.Fprintf(a.stderr, "continue campaign %s once Redis answers, with a worker (on any machine):\n"+
		"  labelreset worker --redis '%s'%s\n"+
		"  labelreset status %s%s --watch\n"+
		"or run the same 'labelreset run --campaign %s ...' again: assets already recorded are not called again\n",
		id, redisURL, ns, id, ns, id)
	if strings.Contains(redisURL, "xxxxx") {
		fmt.Fprintf(a.stderr, "(xxxxx stands for the Redis password of --redis/REDIS_URL)\n")
	}
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
// not_found, 1 some invalid or failed, 3 stopped before the end or with
// assets that have no outcome yet (cont prints how to continue it).
func (a *app) campaignExit(c *jobs.Campaign, embedded bool, cont func()) error {
	switch {
	case c.State == jobs.StateBlocked || c.State == jobs.StateStopped || c.State == jobs.StateCancelled || c.State == jobs.StatePaused:
		if embedded {
			fmt.Fprintf(a.stderr, "campaign %s is %s; the embedded Redis goes away with this process: rerun with --redis to keep campaigns resumable\n", c.ID, c.State)
		} else {
			fmt.Fprintf(a.stderr, "campaign %s is %s: fix the cause, then 'labelreset resume %s' and run a worker\n", c.ID, c.State, c.ID)
		}
		return exitError{exitStopped}
	case c.State != jobs.StateDone || c.Total-c.Finished() > 0:
		fmt.Fprintf(a.stderr, "campaign %s is %s with %d of %d assets without an outcome\n", c.ID, c.State, c.Total-c.Finished(), c.Total)
		cont()
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
