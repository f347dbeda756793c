package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// runFlags are the flags of run: a campaign (as submit), a worker (as
// worker) and what run adds.
type runFlags struct {
	rf           *redisFlags
	af           *apiFlags
	cf           *campaignFlags
	wf           *workerFlags
	report       string
	reportFormat jobs.ReportFormat
	demo         bool
	demoAssets   int
	outageLimit  time.Duration
	noPreflight  bool
	rateGiven    bool // --rate (or LABELRESET_RATE) set, which --demo keeps
	// snapshotFile is where run writes the campaign's snapshot ("" none):
	// --snapshot-file, else with the embedded Redis (which is gone when
	// run exits) labelreset-<campaign>.snapshot.jsonl.gz.
	snapshotFile      string
	snapshotFileGiven bool
	// undoPlan is the plan of undo --snapshot, which works its restore
	// as run does: its --json summary carries it.
	undoPlan *jobs.UndoPlan
}

// cmdRun submits a campaign, works it in this process and reports it. Each
// step is a method below, in the order they run.
func (a *app) cmdRun(ctx context.Context, args []string) error {
	a.tuneGC()
	f, err := a.runConfig(args)
	if err != nil {
		return err
	}
	if f.demo {
		defer a.startDemo(f)()
	}
	def, plan, err := a.plan(ctx, f.cf, f.af)
	if err != nil || plan == nil {
		return err // plan == nil: a dry run, already printed
	}
	if err := a.runPreflight(ctx, f, def); err != nil {
		return err
	}
	ccfg, approved, err := a.runApproval(f, def, plan)
	if err != nil {
		return err
	}
	if err := f.wf.listenMetrics(); err != nil {
		return err
	}
	defer f.wf.closeMetrics()
	rs, err := a.startRunRedis(ctx, f.rf)
	if err != nil {
		return err
	}
	defer rs.close()
	id, err := a.runSubmit(ctx, f, rs, def, plan, approved)
	if err != nil {
		return err
	}
	if err := a.runSnapshotFile(f, rs, def, id); err != nil {
		return err
	}
	w, err := a.workAndWatch(ctx, f, rs, ccfg, id)
	if err != nil {
		return err
	}
	defer w.done()
	return a.runSummary(f, rs, id, w)
}

// runConfig parses run's flags.
func (a *app) runConfig(args []string) (*runFlags, error) {
	fs := a.newFlagSet("run")
	f := &runFlags{rf: a.addRedisFlags(fs), af: a.addAPIFlags(fs), cf: a.addCampaignFlags(fs), wf: a.addWorkerFlags(fs, "")}
	report := fs.String("report", "", "write the per-asset report to this file when the campaign ends")
	reportFormat := fs.String("report-format", "csv", "csv or jsonl")
	fs.BoolVar(&f.demo, "demo", false, "serve a built-in fake PDCP in-process and run against it (no API key needed)")
	fs.IntVar(&f.demoAssets, "demo-assets", 5000, "assets of the --demo fake")
	fs.StringVar(&f.snapshotFile, "snapshot-file", "", "write the campaign's snapshot here as soon as it is complete, never over an existing file "+
		"(default with the embedded Redis: labelreset-CAMPAIGN.snapshot.jsonl.gz in the working directory; .gz is gzipped)")
	fs.DurationVar(&f.outageLimit, "redis-outage-limit", 5*time.Minute,
		"how long to wait for an unreachable Redis before stopping with exit code 3 (the campaign stays in Redis)")
	noPreflight := addPreflightFlag(fs)
	if _, err := a.parseFlags(fs, args); err != nil {
		return nil, err
	}
	f.noPreflight, f.rateGiven = *noPreflight, flagSet(fs, "rate")
	f.snapshotFileGiven = f.snapshotFile != ""
	switch {
	case f.snapshotFileGiven && f.cf.noSnapshot:
		return nil, usagef("--snapshot-file %s and --no-snapshot: a campaign without a snapshot writes none", f.snapshotFile)
	case f.snapshotFileGiven && fileExists(f.snapshotFile):
		return nil, usagef("--snapshot-file %s: %v: it is not overwritten (choose another name)", f.snapshotFile, errFileExists)
	}
	if f.outageLimit <= 0 {
		return nil, usagef("--redis-outage-limit %v: want a positive duration", f.outageLimit)
	}
	f.cf.rate = f.wf.rate
	f.report = *report
	var err error
	if f.reportFormat, err = jobs.ParseReportFormat(*reportFormat); err != nil {
		return nil, usageError{err}
	}
	return f, nil
}

// startDemo serves the --demo fake PDCP, points the API flags at it and,
// without an input, asks for all its assets; it returns the fake's closer.
func (a *app) startDemo(f *runFlags) (closeFake func()) {
	fake := pdcpfake.NewServer(pdcpfake.Options{
		APIKey: "demo-key", Assets: f.demoAssets, Seed: 1,
		FailFraction: 0.05, FailTimes: 2, ThrottleFraction: 0.01, Latency: 2 * time.Millisecond,
		LatencyJitter: 8 * time.Millisecond,
	})
	af, cf := f.af, f.cf
	af.server, af.key, af.team, af.credentials = fake.URL(), "demo-key", "", ""
	fmt.Fprintf(a.stderr, "demo: fake PDCP with %d assets at %s (5%% failing twice, 1%% throttled)\n", f.demoAssets, fake.URL())
	if cf.csv == "" && cf.ids == "" {
		// Ask for 3% more IDs than exist, so some answer 404.
		n := f.demoAssets + f.demoAssets*3/100
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
	// The fake runs in this process and is nobody's quota: the demo
	// shows the pipeline at full speed unless --rate says otherwise.
	if !f.rateGiven {
		f.wf.rate, cf.rate = 0, 0
	}
	return fake.Close
}

// runPreflight checks the API server (see preflight) with the team the
// campaign's calls will carry, unless --no-preflight.
func (a *app) runPreflight(ctx context.Context, f *runFlags, def *jobs.Campaign) error {
	if f.noPreflight {
		return nil
	}
	cfg, err := f.af.resolve(a.getenv, 1)
	if err != nil {
		return err
	}
	cfg.TeamID, cfg.Timeout = def.TeamID, f.wf.timeout
	return a.preflight(ctx, cfg)
}

// runApproval resolves the PDCP client configuration and says whether this
// invocation approved the campaign: its own prompt (or --yes) covers it,
// and nothing more: run never approves assets someone else staged.
func (a *app) runApproval(f *runFlags, def *jobs.Campaign, plan *jobs.Plan) (client.Config, bool, error) {
	cf := f.cf
	ccfg, err := f.af.resolve(a.getenv, f.wf.concurrency)
	if err != nil {
		return ccfg, false, err
	}
	if cf.yes || cf.confirmAbove < 0 || plan.Valid <= cf.confirmAbove || cf.qf.selectAll {
		// A --select-all campaign waits for an approver whatever this
		// run confirms (runSubmit says so): nothing to ask.
		return ccfg, cf.yes, nil
	}
	if _, yes := a.confirm(def, plan); !yes {
		return ccfg, false, usagef("campaign has %d assets, above --confirm-above %d: confirm with --yes (or submit it and 'labelreset approve' it)",
			plan.Valid, cf.confirmAbove)
	}
	return ccfg, true, nil
}

// runRedis is the Redis a run works on: the configured one, or an
// embedded one that lives as long as the process.
type runRedis struct {
	ropts    *redis.UniversalOptions
	rdb      redis.UniversalClient
	store    *jobs.Store
	embedded bool
	close    func()
}

// startRunRedis connects to --redis, or without one starts an embedded
// Redis and says that campaign state then lives in this process only.
func (a *app) startRunRedis(ctx context.Context, rf *redisFlags) (*runRedis, error) {
	rs := &runRedis{embedded: rf.url == ""}
	var mr *miniredis.Miniredis
	if rs.embedded {
		mr = miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start embedded Redis: %w", err)
		}
		fmt.Fprintf(a.stderr, "no Redis configured (--redis / REDIS_URL): using an embedded Redis at %s; "+
			"campaign state lives in this process only\n", mr.Addr())
		rf.url = "redis://" + mr.Addr()
	}
	var err error
	if rs.ropts, rs.rdb, err = a.connect(ctx, rf); err != nil {
		if mr != nil {
			mr.Close()
		}
		return nil, err
	}
	rs.store = jobs.NewStore(rs.rdb, jobs.StoreOptions{Namespace: rf.namespace, Actor: jobs.CLIActor()})
	rs.close = func() {
		a.closeRedis(rs.rdb)
		if mr != nil {
			mr.Close()
		}
	}
	return rs, nil
}

// runSubmit submits the campaign and returns its ID. A campaign left
// pending for assets this invocation did not confirm ends run with exit
// code 3 and says who approves it.
func (a *app) runSubmit(ctx context.Context, f *runFlags, rs *runRedis, def *jobs.Campaign, plan *jobs.Plan, approved bool) (string, error) {
	cf := f.cf
	res, err := rs.store.Submit(ctx, def, plan, jobs.SubmitOptions{
		Strict: cf.strict, Append: cf.appendIDs, ConfirmAbove: cf.confirmAbove, Approved: approved, RequireApproval: cf.qf.selectAll,
	})
	if err != nil {
		return "", err
	}
	// With --json, stdout holds the summary alone.
	a.printSubmitTo(a.runOut(cf), res, false, cf.qf.selectAll)
	id := res.Campaign.ID
	if res.Campaign.State != jobs.StatePending {
		return id, nil
	}
	// Pending for assets this invocation did not confirm: staged by
	// someone else (or a select_all schedule), or appended beyond
	// --confirm-above since the last approval. Approving them is an
	// approver's decision, not a side effect of run.
	why := res.Campaign.Reason
	switch {
	case why == "" && cf.qf.selectAll && res.Created:
		why = "--select-all: its query selects every asset of the team"
	case why == "":
		why = "staged pending by its creator"
	}
	fmt.Fprintf(a.stderr, "campaign %s waits for approval of %d assets that this run did not confirm (%s); "+
		"run does not approve it: approve it with 'labelreset approve %s' (not by whoever staged them), "+
		"then work it with 'labelreset worker'\n",
		id, res.Campaign.Total-res.Campaign.ApprovedTotal, why, id)
	if cf.json {
		a.writeJSON(statusJSON(res.Campaign))
	}
	return "", exitError{exitStopped}
}

// runSnapshotFile settles where run writes the campaign's snapshot, and
// refuses an existing file before any asset is called. The embedded Redis
// goes away with run, so without a file its campaign could never be
// undone; --demo writes none (its fake inventory is gone too), and
// --no-snapshot has none to write.
func (a *app) runSnapshotFile(f *runFlags, rs *runRedis, def *jobs.Campaign, id string) error {
	switch {
	case !def.Snapshot:
		f.snapshotFile = ""
		return nil
	case f.snapshotFileGiven:
	case !rs.embedded || f.demo:
		return nil
	default:
		f.snapshotFile = "labelreset-" + id + ".snapshot.jsonl.gz"
	}
	if fileExists(f.snapshotFile) {
		return usagef("snapshot file %s: %v: run does not overwrite it (move it, or choose another with --snapshot-file)", f.snapshotFile, errFileExists)
	}
	fmt.Fprintf(a.runOut(f.cf), "the snapshot will be written to %s once complete\n", f.snapshotFile)
	return nil
}

// snapshotFileWriter writes run's snapshot file once, when the snapshot
// completes, and rewrites it with the outcomes when the run ends.
type snapshotFileWriter struct {
	a       *app
	store   *jobs.Store
	path    string
	written bool
	assets  int64
	// file is the file as written: the rewrite replaces only that one.
	file os.FileInfo
}

// write exports campaign c's complete snapshot to the file; the line it
// returns says where.
func (s *snapshotFileWriter) write(ctx context.Context, c *jobs.Campaign) (string, error) {
	if s.written || s.path == "" {
		return "", nil
	}
	n, err := writeSnapshotFile(ctx, s.store, c.ID, s.path, false)
	if err != nil {
		return "", err
	}
	s.written, s.assets = true, n
	if s.file, err = os.Stat(s.path); err != nil {
		return "", fmt.Errorf("snapshot file %s: %w", s.path, err)
	}
	return fmt.Sprintf("snapshot: the labels of %d assets written to %s (undo with: labelreset undo --snapshot %s)", n, s.path, s.path), nil
}

// errSnapshotFileChanged is a snapshot file that is no longer the one run
// wrote (moved, replaced or edited since): run leaves it alone.
var errSnapshotFileChanged = errors.New("no longer the file run wrote")

// rewrite writes the file again, now with the campaign's outcomes (which
// assets it may have reset: what undo --snapshot --exact needs), when run
// wrote it and it is still the file run wrote. Atomically: a temporary
// file in the same directory renamed over it, so the file is always the
// complete old or the complete new export.
func (s *snapshotFileWriter) rewrite(ctx context.Context, c *jobs.Campaign) error {
	if !s.written {
		return nil
	}
	if err := s.unchanged(); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".labelreset-snapshot-*")
	if err != nil {
		return fmt.Errorf("snapshot file %s: %w", s.path, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	_, err = exportTo(ctx, s.store, c.ID, tmp, strings.HasSuffix(s.path, ".gz"))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.unchanged() // again: the export took a while
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		return fmt.Errorf("snapshot file %s: %w", s.path, err)
	}
	s.file, err = os.Stat(s.path)
	return err
}

// unchanged checks that the file at the path is still the one written.
func (s *snapshotFileWriter) unchanged() error {
	now, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	if !os.SameFile(now, s.file) || now.Size() != s.file.Size() || !now.ModTime().Equal(s.file.ModTime()) {
		return errSnapshotFileChanged
	}
	return nil
}

// runOut is where run writes what is not its result: stdout, or stderr
// when --json keeps stdout for the summary object.
func (a *app) runOut(cf *campaignFlags) io.Writer {
	if cf.json {
		return a.stderr
	}
	return a.stdout
}

// worked is how the work on a campaign ended: the campaign as last read
// (nil if never), why the watch ended early (a signal, an outage) and the
// worker's own stop error.
type worked struct {
	c                 *jobs.Campaign
	watchErr, stopErr error
	// stop is the one deadline of the rest of the stop; done releases it.
	stop context.Context
	done func()
	// snap writes the snapshot file.
	snap *snapshotFileWriter
}

// workAndWatch works the campaign in this process (only this one: on a
// shared Redis, other people's campaigns are theirs to work, with their
// own API server and key) and shows its progress until it ends, then
// stops the worker and re-reads the campaign.
func (a *app) workAndWatch(ctx context.Context, f *runFlags, rs *runRedis, ccfg client.Config, id string) (*worked, error) {
	wf := f.wf
	rw, err := a.buildWorker(rs.ropts, rs.rdb, f.rf.namespace, ccfg, wf, id)
	if err != nil {
		return nil, err
	}
	wctx, stopWorker := context.WithCancel(context.Background())
	werr := make(chan error, 1)
	go func() { werr <- rw.run(wctx) }()

	// One deadline for the whole stop after a signal: the worker's stop,
	// the status reload, the report and closing Redis all fit in
	// --shutdown-timeout + stopGrace, also when Redis hangs.
	sctx, endBudget := stopBudget(ctx, wf.shutdownTimeout+stopGrace)
	w := &worked{done: endBudget, snap: &snapshotFileWriter{a: a, store: rs.store, path: f.snapshotFile}}
	w.c, w.watchErr = a.watchWith(ctx, rs.store, id, watchOptions{outageLimit: f.outageLimit,
		snapshotDone: func(c *jobs.Campaign, _ *jobs.SnapshotInfo) (string, error) { return w.snap.write(ctx, c) }})
	if w.watchErr != nil {
		// Stopped by a signal or an outage: the budget starts now even
		// if ctx is still live (an outage).
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeoutCause(sctx, wf.shutdownTimeout+stopGrace, errStopBudget)
		w.done = func() { cancel(); endBudget() }
	}
	w.stop = sctx
	stopWorker()
	// A worker that could not write every outcome says so; the campaign
	// then has assets without one, which the exit code reflects.
	w.stopErr = <-werr
	// Reload: the last outcomes were flushed while the worker stopped.
	// Bounded: Redis may still be down or hang.
	rctx, cancel := context.WithTimeout(sctx, 5*time.Second)
	defer cancel()
	var fresh *jobs.Campaign
	err = bounded(rctx, &a.inflight, func(ctx context.Context) (err error) {
		fresh, err = rs.store.Get(ctx, id)
		return err
	})
	if err == nil {
		w.c = fresh
	} else if w.watchErr == nil {
		a.log.Warn("status reload after the stop failed: the summary may miss the last outcomes", "campaign", id, "err", err)
	}
	return w, nil
}

// runSummary writes the report, prints the summary and maps how the
// campaign ended to run's exit code.
func (a *app) runSummary(f *runFlags, rs *runRedis, id string, w *worked) error {
	if err := a.runReport(f, rs, id, w); err != nil {
		return err
	}
	snapFile := a.runSnapshotLate(rs, w)
	if w.c != nil {
		if f.cf.json {
			a.writeJSON(struct {
				campaignStatus
				SnapshotFile string         `json:"snapshot_file,omitempty"`
				Plan         *jobs.UndoPlan `json:"plan,omitempty"`
			}{a.summaryJSON(w.stop, rs.store, w.c), snapFile, f.undoPlan})
		} else {
			a.printSummary(w.c)
			printExpressStatus(a.stdout, w.c, a.readExpress(w.stop, rs.store, w.c))
			a.printFailureReasons(w.stop, rs.store, w.c, runReportHint(f, rs.embedded, w.c.ID))
		}
	}
	if w.stopErr != nil {
		fmt.Fprintf(a.stderr, "labelreset: %v\n", w.stopErr)
	}
	rf, embedded := f.rf, rs.embedded
	var outage *redisOutageError
	switch {
	case errors.As(w.watchErr, &outage):
		fmt.Fprintf(a.stderr, "stopped: %v; the campaign's progress cannot be recorded without Redis\n", outage)
		a.printContinue(rf, id, embedded)
		return exitError{exitStopped}
	case errors.Is(w.watchErr, context.Canceled):
		if embedded {
			if f.report != "" {
				fmt.Fprintf(a.stderr, "interrupted: the embedded Redis goes away with this process; unfinished assets are listed as pending in %s\n", f.report)
			} else {
				fmt.Fprintf(a.stderr, "interrupted: the embedded Redis goes away with this process; with --report FILE a run keeps every asset's outcome\n")
			}
		} else {
			fmt.Fprintf(a.stderr, "interrupted: campaign %s stays in Redis\n", id)
			a.printContinue(rf, id, embedded)
		}
		return exitError{exitStopped}
	case w.watchErr != nil:
		return w.watchErr
	case w.c == nil:
		return fmt.Errorf("campaign %s: no status could be read", id)
	}
	return a.campaignExit(w.c, embedded, func() { a.printContinue(rf, id, embedded) })
}

// runSnapshotLate writes the snapshot file if the watch ended before it
// saw the snapshot complete (a campaign that finished between two reads),
// and returns the file's name once written. A snapshot that never
// completed (interrupted) has no file: run says so.
func (a *app) runSnapshotLate(rs *runRedis, w *worked) string {
	s := w.snap
	if s == nil || s.path == "" {
		return ""
	}
	if !s.written && w.c != nil {
		rctx, cancel := context.WithTimeout(w.stop, time.Minute)
		defer cancel()
		var msg string
		err := bounded(rctx, &a.inflight, func(ctx context.Context) error {
			info, err := rs.store.Snapshot(ctx, w.c)
			if err != nil || !info.Complete {
				return err
			}
			msg, err = s.write(ctx, w.c)
			return err
		})
		switch {
		case err != nil:
			fmt.Fprintf(a.stderr, "snapshot: not written to %s: %v\n", s.path, err)
		case msg != "":
			fmt.Fprintln(a.stderr, msg)
		default:
			fmt.Fprintf(a.stderr, "snapshot: not complete when run stopped; no snapshot file written\n")
		}
	}
	if !s.written {
		return ""
	}
	if w.c != nil {
		rctx, cancel := context.WithTimeout(w.stop, time.Minute)
		defer cancel()
		err := bounded(rctx, &a.inflight, func(ctx context.Context) error { return s.rewrite(ctx, w.c) })
		if err != nil {
			fmt.Fprintf(a.stderr, "snapshot: %s not rewritten with the outcomes (it holds the labels, not which assets were reset: undo --snapshot without --exact): %v\n", s.path, err)
		} else {
			fmt.Fprintf(a.stderr, "snapshot: %s rewritten with the outcomes: undo --snapshot %s --exact replaces labels only on the assets the campaign reset\n", s.path, s.path)
		}
	}
	return s.path
}

// runReportHint says where run's summary finds every asset's error: its
// --report file, a report command while the campaign stays in Redis, or
// (embedded, no report) how to keep them next time.
func runReportHint(f *runFlags, embedded bool, id string) string {
	switch {
	case f.report != "":
		return "the report " + f.report
	case embedded:
		return "rerun with --report FILE; the embedded Redis goes away with this process"
	}
	return reportCommand(id, f.rf.namespace)
}

// runReport writes --report within the stop's deadline. A report that
// cannot be written is run's error when the campaign ended cleanly; after a
// signal or an outage it is only said, and the summary follows.
func (a *app) runReport(f *runFlags, rs *runRedis, id string, w *worked) error {
	if f.report == "" || w.c == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(w.stop, time.Minute)
	defer cancel()
	var n int64
	err := bounded(rctx, &a.inflight, func(ctx context.Context) (err error) {
		n, err = a.writeReport(ctx, rs.store, id, f.report, f.reportFormat, nil)
		return err
	})
	switch {
	case err != nil && w.watchErr == nil && w.stopErr == nil:
		return err
	case err != nil:
		fmt.Fprintf(a.stderr, "report: not written: %v\n", err)
	default:
		fmt.Fprintf(a.stderr, "report: %d rows written to %s\n", n, f.report)
	}
	return nil
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
	var b strings.Builder
	order := append(append([]string{}, jobs.Outcomes...), jobs.OutcomePending)
	if c.Mode == jobs.ModeRestore {
		// What a restore is for comes first, as reset does for the others.
		order = append([]string{jobs.OutcomeRestored, jobs.OutcomeUnchanged}, slices.DeleteFunc(order, func(o string) bool {
			return o == jobs.OutcomeRestored || o == jobs.OutcomeUnchanged
		})...)
	}
	for _, o := range order {
		// The outcomes of the campaign's mode always, the others (a
		// restore's restored, a reset's not_in_inventory) when they occur.
		if s.Counts[o] == 0 && (!outcomeOfMode(o, c.Mode) || o == jobs.OutcomeNotInInventory) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", o, s.Counts[o])
	}
	fmt.Fprintf(a.stdout, "campaign %s %s: %d assets — %s\n", c.ID, c.State, c.Total, b.String())
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
