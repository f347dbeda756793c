package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/console"
	"github.com/labelreset/labelreset/jobs/notify"
)

// Limits and timeouts of the server.
const (
	// DefaultMaxBodyBytes bounds a request body (an uploaded ID file).
	DefaultMaxBodyBytes = 64 << 20
	// DefaultMaxRows bounds the rows (valid, duplicate or bad) of one
	// campaign upload.
	DefaultMaxRows = 10_000_000
	// DefaultIdempotencyClaimTTL is the default Config.IdempotencyClaimTTL.
	DefaultIdempotencyClaimTTL = time.Minute
	// DefaultMaxUploadMemory is the default Config.MaxUploadMemory:
	// 64 MiB, which keeps serve under 256 MB RSS with one upload of any
	// shape (dense IDs: far more than MaxRows fit; scattered ones: about
	// 200,000).
	DefaultMaxUploadMemory = 64 << 20
	// DefaultMaxConcurrentUploads is the default
	// Config.MaxConcurrentUploads.
	DefaultMaxConcurrentUploads = 2
	// MinTokenLength is the shortest accepted API token.
	MinTokenLength = 16
	// DefaultShutdownTimeout is the default Config.ShutdownTimeout.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultTokenReloadInterval is the default Config.TokenReloadInterval.
	DefaultTokenReloadInterval = 2 * time.Second
	// DefaultMaxQueryAssets is the default Config.MaxQueryAssets.
	DefaultMaxQueryAssets = 1_000_000
	// DefaultQueryTimeout is the default Config.QueryTimeout: below
	// writeTimeout, so that the answer still reaches the client.
	DefaultQueryTimeout = 4 * time.Minute

	readHeaderTimeout = 10 * time.Second
	readTimeout       = 5 * time.Minute // large uploads over slow links
	writeTimeout      = 5 * time.Minute // large reports
	idleTimeout       = 2 * time.Minute
	// submitTimeout bounds the Redis work of one create or approve once
	// the request has been read; it outlives a client that hangs up, so
	// that a campaign is not left half enqueued.
	submitTimeout = 10 * time.Minute
)

// Config configures a Server.
type Config struct {
	// Store holds the campaigns (required).
	Store *jobs.Store
	// Tokens are bearer tokens of the plain list format, each at least
	// MinTokenLength characters. Each acts as operator and approver for
	// every team (what every token could do before roles existed); New
	// logs a warning for them. Prefer TokenFile.
	Tokens []string
	// TokenFile is a token file: the structured format (names, roles,
	// teams; see docs/http-api.md) or the plain list. It is read again when it
	// changes (checked every TokenReloadInterval while Serve runs) and on
	// ReloadTokens (SIGHUP), so that a token removed from it is refused
	// from then on, without a restart. A file that cannot be read or
	// parsed on a reload refuses every token of the file until it is
	// fixed: a revocation is never lost to a typo.
	TokenFile string
	// TokenReloadInterval is how often TokenFile is checked for changes.
	// Default 2s; negative checks never (ReloadTokens only).
	TokenReloadInterval time.Duration
	// InsecureNoAuth serves every route without authentication (local
	// testing only). It cannot be combined with Tokens or TokenFile.
	InsecureNoAuth bool
	// MaxBodyBytes bounds a request body. Default DefaultMaxBodyBytes
	// (64 MiB). A gzip-compressed upload may expand to 16 times this.
	MaxBodyBytes int64
	// MaxRows bounds the rows of one upload, blank and comment lines
	// included (plus one header line). Default DefaultMaxRows (10,000,000).
	MaxRows int64
	// MaxUploadMemory bounds the memory of one upload's asset ID set, as
	// estimated by jobs.IDSet.MemoryBytes: an upload that passes it is
	// refused with 413 while it is read. Dense IDs cost well under a byte
	// each, scattered ones up to 330 bytes while the set is built.
	// Default DefaultMaxUploadMemory.
	MaxUploadMemory int64
	// MaxConcurrentUploads bounds the create requests processed at once;
	// beyond it a create is refused with 503 and Retry-After. The
	// server's upload memory is bounded by MaxConcurrentUploads ×
	// MaxUploadMemory. Default DefaultMaxConcurrentUploads.
	MaxConcurrentUploads int
	// IdempotencyClaimTTL is how long an Idempotency-Key stays claimed by
	// a request whose campaign does not exist yet. The claim is renewed
	// while the request is processed, so it only lapses when the process
	// died: the key then works again after this long instead of answering
	// 409 for the retention. Default DefaultIdempotencyClaimTTL (1 minute).
	IdempotencyClaimTTL time.Duration
	// Lister lists PDCP assets for campaigns defined by a query (the
	// create request's query field), with the campaign's team ("" = no
	// X-Team-Id). Nil: such requests are refused with 501.
	Lister func(teamID string) jobs.Lister
	// MaxQueryAssets bounds the assets one query request may list; a
	// query selecting more is refused with 413 (too_many_assets): a cut
	// listing is not what the query means. Default DefaultMaxQueryAssets.
	MaxQueryAssets int64
	// QueryTimeout bounds the listing of one query request (the request's
	// own context bounds it too). Default DefaultQueryTimeout (4m).
	QueryTimeout time.Duration
	// Defaults apply to every campaign created through the API.
	Defaults Defaults
	// Notifiers are the operator's notifiers a created campaign may name
	// (its notify parameter: names only, never a URL). Nil: none, and a
	// create that names one is refused.
	Notifiers *notify.Config
	// Registerer receives the HTTP metrics; nil registers none.
	Registerer prometheus.Registerer
	// Gatherer is served at GET /metrics when non-nil.
	Gatherer prometheus.Gatherer
	// Ready is consulted by GET /readyz after a Redis ping; nil means
	// ready whenever Redis answers.
	Ready func() error
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Console serves the web console under /ui/ when set; New fills in
	// its Store, Backend and NoAuth.
	Console *console.Config
	// ShutdownTimeout bounds how long Run waits, once its context is
	// done, for requests in progress (an upload, a request waiting for an
	// unreachable Redis) before closing their connections. Default 10s.
	ShutdownTimeout time.Duration
}

// Defaults are the settings of campaigns created through the API that
// requests cannot choose.
type Defaults struct {
	// BatchSize is the number of assets per task. Default
	// jobs.DefaultBatchSize.
	BatchSize int
	// Policy is the retry and safety policy. The zero value means
	// jobs.DefaultPolicy(). Its Retention is also the lifetime of an
	// Idempotency-Key.
	Policy jobs.Policy
	// ConfirmAbove creates campaigns with more valid assets than this in
	// state pending: they run once approved with POST
	// /v1/campaigns/{id}/approve. 0 means jobs.DefaultConfirmAbove (1000);
	// negative never asks.
	ConfirmAbove int64
	// Priority is used when a request names none. Default normal.
	Priority jobs.Priority
	// TeamID is recorded in campaigns whose request names no team_id (the
	// server's PDCP_TEAM_ID): workers send the campaign's team, not
	// their own. "" means no X-Team-Id.
	TeamID string
	// Server is the PDCP API server recorded in every campaign
	// (client.NormalizeServer form): workers for another server leave
	// them alone. "" records none (any worker works them).
	Server string
}

// Server is the trigger API of "labelreset serve".
type Server struct {
	cfg    Config
	store  *jobs.Store
	log    *slog.Logger
	tokens atomic.Pointer[tokenSet]
	// fileSum is the SHA-256 of the token file as last read; only the
	// reload loop and ReloadTokens touch it, under reloadMu.
	reloadMu sync.Mutex
	fileSum  [sha256.Size]byte
	metrics  *metrics
	mux      *http.ServeMux
	probe    *http.ServeMux // the routes without the fallback, to tell 405 from 404
	routes   []string
	uploads  uploadSlots
	handler  http.Handler
	console  *console.Console
	now      func() time.Time
}

// New validates cfg and builds the server's routes.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, store: cfg.Store, log: cfg.Logger, mux: http.NewServeMux(),
		probe: http.NewServeMux(), now: time.Now, uploads: newUploadSlots(cfg.MaxConcurrentUploads),
	}
	if err := s.loadTokens(); err != nil {
		return nil, err
	}
	if ts := s.tokens.Load(); ts.legacy > 0 {
		s.log.Warn("API tokens given as a plain list act as operator and approver for every team, "+
			"and may approve their own campaigns: move them to a token file with names, roles and teams (see docs/http-api.md)",
			"plain_tokens", ts.legacy)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.routesInit()
	if err := s.initConsole(); err != nil {
		return nil, err
	}
	s.handler = s.mux
	return s, nil
}

// positiveOr sets a zero limit to its default and refuses a negative one.
func positiveOr[T int | int64](name string, v *T, def T) error {
	if *v == 0 {
		*v = def
	}
	if *v < 0 {
		return fmt.Errorf("httpapi: %s %d: want > 0", name, *v)
	}
	return nil
}

func (c *Config) validate() error {
	if c.Store == nil {
		return errors.New("httpapi: Store is required")
	}
	switch {
	case len(c.Tokens) == 0 && c.TokenFile == "" && !c.InsecureNoAuth:
		return errors.New("httpapi: no API tokens: set LABELRESET_API_TOKENS or a token file (or InsecureNoAuth for local testing only)")
	case (len(c.Tokens) > 0 || c.TokenFile != "") && c.InsecureNoAuth:
		return errors.New("httpapi: InsecureNoAuth is set together with API tokens: drop one of them")
	}
	if c.TokenReloadInterval == 0 {
		c.TokenReloadInterval = DefaultTokenReloadInterval
	}
	for i, t := range c.Tokens {
		if err := checkToken(t); err != nil {
			return fmt.Errorf("httpapi: API token %d of %d: %w", i+1, len(c.Tokens), err)
		}
	}
	if err := positiveOr("MaxBodyBytes", &c.MaxBodyBytes, DefaultMaxBodyBytes); err != nil {
		return err
	}
	if err := positiveOr("MaxUploadMemory", &c.MaxUploadMemory, DefaultMaxUploadMemory); err != nil {
		return err
	}
	if err := positiveOr("MaxRows", &c.MaxRows, DefaultMaxRows); err != nil {
		return err
	}
	if err := positiveOr("MaxConcurrentUploads", &c.MaxConcurrentUploads, DefaultMaxConcurrentUploads); err != nil {
		return err
	}
	if err := positiveOr("MaxQueryAssets", &c.MaxQueryAssets, DefaultMaxQueryAssets); err != nil {
		return err
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = DefaultQueryTimeout
	}
	if c.QueryTimeout < 0 {
		return fmt.Errorf("httpapi: QueryTimeout %v: want > 0", c.QueryTimeout)
	}
	if c.IdempotencyClaimTTL == 0 {
		c.IdempotencyClaimTTL = DefaultIdempotencyClaimTTL
	}
	if c.IdempotencyClaimTTL < 100*time.Millisecond {
		return fmt.Errorf("httpapi: IdempotencyClaimTTL %v: want at least 100ms", c.IdempotencyClaimTTL)
	}
	d := &c.Defaults
	if d.BatchSize == 0 {
		d.BatchSize = jobs.DefaultBatchSize
	}
	if d.BatchSize < 1 || d.BatchSize > jobs.MaxBatchSize {
		return fmt.Errorf("httpapi: default batch size %d: want 1..%d", d.BatchSize, jobs.MaxBatchSize)
	}
	if d.Policy == (jobs.Policy{}) {
		d.Policy = jobs.DefaultPolicy()
	}
	if err := d.Policy.Validate(); err != nil {
		return fmt.Errorf("httpapi: default policy: %w", err)
	}
	p, err := jobs.ParsePriority(string(d.Priority))
	if err != nil {
		return fmt.Errorf("httpapi: default %w", err)
	}
	d.Priority = p
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// actions are the POST /v1/campaigns/{id}/<action> routes.
var actions = []string{"approve", "pause", "resume", "cancel", "retry"}

func (s *Server) routesInit() {
	s.handle("GET /healthz", "", s.healthz)
	s.handle("GET /readyz", "", s.readyz)
	s.handle("GET /openapi.yaml", "", serveOpenAPI)
	if s.cfg.Gatherer != nil {
		s.handle("GET /metrics", "", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)
	}
	s.handle("POST /v1/campaigns", RoleOperator, s.createCampaign)
	s.handle("GET /v1/campaigns", RoleViewer, s.listCampaigns)
	s.handle("GET /v1/campaigns/{id}", RoleViewer, s.getCampaign)
	s.handle("GET /v1/campaigns/{id}/report", RoleViewer, s.report)
	s.handle("GET /v1/campaigns/{id}/events", RoleViewer, s.events)
	s.handle("GET /v1/campaigns/{id}/failures", RoleViewer, s.failures)
	s.handle("GET /v1/campaigns/{id}/snapshot", RoleViewer, s.snapshot)
	s.handle("POST /v1/campaigns/{id}/undo", RoleOperator, s.undo)
	s.handle("GET /v1/assets/{id}", RoleViewer, s.findAsset)
	for _, a := range actions {
		role := RoleOperator
		if a == "approve" {
			role = RoleApprover
		}
		s.handle("POST /v1/campaigns/{id}/"+a, role, s.action(a))
	}
	s.mux.Handle("/", s.instrument("unmatched", http.HandlerFunc(s.unmatched)))
}

// handle registers a route; its pattern is also its metrics label. A
// route with a role needs a token that holds it; "" is open.
func (s *Server) handle(pattern string, role Role, h http.HandlerFunc) {
	var hh http.Handler = h
	if role != "" {
		hh = s.authenticate(role, hh)
	}
	s.mux.Handle(pattern, s.instrument(pattern, hh))
	s.probe.Handle(pattern, http.NotFoundHandler())
	s.routes = append(s.routes, pattern)
}

// Handler returns the API's handler.
func (s *Server) Handler() http.Handler { return s.handler }

// unmatched answers requests no route matches: 405 (with Allow) when the
// path exists for another method, 404 otherwise, both as JSON.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := s.probe.Handler(r2); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", joinComma(allow))
		writeError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed",
			"method %s is not allowed on %s: use %s", r.Method, r.URL.Path, joinComma(allow)))
		return
	}
	writeError(w, errorf(http.StatusNotFound, "not_found", "no route for %s %s; see /openapi.yaml", r.Method, r.URL.Path))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Redis().Ping(ctx).Err(); err != nil {
		// The Redis address is not for unauthenticated callers: log it.
		s.log.Warn("readyz: redis ping failed", "err", err)
		writeError(w, errorf(http.StatusServiceUnavailable, "not_ready", "redis does not answer"))
		return
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			s.log.Warn("readyz: not ready", "err", err)
			writeError(w, errorf(http.StatusServiceUnavailable, "not_ready", "not ready: %v", err))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Run serves on addr until ctx is done, then shuts down gracefully,
// waiting up to 10s for requests in flight. It serves TLS when certFile
// and keyFile are set. It returns nil after a graceful shutdown.
func (s *Server) Run(ctx context.Context, addr, certFile, keyFile string) error {
	if (certFile == "") != (keyFile == "") {
		return errors.New("httpapi: TLS needs both a certificate and a key file")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("httpapi: listen: %w", err)
	}
	return s.Serve(ctx, ln, certFile, keyFile)
}

// Serve is Run on an existing listener, which it closes.
func (s *Server) Serve(ctx context.Context, ln net.Listener, certFile, keyFile string) error {
	if (certFile == "") != (keyFile == "") {
		ln.Close()
		return errors.New("httpapi: TLS needs both a certificate and a key file")
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// wg holds every goroutine Serve starts (the HTTP server's, the token
	// watcher): Serve returns only after they have.
	var wg sync.WaitGroup
	defer wg.Wait()
	if s.cfg.TokenFile != "" && s.cfg.TokenReloadInterval > 0 {
		wctx, stop := context.WithCancel(ctx)
		defer stop() // runs before wg.Wait
		wg.Go(func() { s.watchTokens(wctx) })
	}
	if s.console != nil {
		// The live streams end when ctx does, before Shutdown waits for
		// their connections.
		wg.Go(func() { s.console.Run(ctx) })
	}
	errc := make(chan error, 1)
	wg.Go(func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	})
	select {
	case err := <-errc:
		return fmt.Errorf("httpapi: serve: %w", err)
	case <-ctx.Done():
	}
	timeout := s.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // Serve returns ErrServerClosed as soon as Shutdown starts
	if err != nil {
		srv.Close()
		return fmt.Errorf("httpapi: graceful shutdown: %w", err)
	}
	return nil
}
