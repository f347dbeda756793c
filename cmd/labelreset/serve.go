package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
	"github.com/labelreset/labelreset/jobs/schedule"
	"github.com/labelreset/labelreset/worker"
)

// redisHealth pings Redis every few seconds for labelreset_redis_up and
// readiness of the API server and the scheduler.
type redisHealth struct {
	rdb redis.UniversalClient
	up  prometheus.Gauge
	err error
}

func newRedisHealth(rdb redis.UniversalClient, reg prometheus.Registerer) *redisHealth {
	h := &redisHealth{rdb: rdb, up: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "labelreset_redis_up", Help: "1 when the last Redis health check succeeded.",
	})}
	reg.MustRegister(h.up)
	return h
}

func (h *redisHealth) check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := h.rdb.Ping(cctx).Err()
	if err != nil {
		h.up.Set(0)
		return errors.New("not ready: Redis unreachable")
	}
	h.up.Set(1)
	return nil
}

func (h *redisHealth) run(ctx context.Context) {
	for {
		h.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

func (a *app) cmdServe(ctx context.Context, args []string) error {
	fs := a.newFlagSet("serve")
	rf := a.addRedisFlags(fs)
	addr := fs.String("addr", ":8080", "listen address (API, /metrics, /healthz, /readyz, /openapi.yaml)")
	certFile := fs.String("tls-cert", "", "TLS certificate file (with --tls-key)")
	keyFile := fs.String("tls-key", "", "TLS key file")
	tokensFile := fs.String("tokens-file", a.getenv("LABELRESET_API_TOKENS_FILE"),
		"token file: tokens with names, roles and teams (YAML/JSON), or one token per line; reloaded when it changes and on SIGHUP "+
			"(env LABELRESET_API_TOKENS_FILE; plain tokens also from LABELRESET_API_TOKENS)")
	tokensReload := fs.Duration("tokens-reload", 2*time.Second, "how often the token file is checked for changes (0: only on SIGHUP)")
	noAuth := fs.Bool("insecure-no-auth", false, "serve without authentication (local testing only)")
	maxBody := fs.Int64("max-body", httpapi.DefaultMaxBodyBytes, "largest request body in bytes")
	maxRows := fs.Int64("max-rows", httpapi.DefaultMaxRows, "most rows per request (a create or an append; blank and comment lines count)")
	maxUploadMem := fs.Int64("max-upload-memory", httpapi.DefaultMaxUploadMemory, "memory budget in bytes of one upload's asset ID set; a larger upload is refused with 413")
	maxUploads := fs.Int("max-concurrent-uploads", httpapi.DefaultMaxConcurrentUploads, "create requests processed at once; more are refused with 503 and Retry-After")
	confirmAbove := fs.Int64("confirm-above", jobs.DefaultConfirmAbove, "campaigns with more assets are created pending (approve with POST .../approve)")
	batchSize := fs.Int("batch-size", jobs.DefaultBatchSize, "asset IDs per queued task")
	teamID := fs.String("team-id", "", "team of campaigns whose request names none (env PDCP_TEAM_ID, then the credentials file)")
	credentials := fs.String("credentials", client.DefaultCredentialsPath(), "ProjectDiscovery credentials file (for its team-id and server)")
	apiServer := fs.String("api-server", "", "PDCP API server recorded in campaigns; only workers for this server work them (env PDCP_API_SERVER, then the credentials file, default "+client.DefaultServer+")")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "graceful stop bound: requests in progress get this long, then their connections are closed")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*certFile == "") != (*keyFile == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	tokens := httpapi.ParseTokens(a.getenv("LABELRESET_API_TOKENS"))
	reload := *tokensReload
	switch {
	case reload < 0:
		return usagef("--tokens-reload %v: want 0 (only on SIGHUP) or more", reload)
	case reload == 0:
		reload = -1 // httpapi: no polling
	}
	team, err := a.defaultTeam(*teamID, *credentials)
	if err != nil {
		return err
	}
	server, err := a.apiServer(*apiServer, *credentials)
	if err != nil {
		return err
	}
	ln, err := listenFlag("--addr", *addr)
	if err != nil {
		return err
	}
	defer ln.Close() // Serve closes it too; a second Close is harmless
	_, rdb, err := a.connectRetry(ctx, rf)
	if err != nil {
		return err
	}
	defer a.closeRedis(rdb)
	store := jobs.NewStore(rdb, jobs.StoreOptions{Namespace: rf.namespace})
	reg := newRegistry()
	health := newRedisHealth(rdb, reg)
	srv, err := httpapi.New(httpapi.Config{
		Store: store, Tokens: tokens, TokenFile: *tokensFile, TokenReloadInterval: reload, InsecureNoAuth: *noAuth, MaxBodyBytes: *maxBody, MaxRows: *maxRows,
		MaxUploadMemory: *maxUploadMem, MaxConcurrentUploads: *maxUploads,
		Defaults: httpapi.Defaults{BatchSize: *batchSize, Policy: jobs.DefaultPolicy(), ConfirmAbove: *confirmAbove,
			Priority: jobs.PriorityNormal, TeamID: team, Server: server},
		Registerer: reg, Gatherer: reg, Ready: func() error { return health.check(context.Background()) }, Logger: a.log,
		ShutdownTimeout: *shutdownTimeout,
	})
	if err != nil {
		return usageError{err}
	}
	if *noAuth {
		a.log.Warn("serving WITHOUT authentication (--insecure-no-auth): anyone who reaches this port can start campaigns")
	}
	hctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop() // before wg.Wait: ends the goroutines below
	wg.Go(func() { health.run(hctx) })
	// SIGHUP re-reads the token file now (it is also re-read when it
	// changes): a revoked token is refused from then on. Without a token
	// file it is logged and ignored. Either way it never stops serve (see
	// main), also after this function: Ignore, not Stop, hands it back.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Ignore(syscall.SIGHUP)
	wg.Go(func() {
		for {
			select {
			case <-hctx.Done():
				return
			case <-hup:
				if *tokensFile == "" {
					a.log.Info("SIGHUP ignored: there is no token file to reload (--tokens-file)")
					continue
				}
				srv.ReloadTokens()
			}
		}
	})
	a.log.Info("trigger API listening", "addr", *addr, "tls", *certFile != "")
	return srv.Serve(ctx, ln, *certFile, *keyFile)
}

func (a *app) cmdScheduler(ctx context.Context, args []string) error {
	fs := a.newFlagSet("scheduler")
	rf := a.addRedisFlags(fs)
	af := a.addAPIFlags(fs)
	config := fs.String("config", a.getenv("LABELRESET_SCHEDULES"), "schedules YAML file (env LABELRESET_SCHEDULES)")
	metricsAddr := fs.String("metrics-addr", ":9091", "serve /metrics, /healthz and /readyz here (empty = off)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 20*time.Second, "graceful stop bound: firings in progress get this long, then they are cancelled")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := a.loadSchedules(*config)
	if err != nil {
		return err
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
		Registerer: reg, Logger: a.log, ShutdownTimeout: *shutdownTimeout,
	})
	if err != nil {
		return usageError{err}
	}
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	go health.run(hctx)
	if metricsLn != nil {
		hs := &http.Server{Handler: worker.OpsHandler(reg, func() error { return health.check(context.Background()) }),
			ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(metricsLn)
		defer hs.Close()
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

func (a *app) cmdSchedules(ctx context.Context, args []string) error {
	fs := a.newFlagSet("schedules")
	rf := a.addRedisFlags(fs)
	config := fs.String("config", a.getenv("LABELRESET_SCHEDULES"), "schedules YAML file (env LABELRESET_SCHEDULES)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := a.loadSchedules(*config)
	if err != nil {
		return err
	}
	store, closeFn, err := a.storeFor(ctx, rf)
	if err != nil {
		return err
	}
	defer closeFn()
	list, err := schedule.List(ctx, store, cfg, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		return a.writeJSON(list)
	}
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCRON\tTIMEZONE\tNEXT\tLAST FIRE\tLAST CAMPAIGN\tLAST ERROR")
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Cron, s.Timezone, ts(s.Next), ts(s.LastFire),
			orDash(s.LastCampaign), orDash(s.LastError))
	}
	return tw.Flush()
}
