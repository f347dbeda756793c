package main

import (
	"context"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/console"
	"github.com/labelreset/labelreset/jobs/httpapi"
	"github.com/labelreset/labelreset/worker/ratelimit"
)

// consoleConfig is the web console's configuration, nil when --console=false.
func (a *app) consoleConfig(f *serveFlags, server string, rdb redis.UniversalClient) *console.Config {
	if !f.console {
		return nil
	}
	return &console.Config{SessionTTL: f.sessionTTL, Secure: f.certFile != "", APIServer: server, Logger: a.log,
		Limiter: a.consoleLimiter(f, server, rdb)}
}

// consoleLimiter reads, for the console's campaign page, the state of the
// rate limiter the workers share for serve's PDCP account: the limiter
// key is the workers' (limiterKey of the same server and API key, as
// worker resolves them), the rate serve's --rate, which should be the
// workers'. Without an API key there is no key to read: the page says
// "not known". So it does for campaigns of another API server, whose
// workers share another budget.
func (a *app) consoleLimiter(f *serveFlags, server string, rdb redis.UniversalClient) func(context.Context, *jobs.Campaign) (*console.LimiterState, error) {
	ccfg, err := client.ResolveConfig(client.Config{Server: f.apiServer, AllowInsecureHTTP: true}, a.getenv, f.credentials)
	if err != nil || ccfg.APIKey == "" {
		a.log.Info("console: the rate limiter's state is not shown: serve has no PDCP API key to name the workers' shared budget (PDCP_API_KEY or the credentials file)")
		return nil
	}
	cfg := ratelimit.Config{Key: limiterKey(f.rf.namespace, ccfg), Rate: f.rate}
	return func(ctx context.Context, c *jobs.Campaign) (*console.LimiterState, error) {
		if c.Server != "" && c.Server != server {
			return nil, nil
		}
		st, err := ratelimit.ReadState(ctx, rdb, cfg)
		if err != nil {
			return nil, err
		}
		return &console.LimiterState{Rate: st.Rate, EffectiveRate: st.EffectiveRate, PausedUntil: st.PausedUntil}, nil
	}
}

// serveLister is the PDCP client that lists the query of a campaign
// created through the API (its query field), with the campaign's team:
// serve's API key (PDCP_API_KEY or the credentials file) and server.
// Without a key there is none, and the API refuses query campaigns (501).
func (a *app) serveLister(f *serveFlags) func(team string) jobs.Lister {
	// Plain http:// only to loopback: this client sends the API key.
	ccfg, err := client.ResolveConfig(client.Config{Server: f.apiServer}, a.getenv, f.credentials)
	if err == nil && ccfg.APIKey != "" {
		var c *client.Client
		if c, err = client.New(ccfg); err == nil {
			return func(team string) jobs.Lister { return c.WithTeam(team) }
		}
		a.log.Warn("query campaigns (the create request's query field) are refused: no PDCP client for them", "err", err)
		return nil
	}
	a.log.Info("query campaigns (the create request's query field) are refused: serve has no PDCP API key to list them (PDCP_API_KEY or the credentials file)")
	return nil
}

func (a *app) cmdServe(ctx context.Context, args []string) error {
	f, err := a.parseServeFlags(args)
	if err != nil {
		return err
	}
	tokens, reload, err := a.serveAuth(f)
	if err != nil {
		return err
	}
	team, err := a.defaultTeam(f.teamID, f.credentials)
	if err != nil {
		return err
	}
	server, err := a.apiServer(f.apiServer, f.credentials)
	if err != nil {
		return err
	}
	ln, err := listenFlag("--addr", f.addr)
	if err != nil {
		return err
	}
	defer ln.Close() // Serve closes it too; a second Close is harmless
	_, rdb, err := a.connectRetry(ctx, f.rf)
	if err != nil {
		return err
	}
	defer a.closeRedis(rdb)
	reg := newRegistry()
	health := newRedisHealth(rdb, reg)
	notifiers, err := loadNotifiers(f.notifiers)
	if err != nil {
		return err
	}
	srv, err := httpapi.New(httpapi.Config{
		Store: jobs.NewStore(rdb, jobs.StoreOptions{Namespace: f.rf.namespace}), Tokens: tokens, TokenFile: f.tokensFile,
		TokenReloadInterval: reload, InsecureNoAuth: f.noAuth, MaxBodyBytes: f.maxBody, MaxRows: f.maxRows,
		MaxUploadMemory: f.maxUploadMem, MaxConcurrentUploads: f.maxUploads,
		Defaults: httpapi.Defaults{BatchSize: f.batchSize, Policy: jobs.DefaultPolicy(), ConfirmAbove: f.confirmAbove,
			Priority: jobs.PriorityNormal, TeamID: team, Server: server},
		Registerer: reg, Gatherer: reg, Ready: func() error { return health.check(context.Background()) }, Logger: a.log,
		ShutdownTimeout: f.shutdownTimeout, Console: a.consoleConfig(f, server, rdb), Notifiers: notifiers,
		Lister: a.serveLister(f), MaxQueryAssets: f.maxQueryAssets,
	})
	if err != nil {
		return usageError{err}
	}
	// The dispatcher stops with the API: a POST in flight is cancelled and
	// its entry stays in the outbox for the next process (or start). It
	// has stopped before the deferred closeRedis.
	waitDispatch, err := a.startDispatcher(ctx, rdb, f.rf.namespace, notifiers, reg)
	if err != nil {
		return err
	}
	defer waitDispatch()
	if f.noAuth {
		a.log.Warn("serving WITHOUT authentication (--insecure-no-auth): anyone who reaches this port can start campaigns")
	}
	return a.serveAPI(ctx, f, srv, health, ln)
}

// serveFlags are the flags of serve.
type serveFlags struct {
	rf                                                                  *redisFlags
	addr, certFile, keyFile, tokensFile, teamID, credentials, apiServer string
	notifiers                                                           string
	tokensReload, shutdownTimeout                                       time.Duration
	noAuth, console                                                     bool
	sessionTTL                                                          time.Duration
	rate                                                                float64
	maxBody, maxRows, maxUploadMem, confirmAbove, maxQueryAssets        int64
	maxUploads, batchSize                                               int
}

func (a *app) parseServeFlags(args []string) (*serveFlags, error) {
	f := &serveFlags{}
	fs := a.newFlagSet("serve")
	f.rf = a.addRedisFlags(fs)
	fs.StringVar(&f.addr, "addr", ":8080", "listen address (API, /metrics, /healthz, /readyz, /openapi.yaml)")
	fs.BoolVar(&f.console, "console", true, "serve the web console under /ui/ (sign in with an API token)")
	fs.DurationVar(&f.sessionTTL, "console-session", console.DefaultSessionTTL, "how long a console sign-in lasts")
	fs.Float64Var(&f.rate, "rate", DefaultRate, "the workers' shared requests/s (their --rate), to show the rate limiter's state on the console's campaign pages")
	fs.StringVar(&f.certFile, "tls-cert", "", "TLS certificate file (with --tls-key)")
	fs.StringVar(&f.keyFile, "tls-key", "", "TLS key file")
	fs.StringVar(&f.tokensFile, "tokens-file", "",
		"token file: tokens with names, roles and teams (YAML/JSON), or one token per line; reloaded when it changes and on SIGHUP "+
			"(env LABELRESET_API_TOKENS_FILE; plain tokens also from LABELRESET_API_TOKENS)")
	fs.DurationVar(&f.tokensReload, "tokens-reload", httpapi.DefaultTokenReloadInterval, "how often the token file is checked for changes (0: only on SIGHUP)")
	fs.BoolVar(&f.noAuth, "insecure-no-auth", false, "serve without authentication (local testing only)")
	fs.Int64Var(&f.maxBody, "max-body", httpapi.DefaultMaxBodyBytes, "largest request body in bytes")
	fs.Int64Var(&f.maxRows, "max-rows", httpapi.DefaultMaxRows, "most rows per request (a create or an append; blank and comment lines count)")
	fs.Int64Var(&f.maxUploadMem, "max-upload-memory", httpapi.DefaultMaxUploadMemory, "memory budget in bytes of one upload's asset ID set; a larger upload is refused with 413")
	fs.Int64Var(&f.maxQueryAssets, "max-query-assets", httpapi.DefaultMaxQueryAssets, "most assets one create request's query may list (more is refused with 413)")
	fs.IntVar(&f.maxUploads, "max-concurrent-uploads", httpapi.DefaultMaxConcurrentUploads, "create requests processed at once; more are refused with 503 and Retry-After")
	fs.Int64Var(&f.confirmAbove, "confirm-above", jobs.DefaultConfirmAbove, "campaigns with more assets are created pending (approve with POST .../approve)")
	fs.IntVar(&f.batchSize, "batch-size", jobs.DefaultBatchSize, "asset IDs per queued task")
	fs.StringVar(&f.teamID, "team-id", "", "team of campaigns whose request names none (env PDCP_TEAM_ID, then the credentials file)")
	fs.StringVar(&f.credentials, "credentials", client.DefaultCredentialsPath(), "ProjectDiscovery credentials file (for its team-id and server)")
	fs.StringVar(&f.apiServer, "api-server", "", "PDCP API server recorded in campaigns; only workers for this server work them (env PDCP_API_SERVER, then the credentials file, default "+client.DefaultServer+")")
	fs.StringVar(&f.notifiers, "notifiers", "", notifiersUsage)
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", httpapi.DefaultShutdownTimeout, "graceful stop bound: requests in progress get this long, then their connections are closed")
	if _, err := a.parseFlags(fs, args); err != nil {
		return nil, err
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return nil, usagef("--tls-cert and --tls-key go together")
	}
	return f, nil
}

// serveAuth returns the API tokens from the environment and the token
// file's reload interval in httpapi's terms, refusing a serve that would
// have no authentication by accident or both kinds at once.
func (a *app) serveAuth(f *serveFlags) (tokens []string, reload time.Duration, err error) {
	tokens = httpapi.ParseTokens(a.getenv("LABELRESET_API_TOKENS"))
	switch {
	case len(tokens) == 0 && f.tokensFile == "" && !f.noAuth:
		return nil, 0, usagef("no API tokens: set LABELRESET_API_TOKENS or pass --tokens-file FILE (env LABELRESET_API_TOKENS_FILE); " +
			"to serve without authentication, for local testing only, pass --insecure-no-auth")
	case (len(tokens) > 0 || f.tokensFile != "") && f.noAuth:
		return nil, 0, usagef("--insecure-no-auth is given together with API tokens (LABELRESET_API_TOKENS or --tokens-file): drop one of them")
	}
	reload = f.tokensReload
	switch {
	case reload < 0:
		return nil, 0, usagef("--tokens-reload %v: want 0 (only on SIGHUP) or more", reload)
	case reload == 0:
		reload = -1 // httpapi: no polling
	}
	return tokens, reload, nil
}

// serveAPI serves srv on ln until ctx is done, with the Redis health loop
// and the SIGHUP handler running beside it; it returns once they have
// ended.
func (a *app) serveAPI(ctx context.Context, f *serveFlags, srv *httpapi.Server, health *redisHealth, ln net.Listener) error {
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
				if f.tokensFile == "" {
					a.log.Info("SIGHUP ignored: there is no token file to reload (--tokens-file)")
					continue
				}
				srv.ReloadTokens()
			}
		}
	})
	// The bound address, not the flag: with port 0 it says which port.
	scheme := "http"
	if f.certFile != "" {
		scheme = "https"
	}
	if f.console {
		a.log.Info("API and console listening", "addr", ln.Addr().String(), "tls", f.certFile != "",
			"console", scheme+"://"+ln.Addr().String()+"/ui/")
	} else {
		a.log.Info("API listening (console off)", "addr", ln.Addr().String(), "tls", f.certFile != "")
	}
	return srv.Serve(ctx, ln, f.certFile, f.keyFile)
}
