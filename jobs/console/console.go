package console

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// AllTeams in Identity.Teams lets the identity see every team's campaigns.
const AllTeams = "*"

// Defaults of Config.
const (
	DefaultSessionTTL   = 12 * time.Hour
	DefaultPollInterval = time.Second
	DefaultMaxStreams   = 256
	// DefaultMaxStreamsPerToken is the default Config.MaxStreamsPerToken.
	DefaultMaxStreamsPerToken = 16
)

// Identity is who a console session acts for: one token of the API's
// token set. It holds no secret.
type Identity struct {
	// Name is the token's name, shown on every page; the audit log
	// records actions as "api:NAME".
	Name string
	// Ref is an opaque reference to the token (its name and a digest of
	// its digest), which Backend.Lookup resolves against the token set in
	// force. It is stored in the session; it cannot be used as a token.
	Ref      string
	Operator bool
	Approver bool
	// Teams are the team IDs the token may see and act on; AllTeams means
	// all, including campaigns without a team.
	Teams []string
}

// AllowsTeam reports whether the identity may see campaigns of team ("" is
// the campaigns without a team, which only an all-teams token sees).
func (i *Identity) AllowsTeam(team string) bool {
	return slices.Contains(i.Teams, AllTeams) || (team != "" && slices.Contains(i.Teams, team))
}

// Role is the identity's roles as a person reads them.
func (i *Identity) Role() string {
	switch {
	case i.Operator && i.Approver:
		return "operator, approver"
	case i.Operator:
		return "operator"
	case i.Approver:
		return "approver"
	}
	return "viewer"
}

// Backend is what the console needs of the HTTP API server.
type Backend interface {
	// Login returns the identity of an API token in force, or false.
	Login(token string) (*Identity, bool)
	// Lookup returns the identity an Identity.Ref refers to if its token
	// is still in force, or false. With Config.NoAuth, Lookup("") is the
	// identity every request acts for.
	Lookup(ref string) (*Identity, bool)
	// ServeAs serves r, a request to the HTTP API (/v1/...), acting as id:
	// the API's role, team and self-approval checks apply, and state
	// changes are audited under the token's actor ("api:NAME"), the same
	// whether it acts through the API or the console.
	ServeAs(id *Identity, w http.ResponseWriter, r *http.Request)
}

// LimiterState is the shared rate limiter's state as the campaign page
// shows it.
type LimiterState struct {
	// Rate is the configured rate (calls per second), EffectiveRate what
	// the limiter grants now (lower after throttled answers).
	Rate          float64 `json:"rate"`
	EffectiveRate float64 `json:"effective_rate"`
	// PausedUntil is set while PDCP's Retry-After pauses every worker.
	PausedUntil time.Time `json:"paused_until,omitzero"`
}

// Config configures a Console.
type Config struct {
	// Store holds the campaigns (required).
	Store *jobs.Store
	// Backend is the HTTP API server (required).
	Backend Backend
	// NoAuth serves every page without a sign-in, as Backend.Lookup("")
	// (a server run with InsecureNoAuth; local testing only).
	NoAuth bool
	// SessionTTL is how long a session lasts after sign-in. Default 12h.
	SessionTTL time.Duration
	// Secure marks the session cookie Secure (the server runs TLS).
	Secure bool
	// APIServer is the PDCP API server campaigns run against by default,
	// shown before an approval.
	APIServer string
	// Limiter reads the shared rate limiter's state for a campaign; nil
	// shows none.
	Limiter func(ctx context.Context, c *jobs.Campaign) (*LimiterState, error)
	// PollInterval is how often a watched campaign's counters are read
	// (once per interval however many people watch). Default 1s; at most 2s.
	PollInterval time.Duration
	// MaxStreams bounds the live streams open at once. Default 256.
	MaxStreams int
	// MaxStreamsPerToken bounds the streams of one token, so that one
	// person's tabs (or a script with a session) cannot take every
	// stream from the others. Default 16.
	MaxStreamsPerToken int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Console serves the /ui/ pages.
type Console struct {
	cfg      Config
	store    *jobs.Store
	backend  Backend
	log      *slog.Logger
	mux      *http.ServeMux
	handler  http.Handler
	sessions *sessions
	rates    *rates
	hub      *hub
	now      func() time.Time
	// flashKey authenticates flash messages without a session (NoAuth).
	flashKey []byte
}

// New validates cfg and builds the console's routes.
func New(cfg Config) (*Console, error) {
	if cfg.Store == nil || cfg.Backend == nil {
		return nil, errors.New("console: Store and Backend are required")
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.PollInterval < 0 || cfg.PollInterval > 2*time.Second {
		return nil, fmt.Errorf("console: poll interval %v: want up to 2s", cfg.PollInterval)
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.MaxStreamsPerToken == 0 {
		cfg.MaxStreamsPerToken = DefaultMaxStreamsPerToken
	}
	if cfg.SessionTTL < 0 || cfg.MaxStreams < 0 || cfg.MaxStreamsPerToken < 0 {
		return nil, errors.New("console: negative SessionTTL, MaxStreams or MaxStreamsPerToken")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Console{cfg: cfg, store: cfg.Store, backend: cfg.Backend, log: cfg.Logger,
		mux: http.NewServeMux(), now: time.Now, flashKey: make([]byte, 32)}
	rand.Read(c.flashKey)
	c.sessions = newSessions(cfg.Store, cfg.SessionTTL)
	c.rates = newRates()
	c.hub = newHub(c)
	c.routes()
	c.handler = secure(c.mux)
	return c, nil
}

// ServeHTTP serves the console's pages.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// Run runs the live updates until ctx is done, then ends every stream and
// returns once they have.
func (c *Console) Run(ctx context.Context) { c.hub.run(ctx) }

func (c *Console) routes() {
	c.mux.HandleFunc("GET /ui/static/{file}", serveStatic)
	c.mux.HandleFunc("GET /ui/login", c.loginPage)
	c.mux.HandleFunc("POST /ui/login", c.login)
	c.mux.HandleFunc("POST /ui/logout", c.logout)
	c.mux.HandleFunc("GET /ui/{$}", c.signedIn(c.list))
	c.mux.HandleFunc("GET /ui/campaigns/{id}", c.signedIn(c.campaign))
	c.mux.HandleFunc("GET /ui/campaigns/{id}/live", c.signedIn(c.live))
	c.mux.HandleFunc("GET /ui/campaigns/{id}/failures", c.signedIn(c.failures))
	c.mux.HandleFunc("GET /ui/campaigns/{id}/{download}", c.signedIn(c.download))
	c.mux.HandleFunc("POST /ui/campaigns/{id}/{action}", c.signedIn(c.action))
	c.mux.HandleFunc("GET /ui/new", c.signedIn(c.newPage))
	c.mux.HandleFunc("POST /ui/new/plan", c.signedIn(c.newPlan))
	c.mux.HandleFunc("POST /ui/new", c.signedIn(c.newCreate))
	c.mux.HandleFunc("GET /ui/assets", c.signedIn(c.asset))
	c.mux.HandleFunc("/ui/", c.signedIn(c.notFound))
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotFound, "No page at "+r.URL.Path+".")
}
