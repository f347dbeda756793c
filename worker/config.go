package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
)

// Config configures a Worker. Zero values take the documented defaults.
type Config struct {
	// Redis locates the shared Redis (required).
	Redis *redis.UniversalOptions
	// Namespace of keys and queues. Default jobs.DefaultNamespace.
	Namespace string
	// API returns the PDCP caller for a campaign's team ID ("" = no
	// X-Team-Id). Required.
	API func(teamID string) Caller
	// LegacyTeamID is the team for campaigns stored by versions that did
	// not record one (jobs.Campaign.TeamRecorded false) and have none:
	// those versions sent the worker's own team, and their campaigns keep
	// getting it.
	LegacyTeamID string
	// Server is the PDCP API server API calls (client.NormalizeServer
	// form). A campaign that recorded another server is left alone: its
	// batches go back to the queue untouched, for a worker of that server,
	// and the skip is logged once per campaign and counted in
	// labelreset_batches_skipped_total. "" (and campaigns that recorded no
	// server) skips the check.
	Server string
	// Campaigns, when not empty, are the only campaigns this worker works
	// ("labelreset run" works its own campaign only, even on a shared
	// Redis); batches of others go back to the queue untouched.
	Campaigns []string
	// Limiter is the shared requests/s budget; nil means unlimited.
	Limiter Limiter
	// Concurrency caps PDCP calls in flight in this process (plus their
	// outcomes not yet recorded). Default DefaultConcurrency.
	Concurrency int
	// ShutdownTimeout bounds a graceful stop: in-flight calls finish and
	// their outcomes are recorded; unfinished batches go back to the queue.
	// Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// StatePollInterval is how often campaign states (pause, cancel,
	// block) are re-read from Redis. Default 200ms. jobs.StoreOptions'
	// ControlDelay must be larger.
	StatePollInterval time.Duration
	// HandBackAfter: an asset whose next attempt is further away than this
	// is handed back to the queue instead of holding the batch. Default 250ms:
	// a batch slot sleeping on a backoff would otherwise stall its whole batch.
	HandBackAfter time.Duration
	// HoldDelay is how long a batch of a paused, blocked, stopped or
	// pending campaign waits in the queue before it is looked at again.
	// Default 2s.
	HoldDelay time.Duration
	// JanitorInterval is how often expired campaigns are deleted. Default 5m.
	JanitorInterval time.Duration
	// RepairAfter is how long a running campaign with unfinished assets
	// may make no progress, while no task of its own is queued, active,
	// scheduled or retrying, before its unfinished assets are re-enqueued
	// (see orphanRepair). Default 30s.
	RepairAfter time.Duration
	// SnapshotPageSize is the limit of each inventory page a campaign
	// snapshot asks for. Default and maximum client.MaxPageSize (1000).
	// PDCP may answer fewer rows (it may cap limit silently); the snapshot
	// pages by the rows it gets, so a cap costs requests, not assets.
	SnapshotPageSize int
	// SnapshotCheckpointEvery is how often a snapshot writes its progress
	// to Redis while it lists (and always when it stops or hands its task
	// back). A worker killed outright lists again at most what it read in
	// that time. Default 1s: one Redis script a second per segment
	// whatever the page rate, instead of one per page.
	SnapshotCheckpointEvery time.Duration
	// Registerer receives the metrics; nil means a private registry.
	Registerer prometheus.Registerer
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Redis == nil || len(c.Redis.Addrs) == 0 {
		return errors.New("worker: Redis is required")
	}
	if c.API == nil {
		return errors.New("worker: API is required")
	}
	if c.Namespace == "" {
		c.Namespace = jobs.DefaultNamespace
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Concurrency < 1 || c.Concurrency > 10000 {
		return fmt.Errorf("worker: concurrency %d: want 1..10000", c.Concurrency)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.StatePollInterval == 0 {
		c.StatePollInterval = 200 * time.Millisecond
	}
	if c.HandBackAfter == 0 {
		c.HandBackAfter = 250 * time.Millisecond
	}
	if c.HoldDelay == 0 {
		c.HoldDelay = 2 * time.Second
	}
	if c.JanitorInterval == 0 {
		c.JanitorInterval = 5 * time.Minute
	}
	if c.RepairAfter == 0 {
		c.RepairAfter = 30 * time.Second
	}
	if c.SnapshotPageSize == 0 {
		c.SnapshotPageSize = client.MaxPageSize
	}
	if c.SnapshotPageSize < 1 || c.SnapshotPageSize > client.MaxPageSize {
		return fmt.Errorf("worker: snapshot page size %d: want 1..%d", c.SnapshotPageSize, client.MaxPageSize)
	}
	if c.SnapshotCheckpointEvery == 0 {
		c.SnapshotCheckpointEvery = time.Second
	}
	if c.Limiter == nil {
		c.Limiter = noLimit{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	return nil
}
