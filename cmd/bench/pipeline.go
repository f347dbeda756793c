package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
	"github.com/labelreset/labelreset/worker"
	"github.com/labelreset/labelreset/worker/ratelimit"
)

// rangeInput is a jobs.Input over the IDs first..first+n-1.
type rangeInput struct{ next, end int64 }

func (r *rangeInput) Next() (idfile.Row, error) {
	if r.next > r.end {
		return idfile.Row{}, io.EOF
	}
	r.next++
	return idfile.Row{Line: int(r.next - 1), ID: r.next - 1}, nil
}

// campaignRun is what one timed campaign through real workers cost.
type campaignRun struct {
	Assets       int              `json:"assets"`
	Seconds      float64          `json:"seconds"`
	RPS          float64          `json:"assets_per_s"`
	RedisCmds    int64            `json:"redis_cmds"`
	CmdsPerAsset float64          `json:"redis_cmds_per_asset"`
	TopCommands  map[string]int64 `json:"top_commands"`
	// ScriptCallsPerAsset counts EVALSHA/EVAL alone; RedisCmds includes
	// the commands those scripts run (Redis counts both).
	ScriptCallsPerAsset float64 `json:"script_calls_per_asset"`
	WorkerCPUUs         float64 `json:"worker_cpu_us_per_asset"`
	RedisCPUUs          float64 `json:"redis_cpu_us_per_asset"`
	FakeCPUUs           float64 `json:"fake_cpu_us_per_asset"`
	PeakRSSMB           float64 `json:"worker_peak_rss_mb,omitempty"`
	BackgroundCmdsPerS  float64 `json:"background_cmds_per_s"`
	// StealPct is the share of CPU time the hypervisor gave to other
	// guests during the run: high values mean a noisy neighbour.
	StealPct float64 `json:"steal_pct"`
	Mode     string  `json:"worker"`
	// SubmitSeconds is how long Store.Submit took (the worker starts
	// meanwhile); FirstOutcomeSeconds when the first outcome was seen
	// (±5 ms, the poll interval), both from the start of the clock.
	SubmitSeconds       float64 `json:"submit_seconds"`
	FirstOutcomeSeconds float64 `json:"first_outcome_seconds"`
	// Done99Seconds is when 99% of the assets had an outcome: the rest of
	// the run is the tail, when fewer calls than the concurrency remain.
	Done99Seconds float64 `json:"done_99pct_seconds"`
}

// pipeline times a campaign of --assets through Store.Submit and one
// worker with --concurrency, from submit start to state done. (With the
// ceiling phase, ratioRounds runs it instead.)
func (e *env) pipeline(ctx context.Context, r *results) error {
	run, err := e.runCampaign(ctx, "bench-pipeline", e.cfg.concurrency, e.cfg.workerMode)
	if err != nil {
		return err
	}
	r.PipelineRPS = run.RPS
	r.RedisCmdsPerAsset = run.CmdsPerAsset
	r.Pipeline = run
	return nil
}

// rss runs the same campaign through a `labelreset worker --concurrency
// --rss-concurrency` subprocess and reports its peak RSS.
func (e *env) rss(ctx context.Context, r *results) error {
	run, err := e.runCampaign(ctx, "bench-rss", e.cfg.rssConc, "subprocess")
	if err != nil {
		return err
	}
	r.WorkerPeakRSSMB = run.PeakRSSMB
	r.RSS = run
	return nil
}

// worker is a running pipeline worker, in this process or not.
type runner interface {
	pid() int
	stop() error
}

type subWorker struct{ p *process }

func (w subWorker) pid() int    { return w.p.cmd.Process.Pid }
func (w subWorker) stop() error { w.p.stop(30 * time.Second); return nil }

type inWorker struct {
	cancel context.CancelFunc
	done   chan error
}

func (w inWorker) pid() int    { return os.Getpid() }
func (w inWorker) stop() error { w.cancel(); return <-w.done }

func (e *env) startWorker(ctx context.Context, conc int, mode string) (runner, error) {
	if mode == "subprocess" {
		p, err := startProcess(ctx, e.lrBin, e.workerEnv(), e.cfg.keepWorkerLog, "worker",
			"--concurrency", strconv.Itoa(conc), "--rate", "0", "--metrics-addr", "", "--shutdown-timeout", "10s")
		if err != nil {
			return nil, err
		}
		if _, err := p.waitLine(regexp.MustCompile(`worker started`), 30*time.Second); err != nil {
			p.stop(5 * time.Second)
			return nil, fmt.Errorf("labelreset worker: %w", err)
		}
		return subWorker{p}, nil
	}
	cancel, done, err := e.inProcessWorker(e.url, benchNS, benchNS+"-bench", conc)
	if err != nil {
		return nil, err
	}
	return inWorker{cancel: cancel, done: done}, nil
}

// inProcessWorker runs a worker in this process wired as `labelreset
// worker` wires it (cmd/labelreset/worker.go): a client with MaxConns =
// concurrency and an unlimited shared limiter under limKey, on namespace
// ns. It returns once the worker is ready; cancel stops it and done
// carries Run's error.
func (e *env) inProcessWorker(url, ns, limKey string, conc int) (cancel func(), done chan error, err error) {
	c, err := client.New(client.Config{APIKey: benchKey, Server: url, MaxConns: conc, Timeout: 30 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	reg := prometheus.NewRegistry()
	lim, err := ratelimit.New(e.rdb, ratelimit.Config{Key: limKey}, reg)
	if err != nil {
		return nil, nil, err
	}
	w, err := worker.New(worker.Config{
		Redis: e.ropts, Namespace: ns, Concurrency: conc, Limiter: lim, Registerer: reg,
		API:             func(string) worker.Caller { return c },
		ShutdownTimeout: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		lim.Close()
		return nil, nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- w.Run(wctx); lim.Close(); c.CloseIdleConnections() }()
	for w.Ready() != nil {
		time.Sleep(20 * time.Millisecond)
	}
	return cancel, done, nil
}

// runCampaign flushes the DB, starts a worker, submits a campaign of
// --assets IDs and waits until it is done.
func (e *env) runCampaign(ctx context.Context, id string, conc int, mode string) (*campaignRun, error) {
	if err := e.flush(ctx); err != nil {
		return nil, err
	}
	run := &campaignRun{Assets: e.cfg.assets, Mode: mode}
	// What other clients of this Redis do meanwhile (they share INFO).
	bg0, err := e.commandStats(ctx)
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	bg1, err := e.commandStats(ctx)
	if err != nil {
		return nil, err
	}
	run.BackgroundCmdsPerS = float64(bg1.sub(bg0).total() - 1) // minus our INFO

	w, err := e.startWorker(ctx, conc, mode)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			w.stop()
		}
	}()
	time.Sleep(300 * time.Millisecond) // let the worker's start-up commands pass
	store := jobs.NewStore(e.rdb, jobs.StoreOptions{Namespace: benchNS})
	defer store.Close()
	metaKey := jobs.MetaKey(benchNS, id)

	cs0, err := e.commandStats(ctx)
	if err != nil {
		return nil, err
	}
	rc0, _ := e.redisCPU(ctx)
	wc0, _ := procCPU(w.pid())
	fc0, _ := procCPU(e.fake.cmd.Process.Pid)
	st0 := readSteal()
	start := time.Now()
	def := &jobs.Campaign{ID: id, Name: id, Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: jobs.DefaultBatchSize, Policy: jobs.DefaultPolicy()}
	plan, err := jobs.ReadPlan(def, &rangeInput{next: 1, end: int64(e.cfg.assets)})
	if err != nil {
		return nil, err
	}
	if _, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{Approved: true}); err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	run.SubmitSeconds = time.Since(start).Seconds()
	var polls int64
	deadline := start.Add(10 * time.Minute)
	for {
		v, err := e.rdb.HMGet(ctx, metaKey, "state", "_done").Result()
		polls++
		if err != nil {
			return nil, err
		}
		if d, _ := v[1].(string); d != "" {
			done, _ := strconv.Atoi(d)
			if run.FirstOutcomeSeconds == 0 && done > 0 {
				run.FirstOutcomeSeconds = time.Since(start).Seconds()
			}
			if run.Done99Seconds == 0 && done >= e.cfg.assets*99/100 {
				run.Done99Seconds = time.Since(start).Seconds()
			}
		}
		st, _ := v[0].(string)
		if st == string(jobs.StateDone) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("campaign %s is %q after 10 minutes", id, st)
		}
		if err := backoff.Sleep(ctx, 5*time.Millisecond); err != nil {
			return nil, err
		}
	}
	el := time.Since(start)
	run.StealPct = readSteal().pctSince(st0)
	wc1, _ := procCPU(w.pid())
	fc1, _ := procCPU(e.fake.cmd.Process.Pid)
	rc1, _ := e.redisCPU(ctx)
	cs1, err := e.commandStats(ctx)
	if err != nil {
		return nil, err
	}
	if mode == "subprocess" {
		hwm, err := procStatus(w.pid(), "VmHWM")
		if err != nil {
			return nil, err
		}
		run.PeakRSSMB = float64(hwm) / 1024
	}
	stopped = true
	if err := w.stop(); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	c, err := store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Counts[jobs.OutcomeReset] != int64(e.cfg.assets) {
		return nil, fmt.Errorf("campaign %s: counts %v, want %d reset", id, c.Counts, e.cfg.assets)
	}

	d := cs1.sub(cs0)
	// Our own commands are not the pipeline's: the state polls and INFO.
	d["hmget"] -= polls
	delete(d, "info")
	run.Seconds = el.Seconds()
	run.RPS = float64(e.cfg.assets) / el.Seconds()
	run.RedisCmds = d.total()
	run.CmdsPerAsset = float64(run.RedisCmds) / float64(e.cfg.assets)
	run.ScriptCallsPerAsset = float64(d["evalsha"]+d["eval"]) / float64(e.cfg.assets)
	run.TopCommands = top(d, 12)
	n := float64(e.cfg.assets)
	run.WorkerCPUUs = (wc1 - wc0) * 1e6 / n
	run.RedisCPUUs = (rc1 - rc0) * 1e6 / n
	run.FakeCPUUs = (fc1 - fc0) * 1e6 / n
	e.logf("%s: %d assets in %v = %.0f assets/s, %.3f Redis commands/asset (%.3f of them script calls), worker %.1f µs CPU/asset, Redis %.1f µs/asset; submit took %.3fs, first outcome at %.3fs, 99%% at %.3fs",
		id, e.cfg.assets, el.Round(time.Millisecond), run.RPS, run.CmdsPerAsset, run.ScriptCallsPerAsset, run.WorkerCPUUs, run.RedisCPUUs,
		run.SubmitSeconds, run.FirstOutcomeSeconds, run.Done99Seconds)
	e.logf("%s: commands %v", id, run.TopCommands)
	return run, nil
}

func top(d cmdStats, n int) map[string]int64 {
	type kv struct {
		k string
		v int64
	}
	var all []kv
	for k, v := range d {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
	out := map[string]int64{}
	for i := 0; i < len(all) && i < n; i++ {
		out[all[i].k] = all[i].v
	}
	return out
}
