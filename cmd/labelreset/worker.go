package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/worker"
	"github.com/labelreset/labelreset/worker/ratelimit"
)

// workerFlags configure request handling in worker and run.
type workerFlags struct {
	concurrency     int
	rate, teamRate  float64
	burst           int
	aimd            bool
	metricsAddr     string
	shutdownTimeout time.Duration
	timeout         time.Duration
	// metricsLn is --metrics-addr, opened by listenMetrics before any work.
	metricsLn net.Listener
}

// listenMetrics opens --metrics-addr (if set) before the command does any
// work, so that a port in use ends it with exit 2 and nothing done.
func (f *workerFlags) listenMetrics() error {
	if f.metricsAddr == "" {
		return nil
	}
	ln, err := listenFlag("--metrics-addr", f.metricsAddr)
	f.metricsLn = ln
	return err
}

// closeMetrics releases a listener that buildWorker did not take over.
func (f *workerFlags) closeMetrics() {
	if f.metricsLn != nil {
		f.metricsLn.Close()
		f.metricsLn = nil
	}
}

func (a *app) addWorkerFlags(fs *flag.FlagSet, metricsDefault string) *workerFlags {
	f := &workerFlags{}
	fs.IntVar(&f.concurrency, "concurrency", worker.DefaultConcurrency, "PDCP calls in flight in this process")
	fs.Float64Var(&f.rate, "rate", DefaultRate,
		"requests/s shared by every worker of this API key through Redis; 0 = unlimited, an explicit choice. "+
			"The default is low on purpose: PDCP publishes no rate limit for the label endpoints, and it still resets 36,000 assets an hour without risking a shared account's quota")
	fs.IntVar(&f.burst, "burst", 0, "burst: any 1s window holds at most rate+burst requests; 30ms of it is held back for network jitter (default rate/10)")
	fs.Float64Var(&f.teamRate, "team-rate", 0, "optional extra requests/s limit per team (X-Team-Id)")
	fs.BoolVar(&f.aimd, "adaptive", true, "lower the shared rate when PDCP answers 429 and raise it back slowly, never above --rate (off with --rate 0)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", metricsDefault, "serve /metrics, /healthz and /readyz here (empty = off)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", worker.DefaultShutdownTimeout, "graceful stop bound: in-flight calls finish, unfinished batches go back to the queue")
	fs.DurationVar(&f.timeout, "timeout", client.DefaultTimeout, "per-request timeout")
	return f
}

// DefaultRate is the shared requests/s of worker and run when neither
// --rate nor LABELRESET_RATE says otherwise. PDCP publishes no rate limit for
// the label endpoints, and one API key is often shared by a team's tools and
// scans: a conservative default keeps a first campaign from exhausting the
// account's quota (or the patience of whoever runs it alongside), while 10/s
// still resets 36,000 assets an hour. --rate 0 (unlimited) stays available
// as an explicit choice (also as LABELRESET_RATE=0); --adaptive lowers the
// rate further on 429s.
const DefaultRate = 10

// limiterKey names the shared budget: one per PDCP account (server + key)
// and namespace, hashed so that the key never reaches Redis.
func limiterKey(ns string, cfg client.Config) string {
	h := sha256.Sum256([]byte(cfg.Server + "\x00" + cfg.APIKey))
	return ns + "-" + hex.EncodeToString(h[:8])
}

// newRegistry returns a registry with the process collectors and build
// info; each binary adds its own metrics.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bi := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "labelreset_build_info", Help: "Build information; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": client.Version},
	})
	bi.Set(1)
	reg.MustRegister(bi)
	return reg
}

// runningWorker is a worker plus its metrics server.
type runningWorker struct {
	w        *worker.Worker
	limiter  *ratelimit.Limiter
	limRdb   redis.UniversalClient // the limiter's own client
	limDials *jobs.DialAborter     // limRdb's dials, abandoned at the stop
	srv      *http.Server
	ln       net.Listener // srv's, opened by workerFlags.listenMetrics
	reg      *prometheus.Registry
}

// buildWorker builds the worker of worker and run. only, when not empty,
// are the only campaigns it works (run's own).
func (a *app) buildWorker(ropts *redis.UniversalOptions, rdb redis.UniversalClient, ns string, ccfg client.Config, wf *workerFlags, only ...string) (*runningWorker, error) {
	server, err := client.NormalizeServer(ccfg.Server)
	if err != nil {
		return nil, usageError{err}
	}
	ccfg.Timeout = wf.timeout
	ccfg.MaxConns = wf.concurrency
	c, err := client.New(ccfg)
	if err != nil {
		return nil, err
	}
	reg := newRegistry()
	// The limiter has a client of its own, closed once the worker has
	// stopped: a limiter call in flight on a Redis that hangs then ends at
	// once instead of after go-redis's read timeouts and retries, so that
	// --shutdown-timeout bounds the stop.
	limRdb := redis.NewUniversalClient(ropts)
	limDials := jobs.NewDialAborter()
	limRdb.AddHook(limDials)
	lim, err := ratelimit.New(limRdb, ratelimit.Config{
		Key: limiterKey(ns, ccfg), Rate: wf.rate, Burst: wf.burst, TeamRate: wf.teamRate,
		AIMD: wf.aimd && wf.rate > 0,
	}, reg)
	if err != nil {
		limRdb.Close()
		return nil, usageError{err}
	}
	w, err := worker.New(worker.Config{
		Redis: ropts, Namespace: ns, Concurrency: wf.concurrency, Limiter: lim,
		// A campaign's calls carry the team it recorded when it was
		// created (none: no X-Team-Id), never this process's own.
		API:          func(team string) worker.Caller { return c.WithTeam(team) },
		LegacyTeamID: ccfg.TeamID,
		// Campaigns planned against another server are left to its
		// workers; run works its own campaign only.
		Server: server, Campaigns: only,
		ShutdownTimeout: wf.shutdownTimeout, Registerer: reg, Logger: a.log,
	})
	if err != nil {
		limRdb.Close()
		lim.Close()
		return nil, usageError{err}
	}
	rw := &runningWorker{w: w, limiter: lim, limRdb: limRdb, limDials: limDials, reg: reg}
	if wf.metricsLn != nil {
		rw.srv = &http.Server{Handler: worker.OpsHandler(reg, w.Ready), ReadHeaderTimeout: 10 * time.Second}
		rw.ln, wf.metricsLn = wf.metricsLn, nil
	}
	return rw, nil
}

// run runs the worker (and its metrics server) until ctx is done.
func (rw *runningWorker) run(ctx context.Context) error {
	defer func() {
		// The worker has stopped: nothing takes from the limiter any more.
		rw.limDials.Abort()
		rw.limRdb.Close()
		rw.limiter.Close()
	}()
	if rw.srv != nil {
		// run returns only once Serve has: a caller that runs a worker
		// (run, the tests) finds nothing of it left running.
		var wg sync.WaitGroup
		wg.Go(func() { rw.srv.Serve(rw.ln) })
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if rw.srv.Shutdown(sctx) != nil {
				rw.srv.Close()
			}
			wg.Wait()
		}()
	}
	return rw.w.Run(ctx)
}

func (a *app) cmdWorker(ctx context.Context, args []string) error {
	a.tuneGC()
	fs := a.newFlagSet("worker")
	rf := a.addRedisFlags(fs)
	af := a.addAPIFlags(fs)
	wf := a.addWorkerFlags(fs, ":9090")
	notifiersFile := fs.String("notifiers", "", notifiersUsage)
	if _, err := a.parseFlags(fs, args); err != nil {
		return err
	}
	ccfg, err := af.resolve(a.getenv, wf.concurrency)
	if err != nil {
		return err
	}
	notifiers, err := loadNotifiers(*notifiersFile)
	if err != nil {
		return err
	}
	if err := wf.listenMetrics(); err != nil {
		return err
	}
	defer wf.closeMetrics()
	ropts, rdb, err := a.connectRetry(ctx, rf)
	if err != nil {
		return err
	}
	defer a.closeRedis(rdb)
	rw, err := a.buildWorker(ropts, rdb, rf.namespace, ccfg, wf)
	if err != nil {
		return err
	}
	// Stops with the worker, before the deferred closeRedis.
	waitDispatch, err := a.startDispatcher(ctx, rdb, rf.namespace, notifiers, rw.reg)
	if err != nil {
		return err
	}
	defer waitDispatch()
	return rw.run(ctx)
}

// workerGCPercent is the GC target of processes that run workers (worker,
// run). A worker's live heap is a few MB while every PDCP call allocates
// ~7 KB, so at Go's default GOGC=100 it collects dozens of times a second;
// a higher target spends a few tens of MB of peak RSS to give that CPU to
// the calls (BENCHMARKS.md has the figures).
const workerGCPercent = 400

// tuneGC sets workerGCPercent unless the operator set GOGC (or GOMEMLIMIT
// with GOGC=off): their choice wins.
func (a *app) tuneGC() {
	if a.getenv("GOGC") == "" {
		debug.SetGCPercent(workerGCPercent)
	}
}
