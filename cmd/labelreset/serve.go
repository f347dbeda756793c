package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

func (a *app) cmdServe(ctx context.Context, args []string) error {
	fs := a.newFlagSet("serve")
	rf := a.addRedisFlags(fs)
	addr := fs.String("addr", ":8080", "listen address (API, /metrics, /healthz, /readyz, /openapi.yaml)")
	certFile := fs.String("tls-cert", "", "TLS certificate file (with --tls-key)")
	keyFile := fs.String("tls-key", "", "TLS key file")
	tokensFile := fs.String("tokens-file", "",
		"token file: tokens with names, roles and teams (YAML/JSON), or one token per line; reloaded when it changes and on SIGHUP "+
			"(env LABELRESET_API_TOKENS_FILE; plain tokens also from LABELRESET_API_TOKENS)")
	tokensReload := fs.Duration("tokens-reload", httpapi.DefaultTokenReloadInterval, "how often the token file is checked for changes (0: only on SIGHUP)")
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
	shutdownTimeout := fs.Duration("shutdown-timeout", httpapi.DefaultShutdownTimeout, "graceful stop bound: requests in progress get this long, then their connections are closed")
	if _, err := a.parseFlags(fs, args); err != nil {
		return err
	}
	if (*certFile == "") != (*keyFile == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	tokens := httpapi.ParseTokens(a.getenv("LABELRESET_API_TOKENS"))
	switch {
	case len(tokens) == 0 && *tokensFile == "" && !*noAuth:
		return usagef("no API tokens: set LABELRESET_API_TOKENS or pass --tokens-file FILE (env LABELRESET_API_TOKENS_FILE); " +
			"to serve without authentication, for local testing only, pass --insecure-no-auth")
	case (len(tokens) > 0 || *tokensFile != "") && *noAuth:
		return usagef("--insecure-no-auth is given together with API tokens (LABELRESET_API_TOKENS or --tokens-file): drop one of them")
	}
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
