package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/notify"
	"github.com/labelreset/labelreset/jobs/schedule"
	"github.com/labelreset/labelreset/worker"
)

func (a *app) cmdScheduler(ctx context.Context, args []string) error {
	fs := a.newFlagSet("scheduler")
	rf := a.addRedisFlags(fs)
	af := a.addAPIFlags(fs)
	config := fs.String("config", "", "schedules YAML file")
	metricsAddr := fs.String("metrics-addr", ":9091", "serve /metrics, /healthz and /readyz here (empty = off)")
	notifiersFile := fs.String("notifiers", "", notifiersUsage+"; the scheduler checks the names of notify against it and sends nothing")
	shutdownTimeout := fs.Duration("shutdown-timeout", schedule.DefaultShutdownTimeout, "graceful stop bound: firings in progress get this long, then they are cancelled")
	if _, err := a.parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := a.loadSchedules(*config)
	if err != nil {
		return err
	}
	var notifiers *notify.Config
	if *notifiersFile != "" {
		if notifiers, err = notify.LoadNames(*notifiersFile); err != nil {
			return usageError{err}
		}
	}
	listerFor, err := a.listerFor(cfg, af)
	if err != nil {
		return err
	}
	team, err := a.defaultTeam(af.team, af.credentials)
	if err != nil {
		return err
	}
	server, err := a.apiServer(af.server, af.credentials)
	if err != nil {
		return err
	}
	var metricsLn net.Listener
	if *metricsAddr != "" {
		if metricsLn, err = listenFlag("--metrics-addr", *metricsAddr); err != nil {
			return err
		}
		defer metricsLn.Close()
	}
	_, rdb, err := a.connectRetry(ctx, rf)
	if err != nil {
		return err
	}
	defer a.closeRedis(rdb)
	store := jobs.NewStore(rdb, jobs.StoreOptions{Namespace: rf.namespace})
	reg := newRegistry()
	health := newRedisHealth(rdb, reg)
	s, err := schedule.New(cfg, schedule.Options{
		Store: store, ListerFor: listerFor, AllowInsecureHTTP: af.insecureHTTP,
		Defaults:   schedule.Defaults{BatchSize: jobs.DefaultBatchSize, Policy: jobs.DefaultPolicy(), TeamID: team, Server: server},
		Registerer: reg, Logger: a.log, ShutdownTimeout: *shutdownTimeout, Notifiers: notifiers,
	})
	if err != nil {
		return usageError{err}
	}
	// Every goroutine started here ends before the function returns, and
	// so before the deferred closeRedis: shutdown order is the scheduler
	// (s.Run), then the metrics server and the health loop, then Redis.
	hctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop() // before wg.Wait: ends the health loop
	wg.Go(func() { health.run(hctx) })
	if metricsLn != nil {
		hs := &http.Server{Handler: worker.OpsHandler(reg, func() error { return health.check(context.Background()) }),
			ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() { hs.Serve(metricsLn) })
		// Before wg.Wait. Shutdown, not Close: it also waits for a /readyz
		// in progress, whose Redis ping ends within its own 2s bound.
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if hs.Shutdown(sctx) != nil {
				hs.Close()
			}
		}()
	}
	a.log.Info("scheduler started", "schedules", len(cfg.Schedules), "config", *config)
	return s.Run(ctx)
}

func (a *app) loadSchedules(path string) (*schedule.Config, error) {
	if path == "" {
		return nil, usagef("no schedules: pass --config FILE (see deploy/schedules.example.yaml)")
	}
	cfg, err := schedule.LoadConfig(path)
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}

// listerFor builds the PDCP listing client for pdcp_query schedules; a
// config without such schedules needs no API key.
func (a *app) listerFor(cfg *schedule.Config, af *apiFlags) (func(string) schedule.Lister, error) {
	needs := false
	for _, s := range cfg.Schedules {
		if s.Source.PDCPQuery != nil {
			needs = true
		}
	}
	if !needs {
		return nil, nil
	}
	ccfg, err := af.resolve(a.getenv, 8)
	if err != nil {
		return nil, err
	}
	c, err := client.New(ccfg)
	if err != nil {
		return nil, err
	}
	return func(team string) schedule.Lister {
		if team == "" {
			return c
		}
		return c.WithTeam(team)
	}, nil
}
