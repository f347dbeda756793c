package jobs

import (
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labelreset/labelreset/client"
)

// Mode says what a campaign does to each asset.
type Mode string

const (
	// ModeDelete removes all labels: DELETE /v1/asset/{id}/labels.
	ModeDelete Mode = "delete"
	// ModeRemove removes the campaign's label list:
	// PATCH /v1/asset/{id}/labels?update_type=delete.
	ModeRemove Mode = "remove"
	// ModeRestore puts back the labels another campaign removed (undo):
	// POST /v1/asset/{id}/labels, or PATCH ...?update_type=replace when
	// Campaign.Exact, with each asset's own labels (BatchLabels).
	ModeRestore Mode = "restore"
)

// State is a campaign's lifecycle state.
type State string

// Campaign states. pending waits for approval; paused, blocked and stopped
// hold their batches until resumed; cancelled and done are final.
const (
	StatePending   State = "pending"
	StateRunning   State = "running"
	StatePaused    State = "paused"
	StateBlocked   State = "blocked" // PDCP answered 401/403
	StateStopped   State = "stopped" // failure threshold exceeded
	StateCancelled State = "cancelled"
	StateDone      State = "done"
)

// Holding reports whether batches of a campaign in this state must wait
// without calling PDCP.
func (s State) Holding() bool {
	switch s {
	case StatePending, StatePaused, StateBlocked, StateStopped:
		return true
	}
	return false
}

// Final reports whether the campaign has ended.
func (s State) Final() bool { return s == StateDone || s == StateCancelled }

// Priority selects the asynq queue of a campaign's batches.
type Priority string

// Priorities, mapped to weighted asynq queues by Queues.
const (
	PriorityHigh   Priority = "high"
	PriorityNormal Priority = "normal"
	PriorityLow    Priority = "low"
)

// ParsePriority accepts high, normal and low ("" means normal).
func ParsePriority(s string) (Priority, error) {
	switch Priority(s) {
	case "":
		return PriorityNormal, nil
	case PriorityHigh, PriorityNormal, PriorityLow:
		return Priority(s), nil
	}
	return "", fmt.Errorf("priority %q: want high, normal or low", s)
}

// Policy is the per-campaign retry and safety policy. It is stored with the
// campaign so that every worker applies the same rules, whatever its own
// defaults are.
type Policy struct {
	// MaxAttempts is the number of calls an asset gets that fail with a
	// retryable answer (5xx, network errors) before it ends failed.
	// Default 8: with the default backoff, at least 30s between the first
	// and the last attempt, so a short outage or a deploy of the API
	// fails no asset. Throttled answers do not count here: see
	// MaxThrottled.
	MaxAttempts int `json:"max_attempts"`
	// MaxThrottled is the number of throttled answers (429, or 503 with
	// Retry-After) an asset may get before it ends failed. Throttling says
	// the API is busy, not that the asset is bad, and the shared limiter
	// already slows every worker down; counting it against MaxAttempts
	// would fail assets of a healthy API that is pushing back. It is still
	// bounded, so an API that throttles forever ends the campaign instead
	// of holding it open. 0 means the default, 50 (campaigns created before
	// the field existed).
	MaxThrottled int `json:"max_throttled,omitempty"`
	// BackoffBase and BackoffCap bound the exponential backoff (equal
	// jitter) between attempts. Defaults 500ms and 30s.
	BackoffBase time.Duration `json:"backoff_base"`
	BackoffCap  time.Duration `json:"backoff_cap"`
	// MaxFailureRatio stops the campaign when failed+invalid exceed this
	// share of finished assets, once MinSample assets have finished.
	// Defaults 0.5 and 1000; a ratio of 1 disables the check.
	MaxFailureRatio float64 `json:"max_failure_ratio"`
	MinSample       int64   `json:"min_sample"`
	// Retention is how long the campaign's data is kept once it has
	// finished. Default 30 days.
	Retention time.Duration `json:"retention"`
}

// DefaultMaxThrottled is Policy.MaxThrottled's default.
const DefaultMaxThrottled = 50

// ThrottleBudget is MaxThrottled with 0 read as the default.
func (p Policy) ThrottleBudget() int {
	if p.MaxThrottled <= 0 {
		return DefaultMaxThrottled
	}
	return p.MaxThrottled
}

// DefaultPolicy returns the documented defaults.
func DefaultPolicy() Policy {
	return Policy{
		MaxAttempts:     8,
		MaxThrottled:    DefaultMaxThrottled,
		BackoffBase:     500 * time.Millisecond,
		BackoffCap:      30 * time.Second,
		MaxFailureRatio: 0.5,
		MinSample:       1000,
		Retention:       30 * 24 * time.Hour,
	}
}

// Validate checks the policy's ranges.
func (p Policy) Validate() error {
	switch {
	case p.MaxAttempts < 1 || p.MaxAttempts > 100:
		return fmt.Errorf("max attempts %d: want 1..100", p.MaxAttempts)
	case p.MaxThrottled < 0 || p.MaxThrottled > 10000:
		return fmt.Errorf("max throttled %d: want 1..10000 (0 = default %d)", p.MaxThrottled, DefaultMaxThrottled)
	case p.BackoffBase <= 0 || p.BackoffCap < p.BackoffBase:
		return fmt.Errorf("backoff base %v and cap %v: want 0 < base <= cap", p.BackoffBase, p.BackoffCap)
	case p.MaxFailureRatio <= 0 || p.MaxFailureRatio > 1:
		return fmt.Errorf("max failure ratio %v: want a value in (0, 1]", p.MaxFailureRatio)
	case p.MinSample < 1:
		return fmt.Errorf("min sample %d: want >= 1", p.MinSample)
	case p.Retention < time.Minute:
		return fmt.Errorf("retention %v: want at least 1m", p.Retention)
	}
	return nil
}

var campaignIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ErrInvalidCampaignID is returned for IDs outside [A-Za-z0-9._-]{1,64}.
var ErrInvalidCampaignID = errors.New("campaign ID must match [A-Za-z0-9._-]{1,64}")

// ValidateCampaignID checks a user-supplied campaign ID.
func ValidateCampaignID(id string) error {
	if !campaignIDRe.MatchString(id) {
		return fmt.Errorf("campaign ID %q: %w", id, ErrInvalidCampaignID)
	}
	return nil
}

// NewCampaignID returns a sortable, readable ID such as
// "c-20261127-021455-3f9a".
func NewCampaignID(now time.Time) string {
	return fmt.Sprintf("c-%s-%04x", now.UTC().Format("20060102-150405"), uint16(now.UnixNano()>>8))
}

// NewIncarnation returns a random incarnation ID (Campaign.Incarnation):
// 16 hex digits.
func NewIncarnation() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// validIncarnation reports whether s can be an incarnation ID in a task
// payload: 1..32 characters of [0-9a-z].
func validIncarnation(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// identity names one incarnation of the campaign for process caches:
// the incarnation ID, or for a campaign stored by an earlier version
// (none) its creation time, which differs between two creations of the
// same ID as well.
func (c *Campaign) identity() string {
	if c.Incarnation != "" {
		return c.Incarnation
	}
	return "t" + strconv.FormatInt(c.CreatedAt.UnixMilli(), 10)
}

// LedgerIdentity names the campaign's creation for Ledger.RecordIncarnation:
// its incarnation ID, or for a campaign stored by an earlier version "@"
// and its creation time (ms), so that outcomes made for a deleted legacy
// campaign are never written to one created again under its ID. "@" is
// never part of an incarnation ID.
func (c *Campaign) LedgerIdentity() string {
	if c.Incarnation != "" {
		return c.Incarnation
	}
	return "@" + strconv.FormatInt(c.CreatedAt.UnixMilli(), 10)
}

// IncarnationFields are the meta hash fields that SameIncarnation reads,
// in its order.
var IncarnationFields = []string{"inc", "created", "deleting"}

// SameIncarnation reports whether the meta hash fields IncarnationFields
// (an HMGET answer, in that order) still describe c's incarnation, and it
// is not being deleted. Processes that keep a campaign's data check this
// before they use it again.
func (c *Campaign) SameIncarnation(f []any) bool {
	if len(f) != 3 || f[2] != nil {
		return false
	}
	inc, _ := f[0].(string)
	created, _ := f[1].(string)
	if inc != c.Incarnation {
		return false
	}
	return inc != "" || created == strconv.FormatInt(c.CreatedAt.UnixMilli(), 10)
}

// Outcome names as recorded in the ledger and shown in reports.
const (
	OutcomeReset     = "reset"
	OutcomeNotFound  = "not_found"
	OutcomeInvalid   = "invalid"
	OutcomeFailed    = "failed"
	OutcomeCancelled = "cancelled"
	OutcomePending   = "pending" // not finished yet (report only)
	// OutcomeNotInInventory: the snapshot did not find the asset, so it
	// was not called (almost always an ID that does not exist), unless
	// Campaign.ResetUnlisted.
	OutcomeNotInInventory = "not_in_inventory"
	// OutcomeUnchanged: a restore campaign had nothing to put back on the
	// asset (it held no labels, or was never called), so it was not called.
	OutcomeUnchanged = "unchanged"
	// OutcomeRestored: a restore campaign put the asset's labels back.
	OutcomeRestored = "restored"
)

// Outcomes lists the terminal outcomes in report order.
var Outcomes = []string{OutcomeReset, OutcomeNotFound, OutcomeInvalid, OutcomeFailed, OutcomeCancelled,
	OutcomeNotInInventory, OutcomeRestored, OutcomeUnchanged}

// Campaign is the stored definition and progress of one campaign.
type Campaign struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Mode   Mode     `json:"mode"`
	Labels []string `json:"labels,omitempty"`
	TeamID string   `json:"team_id,omitempty"`
	// Server is the PDCP API server the campaign was planned against, in
	// client.NormalizeServer's form (never with a key). Workers configured
	// for another server leave its batches alone: its asset IDs mean other
	// assets there, and a 404 there would be recorded as a final
	// not_found. Empty for campaigns stored by versions that did not
	// record it: any worker works those, as before.
	Server string `json:"api_server,omitempty"`
	Source string `json:"source,omitempty"`
	// Snapshot is true when the campaign records every asset's labels
	// before it resets any (the default): it can be undone.
	Snapshot bool `json:"snapshot"`
	// ResetUnlisted calls assets the snapshot did not find in the
	// inventory instead of recording them not_in_inventory.
	ResetUnlisted bool `json:"reset_unlisted,omitempty"`
	// Query is the campaign's own listing filter (URL query form), for
	// campaigns defined by a query: it narrows the snapshot's listing.
	Query string `json:"query,omitempty"`
	// Express removes Labels from every asset Query selects with one bulk
	// call (PATCH /v1/asset/labels) instead of one call per asset, then
	// verifies asset by asset and calls the rest one by one (express.go).
	// It needs Query, remove mode and the snapshot.
	Express bool `json:"express,omitempty"`
	// ExpressDeadline bounds the verification of an express campaign,
	// from the bulk call on: assets not seen without the removed labels
	// by then are called one by one. 0 means DefaultExpressDeadline.
	ExpressDeadline time.Duration `json:"express_deadline,omitempty"`
	// RestoreOf is the campaign a restore campaign undoes ("" for one
	// made from a snapshot file); Exact makes it replace labels exactly.
	RestoreOf string `json:"restore_of,omitempty"`
	Exact     bool   `json:"exact,omitempty"`
	// NotBefore, for a restore campaign, is the earliest time its
	// batches may call PDCP: the time its source stopped calling plus
	// RestoreGrace, when the source was undone while a call of it could
	// still be in flight (a call lasts up to client.DefaultTimeout, and
	// one applied after the restore would remove the restored labels
	// again). Zero: no wait. Workers hold the batches until then.
	NotBefore time.Time `json:"not_before,omitzero"`
	Priority  Priority  `json:"priority"`
	BatchSize int       `json:"batch_size"`
	// Notify names the operator's notifiers (package jobs/notify) that
	// get a signed POST when the campaign needs approval, is blocked,
	// stopped, cancelled, done or undone. Names only: the URLs and
	// secrets are the operator's configuration, never a client's input.
	Notify    []string  `json:"notify,omitempty"`
	Policy    Policy    `json:"policy"`
	CreatedAt time.Time `json:"created_at"`
	// Owner is an opaque identity of the creator (e.g. a hash of the
	// trigger API token), never a secret itself.
	Owner string `json:"-"`
	// Incarnation is a random ID given to the campaign when it is
	// created. A campaign ID can be created again once its data is gone
	// (retention, Delete, a Redis that lost its data); everything kept
	// outside the meta hash (caches, queued tasks, outcomes on their way)
	// names the incarnation too, so that nothing of an earlier campaign is
	// ever applied to a later one with the same ID. Campaigns stored by
	// earlier versions have none ("").
	Incarnation string `json:"-"`
	// TeamRecorded is true for campaigns whose creator resolved and
	// recorded the team (every campaign stored by this version): workers
	// send TeamID as it is, no X-Team-Id when empty. Campaigns stored by
	// older versions, which left the team to the workers, have it false.
	TeamRecorded bool `json:"-"`

	State       State            `json:"state"`
	Reason      string           `json:"reason,omitempty"`
	FinishedAt  time.Time        `json:"finished_at,omitzero"`
	Total       int64            `json:"total"`
	Counts      map[string]int64 `json:"counts"`
	Attempts    int64            `json:"-"`
	Batches     int              `json:"batches"`
	Segments    int              `json:"segments"`
	Gen         int              `json:"redrives"`
	Fingerprint string           `json:"-"`

	// ApprovedTotal is how many of Total's assets an approval covers: the
	// total when the campaign was created running (under the confirmation
	// threshold, or confirmed with --yes) or last approved, plus appends
	// confirmed by their own caller. An append that takes Total more than
	// the threshold above it makes the campaign wait for approval again,
	// whatever its state, so approving (or starting) a few assets never
	// covers the many appended later.
	ApprovedTotal int64 `json:"approved_total"`
	// CreatedBy and ApprovedBy are the actors of the creation and of the
	// last approval, kept in the meta hash as well as in the audit log so
	// that no flood of events can push them out of sight.
	CreatedBy  string `json:"created_by,omitempty"`
	ApprovedBy string `json:"approved_by,omitempty"`
	// Stagers are the actors who added assets since the last approval
	// (the creator and every appender): none of them may approve those
	// assets. StagersRecorded is false for campaigns stored by versions
	// that did not record them.
	Stagers         []string `json:"-"`
	StagersRecorded bool     `json:"-"`
}

// Finished returns the number of assets with a terminal outcome.
func (c *Campaign) Finished() int64 {
	var n int64
	for _, o := range Outcomes {
		n += c.Counts[o]
	}
	return n
}

// Validate checks the definition part of a campaign.
func (c *Campaign) Validate() error {
	err := c.validate()
	if err == nil || errors.Is(err, ErrInvalidCampaignID) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInvalidCampaign, err)
}

// ParseLabelList splits a comma-separated list of labels, as given to
// --labels or the HTTP labels= parameter. A label that holds a comma is
// quoted CSV-style ("a,b",c; "" for a quote inside); blanks around labels
// and empty items are dropped.
func ParseLabelList(s string) ([]string, error) {
	if n := strings.Count(s, ","); n >= MaxLabels*4 {
		// Far beyond the limit even if most items are empty: refuse before
		// splitting a huge string.
		return nil, fmt.Errorf("labels: %d items: %w", n+1, ErrTooManyLabels)
	}
	r := csv.NewReader(strings.NewReader(s))
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	rec, err := r.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("labels %.80q: %w", s, err)
	}
	if _, err := r.Read(); err != io.EOF {
		return nil, fmt.Errorf("labels %.80q: a line break is not allowed", s)
	}
	var out []string
	for _, l := range rec {
		if l = strings.TrimSpace(l); l != "" {
			if strings.ContainsFunc(l, isControl) {
				return nil, fmt.Errorf("label %q: control characters are not allowed", l)
			}
			if len(l) > MaxLabelLen {
				return nil, fmt.Errorf("label %.40q…: %d bytes, want at most %d", l, len(l), MaxLabelLen)
			}
			out = append(out, l)
		}
	}
	if len(out) > MaxLabels {
		return nil, fmt.Errorf("labels: %d labels: %w", len(out), ErrTooManyLabels)
	}
	return out, nil
}

// MaxLabels and MaxLabelLen bound the labels one campaign removes. PDCP
// documents no limit (openapi: labels is an array of strings), but every
// label is stored in the campaign's meta, echoed in answers and sent with
// every PATCH: without a bound one request could make serve, Redis and
// every worker hold millions of them.
const (
	MaxLabels   = 100
	MaxLabelLen = 256
)

// ErrTooManyLabels is returned for more than MaxLabels labels.
var ErrTooManyLabels = fmt.Errorf("too many labels: want at most %d", MaxLabels)

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

// ErrInvalidCampaign wraps every error of Campaign.Validate (a bad
// definition: the caller's input, not a failure).
var ErrInvalidCampaign = errors.New("invalid campaign")

// CheckTeamID says why id cannot be a campaign's team ID, or returns nil:
// at most 256 bytes that the client can send as X-Team-Id.
func CheckTeamID(id string) error {
	if len(id) > 256 || !client.ValidTeamID(id) {
		return fmt.Errorf("team ID %q: want at most 256 characters without spaces or control characters", id)
	}
	return nil
}

func (c *Campaign) validate() error {
	if err := ValidateCampaignID(c.ID); err != nil {
		return err
	}
	if err := CheckTeamID(c.TeamID); err != nil {
		return err
	}
	if err := ValidateNotify(c.Notify); err != nil {
		return err
	}
	if c.Server != "" {
		if _, err := client.NormalizeServer(c.Server); err != nil {
			return fmt.Errorf("API server: %w", err)
		}
	}
	switch c.Mode {
	case ModeDelete:
		if len(c.Labels) > 0 {
			return errors.New("labels are only used in remove mode: drop --labels to delete all labels, or set --mode remove")
		}
	case ModeRemove:
		if len(c.Labels) == 0 {
			return errors.New("remove mode needs at least one label (--labels a,b)")
		}
		if len(c.Labels) > MaxLabels {
			return fmt.Errorf("%d labels: %w", len(c.Labels), ErrTooManyLabels)
		}
		for _, l := range c.Labels {
			if strings.TrimSpace(l) == "" || len(l) > MaxLabelLen || strings.ContainsFunc(l, isControl) {
				return fmt.Errorf("label %q: want 1..256 non-blank characters, no control characters", l)
			}
		}
	case ModeRestore:
		// A restore campaign's labels are per asset (BatchLabels), and it
		// removes nothing, so there is nothing to snapshot.
		if len(c.Labels) > 0 {
			return errors.New("restore mode takes no labels: each asset gets back its own")
		}
		if c.Snapshot {
			return errors.New("a restore campaign takes no snapshot")
		}
	default:
		return fmt.Errorf("mode %q: want delete or remove", c.Mode)
	}
	if c.Mode != ModeRestore && (c.RestoreOf != "" || c.Exact) {
		return errors.New("restore_of and exact are only used in restore mode")
	}
	if c.ResetUnlisted && c.Query != "" {
		// The snapshot lists what the query selects at the time of the
		// listing: an asset the query picked that drifts out of it (a
		// time-relative filter, a label changed meanwhile) is "unlisted",
		// and reset_unlisted would call it with nothing recorded to undo.
		return errors.New("reset_unlisted cannot be used with a query-defined campaign: its assets can drift out of the query's listing (time-relative filters), and those would be reset without a snapshot; drop reset_unlisted")
	}
	if c.Query != "" {
		if _, err := url.ParseQuery(c.Query); err != nil {
			return fmt.Errorf("query %.80q: %w", c.Query, err)
		}
	}
	if err := c.validateExpress(); err != nil {
		return err
	}
	if _, err := ParsePriority(string(c.Priority)); err != nil {
		return err
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatchSize {
		return fmt.Errorf("batch size %d: want 1..%d", c.BatchSize, MaxBatchSize)
	}
	if len(c.Name) > 256 {
		return errors.New("name longer than 256 characters")
	}
	return c.Policy.Validate()
}

// ErrNotFound is returned for a campaign that does not exist (or has
// expired).
var ErrNotFound = errors.New("campaign not found")

// ErrDeleting is returned for a change (append, retry, state change) to a
// campaign that the janitor or Delete has started to delete: accepting it
// would lose it with the rest of the campaign's data a moment later.
var ErrDeleting = errors.New("campaign is being deleted")

// validateExpress checks what express mode needs (express.go).
func (c *Campaign) validateExpress() error {
	if !c.Express {
		if c.ExpressDeadline != 0 {
			return errors.New("express_deadline is only used in express mode")
		}
		return nil
	}
	switch {
	case c.Query == "":
		return errors.New("express mode needs a query-defined campaign (--query): the bulk call selects assets by filter, not by ID")
	case c.Mode != ModeRemove:
		return errors.New("express mode removes named labels (--mode remove --labels a,b): PDCP's bulk call cannot remove every label of an asset exactly " +
			"(update_type=delete removes the labels it is given; replace with no labels is not documented); run without --express to delete all labels asset by asset")
	case !c.Snapshot:
		return errors.New("express mode needs the snapshot: it is the campaign's record of what the bulk call changes, and what undo puts back")
	case c.ExpressDeadline != 0 && (c.ExpressDeadline < time.Second || c.ExpressDeadline > MaxExpressDeadline):
		return fmt.Errorf("express deadline %v: want 1s..%v", c.ExpressDeadline, MaxExpressDeadline)
	}
	q, _ := url.ParseQuery(c.Query)
	if _, err := client.ExpressFilters(q); err != nil {
		return fmt.Errorf("express mode: %w", err)
	}
	return nil
}
