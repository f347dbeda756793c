package schedule

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/notify"
)

// Options configure a Scheduler. Zero values take the documented defaults.
type Options struct {
	// Store holds the campaigns and gives the Redis client (required).
	Store *jobs.Store
	// Lister lists assets for pdcp_query sources. ListerFor, when set, is
	// used instead: it returns the lister for a schedule's team_id ("" =
	// the process default team). One of them is required when a schedule
	// has a pdcp_query source.
	Lister    Lister
	ListerFor func(teamID string) Lister
	// HTTPClient downloads url sources. Default: a client with its own
	// transport. The Scheduler uses a copy that refuses redirects to
	// anything but https (or loopback http when AllowInsecureHTTP).
	HTTPClient *http.Client
	// AllowInsecureHTTP accepts http:// URLs on loopback hosts (tests,
	// sidecars). Without it, New refuses schedules with http URLs.
	AllowInsecureHTTP bool
	// Defaults are the process-wide campaign settings.
	Defaults Defaults
	// Notifiers are the notifiers a schedule's notify may name; nil: none,
	// and New refuses a schedule that names one.
	Notifiers *notify.Config
	// Registerer receives the metrics; nil means none are registered.
	Registerer prometheus.Registerer
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Replica identifies this process in the fire claims. Default
	// "<hostname>-<pid>-<random>".
	Replica string
	// CreationLease is how long a campaign that a firing named as the
	// schedule's previous one, but that is not in the store yet, counts
	// as being created (so other replicas skip their fire times) unless
	// that firing recorded its end. It must outlast the longest firing
	// (reading the source and submitting); past it the firing is taken
	// for dead. Default DefaultCreationLease.
	CreationLease time.Duration
	// ShutdownTimeout bounds how long Run waits, once its context is done,
	// for firings in progress to finish before cancelling them. Default
	// 20s (below Kubernetes' default grace period of 30s).
	ShutdownTimeout time.Duration
}

// Defaults are the campaign settings a schedule does not set itself.
type Defaults struct {
	// BatchSize is used for schedules without batch_size. Default
	// jobs.DefaultBatchSize.
	BatchSize int
	// Policy is the retry and safety policy of every scheduled campaign;
	// the zero value means jobs.DefaultPolicy().
	Policy jobs.Policy
	// ConfirmAbove lowers the approval threshold of every schedule: a
	// firing with more assets than min(max_assets, ConfirmAbove) creates a
	// pending campaign. Zero or negative leaves max_assets alone (the
	// interactive default of jobs.DefaultConfirmAbove does not apply to
	// schedules: their max_assets is the deliberate threshold).
	ConfirmAbove int64
	// TeamID is recorded in campaigns of schedules with team_id "" (the
	// process's PDCP_TEAM_ID, the team their pdcp_query lists): workers
	// send the campaign's team, not their own.
	TeamID string
	// Server is the PDCP API server recorded in every campaign (the one
	// pdcp_query lists from; client.NormalizeServer form): workers for
	// another server leave them alone.
	Server string
}

// Fire results, the `result` label of labelreset_schedule_fires_total.
const (
	ResultCreated          = "created"
	ResultSkippedDuplicate = "skipped_duplicate"
	// ResultSkipped: the schedule's previous campaign was still open
	// (pending, running, paused, blocked or stopped); nothing was read or
	// created.
	ResultSkipped = "skipped"
	ResultEmpty   = "empty"
	ResultError   = "error"
)

// Errors of Fire.
var (
	// ErrUnknownSchedule: no schedule has the name given to Fire.
	ErrUnknownSchedule = errors.New("unknown schedule")
	// ErrAlreadyFired: another replica (or an earlier call) claimed this
	// fire time; nothing was done.
	ErrAlreadyFired = errors.New("fire time already claimed")
	// ErrCampaignIDTaken: the campaign ID of this fire time names a
	// campaign that no firing of the schedule created (another owner):
	// someone created it beforehand, with the same IDs or others. The firing is an error
	// (result "error"), not a duplicate: the schedule's run did not happen.
	ErrCampaignIDTaken = errors.New("campaign ID of the fire time taken by another campaign")
	// ErrNoAssets: the source yielded no valid asset ID; nothing was
	// created.
	ErrNoAssets = errors.New("no assets matched")
	// ErrPreviousOpen: the schedule's previous campaign has not finished;
	// the fire time was skipped. errors.As finds a *PreviousOpenError.
	ErrPreviousOpen = errors.New("previous campaign of the schedule still open")
)

// PreviousOpenError is Fire's error for a fire time skipped because the
// campaign the schedule created before is still open: a second campaign
// over the same assets would call each of them twice once both are
// approved.
type PreviousOpenError struct {
	Schedule string
	Campaign string
	State    jobs.State
	// Creating is set, with State empty, when the campaign is not in the
	// store yet but a firing named it within the creation lease: it may
	// be created any moment. Since is when that firing named it.
	Creating bool
	Since    time.Time
}

func (e *PreviousOpenError) Error() string {
	if e.Creating {
		return fmt.Sprintf("schedule %q: fire skipped: its previous campaign %s is still being created by another firing (named at %s; taken for abandoned once the creation lease has passed)",
			e.Schedule, e.Campaign, e.Since.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("schedule %q: fire skipped: its previous campaign %s is %s (approve, resume, retry or cancel it to let the schedule fire again)",
		e.Schedule, e.Campaign, e.State)
}

// Is makes errors.Is(err, ErrPreviousOpen) true.
func (e *PreviousOpenError) Is(target error) bool { return target == ErrPreviousOpen }

// claimTTL is how long a fire claim is kept; far longer than any firing.
const claimTTL = 24 * time.Hour

// Scheduler creates the campaigns of a set of schedules at their fire
// times. Several replicas may run the same configuration on one Redis:
// each fire time creates one campaign.
type Scheduler struct {
	store     *jobs.Store
	rdb       redis.UniversalClient
	ns        string
	schedules []*Schedule
	byName    map[string]*Schedule
	listerFor func(string) Lister
	http      *http.Client
	defaults  Defaults
	metrics   *metrics
	log       *slog.Logger
	now       func() time.Time
	replica   string
	shutdown  time.Duration
	lease     time.Duration
	running   atomic.Bool
}

// DefaultCreationLease is the default Options.CreationLease.
const DefaultCreationLease = 15 * time.Minute

// DefaultShutdownTimeout is Options.ShutdownTimeout when left zero.
const DefaultShutdownTimeout = 20 * time.Second

// New checks cfg against opts and returns a Scheduler. It registers the
// metrics with opts.Registerer.
func New(cfg *Config, opts Options) (*Scheduler, error) {
	if opts.Store == nil {
		return nil, errors.New("schedule: Options.Store is required")
	}
	if cfg == nil || len(cfg.Schedules) == 0 {
		return nil, errors.New("schedule: no schedules configured")
	}
	s := &Scheduler{
		store: opts.Store, rdb: opts.Store.Redis(), ns: opts.Store.Namespace(),
		byName: map[string]*Schedule{}, defaults: opts.Defaults, log: opts.Logger,
		now: opts.Now, replica: opts.Replica, shutdown: opts.ShutdownTimeout, lease: opts.CreationLease,
	}
	if err := s.setDefaults(opts); err != nil {
		return nil, err
	}
	if err := s.addSchedules(cfg, opts.AllowInsecureHTTP); err != nil {
		return nil, err
	}
	for _, sc := range s.schedules {
		if err := opts.Notifiers.Check(sc.Notify); err != nil {
			return nil, fmt.Errorf("schedule %q: notify: %w", sc.Name, err)
		}
	}
	names := make([]string, len(s.schedules))
	for i, sc := range s.schedules {
		names[i] = sc.Name
	}
	m, err := newMetrics(opts.Registerer, names)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// setDefaults fills in and checks the options New was given.
func (s *Scheduler) setDefaults(opts Options) error {
	if s.lease < 0 {
		return fmt.Errorf("schedule: creation lease %s: want > 0 (0 = default %s)", s.lease, DefaultCreationLease)
	}
	if s.lease == 0 {
		s.lease = DefaultCreationLease
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "scheduler")
	if s.now == nil {
		s.now = time.Now
	}
	if s.replica == "" {
		s.replica = defaultReplica()
	}
	if s.shutdown <= 0 {
		s.shutdown = DefaultShutdownTimeout
	}
	if s.defaults.BatchSize == 0 {
		s.defaults.BatchSize = jobs.DefaultBatchSize
	}
	if s.defaults.BatchSize < 1 || s.defaults.BatchSize > jobs.MaxBatchSize {
		return fmt.Errorf("schedule: default batch size %d: want 1..%d", s.defaults.BatchSize, jobs.MaxBatchSize)
	}
	if s.defaults.Policy == (jobs.Policy{}) {
		s.defaults.Policy = jobs.DefaultPolicy()
	}
	if err := s.defaults.Policy.Validate(); err != nil {
		return fmt.Errorf("schedule: default policy: %w", err)
	}
	switch {
	case opts.ListerFor != nil:
		s.listerFor = opts.ListerFor
	case opts.Lister != nil:
		l := opts.Lister
		s.listerFor = func(string) Lister { return l }
	}
	hc := http.Client{}
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	}
	hc.CheckRedirect = checkRedirect(opts.AllowInsecureHTTP)
	s.http = &hc
	return nil
}

// addSchedules takes a copy of every schedule of cfg, and refuses them all
// at once if any is invalid, shares a campaign ID prefix with another, or
// needs what the options do not give (an https URL, a PDCP client).
func (s *Scheduler) addSchedules(cfg *Config, allowInsecureHTTP bool) error {
	slugs := map[string]string{}
	var errs []error
	for i := range cfg.Schedules {
		sc := cfg.Schedules[i] // a copy: the Scheduler owns its schedules
		if err := sc.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := slugs[sc.slug]; dup {
			errs = append(errs, fmt.Errorf("schedule %q: same campaign ID prefix %q as schedule %q", sc.Name, sc.slug, other))
			continue
		}
		slugs[sc.slug] = sc.Name
		if sc.Source.URL != nil && !allowInsecureHTTP {
			if u, err := url.Parse(sc.Source.URL.URL); err == nil && u.Scheme == "http" {
				errs = append(errs, fmt.Errorf("schedule %q: source url is http; use https (http is accepted for loopback hosts only with AllowInsecureHTTP)", sc.Name))
			}
		}
		if sc.Source.PDCPQuery != nil && s.listerFor == nil {
			errs = append(errs, fmt.Errorf("schedule %q: pdcp_query source needs a PDCP client (Options.Lister or ListerFor)", sc.Name))
		}
		s.schedules = append(s.schedules, &sc)
		s.byName[sc.Name] = &sc
	}
	return errors.Join(errs...)
}

func defaultReplica() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b)
}

func (s *Scheduler) lister(team string) Lister {
	if s.listerFor == nil {
		return nil
	}
	return s.listerFor(team)
}

// Run fires every schedule at its fire times until ctx is done. Fire
// times are computed from the clock when Run starts and after each firing;
// fire times missed while the process was down, or while a firing of the
// same schedule was still running, are skipped, not back-filled.
//
// Shutdown order: when ctx is done no new firing starts; firings in
// progress get ShutdownTimeout to finish, then their context is cancelled;
// Run returns nil once every schedule's loop has ended. Calling Run while
// it runs returns an error.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("schedule: Run is already running")
	}
	defer s.running.Store(false)
	defer s.http.CloseIdleConnections()
	s.loadGauges(ctx)
	// Firings outlive ctx by up to ShutdownTimeout.
	fireCtx, cancelFires := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFires()
	var wg sync.WaitGroup
	for _, sc := range s.schedules {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, fireCtx, sc)
		}()
	}
	s.log.Info("scheduler started", "schedules", len(s.schedules), "replica", s.replica)
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(s.shutdown)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("scheduler: firings still running after the shutdown timeout; cancelling them", "timeout", s.shutdown)
		cancelFires()
		<-done
	}
	s.log.Info("scheduler stopped")
	return nil
}

// loop fires one schedule until ctx is done.
func (s *Scheduler) loop(ctx, fireCtx context.Context, sc *Schedule) {
	next := sc.nextAfter(s.now())
	for {
		if next.IsZero() {
			s.log.Warn("schedule never fires again", "schedule", sc.Name, "cron", sc.Cron)
			return
		}
		if !s.sleepUntil(ctx, next) {
			return
		}
		c, err := s.Fire(fireCtx, sc.Name, next)
		s.logFire(sc, next, c, err)
		after := sc.nextAfter(next)
		if now := s.now(); !after.IsZero() && !after.After(now) {
			skipTo := sc.nextAfter(now)
			s.log.Warn("schedule: firing outlasted the next fire times; skipping them",
				"schedule", sc.Name, "missed_from", after.UTC(), "next", skipTo.UTC())
			after = skipTo
		}
		next = after
	}
}

// sleepUntil waits until the clock reaches t; false if ctx ended first.
// Sleeps are capped so that a wall-clock jump is noticed within a minute.
func (s *Scheduler) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(s.now())
		if d <= 0 {
			return ctx.Err() == nil
		}
		timer := time.NewTimer(min(d, time.Minute))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

func (s *Scheduler) logFire(sc *Schedule, at time.Time, c *jobs.Campaign, err error) {
	attrs := []any{"schedule", sc.Name, "fire_time", at.UTC()}
	var open *PreviousOpenError
	switch {
	case err == nil:
		s.log.Info("schedule fired", append(attrs, "campaign", c.ID, "state", c.State, "assets", c.Total)...)
	case errors.Is(err, ErrAlreadyFired):
		s.log.Debug("schedule fired by another replica", attrs...)
	case errors.As(err, &open) && open.Creating:
		s.log.Warn("schedule fire skipped: its previous campaign is still being created by another firing",
			append(attrs, "campaign", open.Campaign, "named_at", open.Since.UTC())...)
	case errors.As(err, &open):
		s.log.Warn("schedule fire skipped: its previous campaign is still open",
			append(attrs, "campaign", open.Campaign, "state", open.State)...)
	case errors.Is(err, ErrNoAssets):
		s.log.Info("schedule fired: no assets matched, nothing created", append(attrs, "detail", err.Error())...)
	default:
		s.log.Error("schedule firing failed", append(attrs, "err", err)...)
	}
}

// Fire performs the firing of schedule name for fire time at (truncated to
// the second): it claims the fire time in Redis, reads the source and
// submits campaign CampaignID(name, at). It returns ErrAlreadyFired when
// the fire time was claimed before, ErrNoAssets when the source had no
// valid ID; every outcome except ErrAlreadyFired is recorded for List.
func (s *Scheduler) Fire(ctx context.Context, name string, at time.Time) (*jobs.Campaign, error) {
	sc := s.byName[name]
	if sc == nil {
		return nil, fmt.Errorf("schedule %q: %w", name, ErrUnknownSchedule)
	}
	at = at.UTC().Truncate(time.Second)
	id := CampaignID(sc.Name, at)
	ok, err := s.rdb.SetNX(ctx, jobs.ScheduleClaimKey(s.ns, sc.slug, at), s.replica, claimTTL).Result()
	if err != nil {
		err = fmt.Errorf("schedule %q: claim fire time %s: %w", sc.Name, at.Format(time.RFC3339), err)
		s.metrics.fired(sc.Name, ResultError, time.Time{})
		return nil, err
	}
	if !ok {
		s.metrics.fired(sc.Name, ResultSkippedDuplicate, time.Time{})
		return nil, fmt.Errorf("schedule %q at %s: %w", sc.Name, at.Format(time.RFC3339), ErrAlreadyFired)
	}
	c, result, err := s.fireUnlessOpen(ctx, sc, at, id)
	if result != ResultSkippedDuplicate {
		if rerr := s.record(ctx, sc, at, c, result, err); rerr != nil {
			s.log.Warn("schedule: cannot record firing", "schedule", sc.Name, "err", rerr)
		}
	}
	s.metrics.fired(sc.Name, result, at)
	return c, err
}

// fireUnlessOpen fires unless the schedule's previous campaign is still
// open.
func (s *Scheduler) fireUnlessOpen(ctx context.Context, sc *Schedule, at time.Time, id string) (*jobs.Campaign, string, error) {
	prev, creating, err := s.previous(ctx, sc, id)
	switch {
	case err != nil:
		// Unknown is not "finished": create nothing.
		return nil, ResultError, fmt.Errorf("schedule %q: %w", sc.Name, err)
	case creating != nil:
		return nil, ResultSkipped, creating
	case prev != nil && !prev.State.Final():
		return nil, ResultSkipped, &PreviousOpenError{Schedule: sc.Name, Campaign: prev.ID, State: prev.State}
	}
	// Named before it exists: a scheduler that dies between creating the
	// campaign and recording it must not leave the next firing blind.
	if err := s.markPrevious(ctx, sc, at, id); err != nil {
		return nil, ResultError, fmt.Errorf("schedule %q: %w", sc.Name, err)
	}
	return s.fire(ctx, sc, at, id)
}

// owner is the Owner of the schedule's campaigns.
func (sc *Schedule) owner() string { return "schedule:" + sc.slug }

// fire reads the source and submits the campaign; it returns the result
// label.
func (s *Scheduler) fire(ctx context.Context, sc *Schedule, at time.Time, id string) (*jobs.Campaign, string, error) {
	def := &jobs.Campaign{
		ID: id, Name: id, Mode: sc.Mode, Labels: sc.Labels, TeamID: cmp.Or(sc.TeamID, s.defaults.TeamID),
		Server: s.defaults.Server, Source: sc.desc, Priority: sc.prio, BatchSize: sc.BatchSize, Policy: s.defaults.Policy,
		CreatedAt: s.now().UTC(), Owner: sc.owner(), Snapshot: sc.snap, ResetUnlisted: sc.ResetUnlisted,
		Notify: sc.Notify, Express: sc.Express, ExpressDeadline: sc.ExpressDeadline,
	}
	if q := sc.Source.PDCPQuery; q != nil {
		def.Query = q.campaignQuery()
	}
	if def.BatchSize == 0 {
		def.BatchSize = s.defaults.BatchSize
	}
	rd, err := s.read(ctx, sc, def)
	if err != nil {
		return nil, ResultError, fmt.Errorf("schedule %q: %w", sc.Name, err)
	}
	if rd.plan.Valid == 0 {
		if rd.plan.Rows > 0 {
			return nil, ResultEmpty, fmt.Errorf("%w (%d rows, %d bad)", ErrNoAssets, rd.plan.Rows, rd.plan.Bad)
		}
		return nil, ResultEmpty, ErrNoAssets
	}
	confirm := sc.MaxAssets
	if d := s.defaults.ConfirmAbove; d > 0 && d < confirm {
		confirm = d
	}
	res, err := s.store.Submit(jobs.WithActor(ctx, "scheduler:"+sc.Name), def, rd.plan, jobs.SubmitOptions{ConfirmAbove: confirm, RequireApproval: sc.SelectAll})
	switch {
	case errors.Is(err, jobs.ErrInputMismatch):
		// The campaign of this fire time exists with another input. If a
		// firing of this schedule created it (the claim expired and the
		// source changed since), the fire time was handled: a duplicate.
		// Otherwise someone took the ID beforehand: nothing of this fire
		// time was created, and that is an error, not a duplicate.
		existing, gerr := s.store.Get(ctx, id)
		if gerr == nil && existing.Owner == sc.owner() {
			return nil, ResultSkippedDuplicate, fmt.Errorf("schedule %q: campaign %s exists: %w", sc.Name, id, ErrAlreadyFired)
		}
		owner := "unknown"
		if gerr == nil {
			owner = existing.Owner
		}
		return nil, ResultError, fmt.Errorf("schedule %q: campaign %s exists with another input, created by %q, not by the schedule: %w (%w)",
			sc.Name, id, owner, ErrCampaignIDTaken, err)
	case err != nil:
		return nil, ResultError, fmt.Errorf("schedule %q: submit campaign %s: %w", sc.Name, id, err)
	case res.Existing && res.Campaign.Owner != sc.owner():
		return nil, ResultError, fmt.Errorf("schedule %q: campaign %s exists, created by %q, not by the schedule: %w",
			sc.Name, id, res.Campaign.Owner, ErrCampaignIDTaken)
	case res.Existing:
		// The same input submitted again by a firing of this fire time
		// (its claim expired or was removed): a true duplicate.
		return nil, ResultSkippedDuplicate, fmt.Errorf("schedule %q: campaign %s exists: %w", sc.Name, id, ErrAlreadyFired)
	}
	c := res.Campaign
	if c.State == jobs.StatePending {
		reason := fmt.Sprintf("schedule would touch more than max_assets (%d): the source has %d assets; approve to run it", sc.MaxAssets, rd.plan.Valid)
		// A truncated listing holds the first assets in PDCP's order; the
		// next firing lists from the start again, so it reaches other
		// assets only if this campaign takes these out of the query.
		const again = "later firings list from the start again and select these same first assets, " +
			"unless this campaign takes them out of the query (e.g. deletes the labels it filters by)"
		switch {
		case sc.SelectAll && rd.truncated:
			reason = fmt.Sprintf("schedule has select_all: its query selects every asset of the team; listing stopped after the first %d assets (max_assets %d); "+
				"approve to reset these; "+again, rd.plan.Valid, sc.MaxAssets)
		case sc.SelectAll:
			reason = fmt.Sprintf("schedule has select_all: its query selects every asset of the team (%d assets); approve to run it", rd.plan.Valid)
		case rd.truncated:
			reason = fmt.Sprintf("schedule would touch more than max_assets (%d): listing stopped after the first %d assets; "+
				"approve to reset these; "+again, sc.MaxAssets, rd.plan.Valid)
		case rd.plan.Valid <= sc.MaxAssets:
			reason = fmt.Sprintf("schedule would touch %d assets, more than the confirmation threshold (%d); approve to run it", rd.plan.Valid, confirm)
		}
		if err := s.setReason(ctx, c.ID, reason); err != nil {
			s.log.Warn("schedule: cannot store the reason of a pending campaign", "campaign", c.ID, "err", err)
		} else {
			c.Reason = reason
		}
	}
	return c, ResultCreated, nil
}
