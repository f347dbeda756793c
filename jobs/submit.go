package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/labelreset/labelreset/jobs/idfile"
)

// Input yields asset IDs: the valid ones as rows, a bad one as a
// *idfile.BadRow error (reading continues), io.EOF at the end. An
// *idfile.Reader is an Input.
type Input interface {
	Next() (idfile.Row, error)
}

// IDList is an Input over IDs given as strings (e.g. --ids 1,2,3 or a JSON
// array); positions are reported as line numbers of source name.
func IDList(name string, values []string) Input {
	return &idList{name: name, vals: values}
}

type idList struct {
	name string
	vals []string
	i    int
}

func (l *idList) Next() (idfile.Row, error) {
	if l.i < len(l.vals) {
		l.i++
		v := l.vals[l.i-1]
		id, err := idfile.ParseID(v)
		if err != nil {
			reason := err.Error()
			var ie *idfile.IDError
			if errors.As(err, &ie) {
				reason = ie.Reason
			}
			return idfile.Row{}, &idfile.BadRow{File: l.name, Line: l.i, Value: v, Reason: reason}
		}
		return idfile.Row{Line: l.i, ID: id}, nil
	}
	if len(l.vals) == 0 {
		return idfile.Row{}, fmt.Errorf("%s: %w", l.name, idfile.ErrNoIDs)
	}
	return idfile.Row{}, io.EOF
}

// MaxBadRowsKept bounds the bad rows a plan keeps for display; all are
// counted.
const MaxBadRowsKept = 100

// Plan is what a submit will do, computed before anything is written.
type Plan struct {
	Campaign   string   `json:"campaign"`
	Name       string   `json:"name"`
	Mode       Mode     `json:"mode"`
	Labels     []string `json:"labels,omitempty"`
	TeamID     string   `json:"team_id,omitempty"`
	Priority   Priority `json:"priority"`
	Rows       int64    `json:"rows"`
	Valid      int64    `json:"valid"`
	Duplicates int64    `json:"duplicates"`
	Bad        int64    `json:"bad"`
	BadRows    []string `json:"bad_rows,omitempty"`
	// IDColumn says which column of a file the IDs came from and why
	// (idfile.Column): a plan that read the wrong column would reset the
	// labels of other assets.
	IDColumn  string `json:"id_column,omitempty"`
	BatchSize int    `json:"batch_size"`
	Batches   int    `json:"batches"`
	// New is the number of IDs that the campaign does not hold yet (equal
	// to Valid for a new campaign).
	New int64 `json:"new"`

	ids *IDSet
}

// ErrOverMemoryBudget is returned (in an *OverBudgetError) by
// ReadPlanBudget when the input's ID set outgrows its memory budget.
var ErrOverMemoryBudget = errors.New("asset IDs over the memory budget")

// OverBudgetError says how far ReadPlanBudget got before the ID set
// outgrew Budget bytes.
type OverBudgetError struct {
	Budget int64 // bytes
	IDs    int64 // distinct IDs read when the budget was passed
}

func (e *OverBudgetError) Error() string {
	return fmt.Sprintf("the asset IDs need more than %d bytes of memory (passed after %d distinct IDs)", e.Budget, e.IDs)
}

func (e *OverBudgetError) Unwrap() error { return ErrOverMemoryBudget }

// ReadPlan reads the whole input, validating and de-duplicating it. It
// writes nothing. A bad row is counted and kept (up to MaxBadRowsKept);
// any other read error is returned.
func ReadPlan(def *Campaign, in Input) (*Plan, error) { return ReadPlanBudget(def, in, 0) }

// ReadPlanBudget is ReadPlan with a bound on the memory of the ID set:
// once IDSet.MemoryBytes passes budget bytes it stops reading and returns
// an *OverBudgetError, so a server holding uploads in memory can refuse a
// large one before it is all in. budget <= 0 means no bound.
func ReadPlanBudget(def *Campaign, in Input, budget int64) (*Plan, error) {
	p := &Plan{
		Campaign: def.ID, Name: def.Name, Mode: def.Mode, Labels: def.Labels,
		TeamID: def.TeamID, Priority: def.Priority, BatchSize: def.BatchSize,
	}
	b := newIDSetBuilder()
	for {
		row, err := in.Next()
		if err == io.EOF {
			break
		}
		var bad *idfile.BadRow
		if errors.As(err, &bad) {
			p.Rows++
			p.Bad++
			if len(p.BadRows) < MaxBadRowsKept {
				p.BadRows = append(p.BadRows, bad.Error())
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		p.Rows++
		if b.add(row.ID) && budget > 0 && b.memoryBytes() > budget {
			return nil, &OverBudgetError{Budget: budget, IDs: int64(b.set.GetCardinality())}
		}
	}
	if c, ok := in.(interface{ Column() (idfile.Column, bool) }); ok {
		if col, ok := c.Column(); ok {
			p.IDColumn = col.String()
		}
	}
	p.ids, p.Duplicates = b.done()
	p.Valid = p.ids.Len()
	if budget > 0 && p.ids.MemoryBytes() > budget {
		return nil, &OverBudgetError{Budget: budget, IDs: p.Valid}
	}
	p.New = p.Valid
	p.Batches = batchesFor(p.Valid, p.BatchSize)
	return p, nil
}

func batchesFor(n int64, size int) int {
	if size <= 0 {
		return 0
	}
	return int((n + int64(size) - 1) / int64(size))
}

// SubmitOptions are the per-submit knobs.
type SubmitOptions struct {
	// Strict refuses the whole input when any row is bad.
	Strict bool
	// Append adds the new IDs of the input to an existing campaign with the
	// same ID instead of refusing a different input.
	Append bool
	// ConfirmAbove creates campaigns with more assets than this pending:
	// they wait for Approve. 0 means the default (1000); negative never.
	ConfirmAbove int64
	// Approved skips the confirmation (--yes).
	Approved bool
	// RequireApproval creates the campaign pending whatever ConfirmAbove
	// and Approved say: a schedule whose query selects every asset
	// (select_all) must never start without an operator.
	RequireApproval bool
}

// DefaultConfirmAbove is the asset count above which a campaign waits for
// approval.
const DefaultConfirmAbove = 1000

// SubmitResult says what Submit did.
type SubmitResult struct {
	Plan     *Plan
	Campaign *Campaign
	// Created is true for a new campaign; Existing for a no-op re-submit.
	Created  bool
	Existing bool
	// Appended is the number of new IDs added to an existing campaign.
	Appended int64
	// Enqueued is the number of batch tasks created by this call.
	Enqueued int
}

// ErrInputMismatch is returned when a campaign ID is submitted again with
// different IDs and Append is not set.
var ErrInputMismatch = errors.New("campaign exists with a different input")

// ErrNoValidIDs is returned when the input had rows but none was valid.
var ErrNoValidIDs = errors.New("no valid asset IDs")

// ErrStrict is returned when Strict is set and the input had bad rows.
var ErrStrict = errors.New("input has bad rows (strict mode)")

// Submit creates (or completes, or appends to) the campaign def with the
// planned IDs and enqueues its batches. Submitting the same campaign ID
// with the same IDs again enqueues nothing new.
func (s *Store) Submit(ctx context.Context, def *Campaign, plan *Plan, opts SubmitOptions) (*SubmitResult, error) {
	if opts.Strict && plan.Bad > 0 {
		return nil, fmt.Errorf("%w: %d bad of %d rows, first: %s", ErrStrict, plan.Bad, plan.Rows, strings.Join(firstN(plan.BadRows, 3), "; "))
	}
	if plan.Valid == 0 {
		return nil, fmt.Errorf("%w (%d rows, %d bad)", ErrNoValidIDs, plan.Rows, plan.Bad)
	}
	if def.CreatedAt.IsZero() {
		def.CreatedAt = s.now().UTC()
	}
	if def.ID == "" {
		def.ID = NewCampaignID(def.CreatedAt)
	}
	plan.Campaign = def.ID
	if err := def.Validate(); err != nil {
		return nil, err
	}
	res := &SubmitResult{Plan: plan}
	confirm := opts.ConfirmAbove
	if confirm == 0 {
		confirm = DefaultConfirmAbove
	}
	def.State = StateRunning
	if opts.RequireApproval || confirm > 0 && plan.Valid > confirm && !opts.Approved {
		def.State = StatePending
	}
	var approved int64
	if def.State == StateRunning {
		approved = plan.Valid
	}
	created, err := s.create(ctx, def, approved)
	if err != nil {
		return nil, err
	}
	if created {
		res.Created = true
		if _, err := s.addSegment(ctx, def.ID, def.Incarnation, 0, plan.ids, def.BatchSize, plan.ids.Fingerprint(), nil); err != nil {
			return nil, err
		}
		res.Appended = plan.Valid
	} else if err := s.submitExisting(ctx, def, plan, opts, confirm, res); err != nil {
		return nil, err
	}
	c, err := s.Get(ctx, def.ID)
	if err != nil {
		return nil, err
	}
	switch {
	case c.State != StatePending && !c.State.Final():
		if res.Enqueued, err = s.EnsureEnqueued(ctx, c); err != nil {
			return res, err
		}
	case c.Snapshot && c.State != StateCancelled:
		// Pending (or done and not re-opened): its new segments
		// snapshot now, while it waits.
		if _, err := s.snapshotsReady(ctx, c); err != nil {
			return res, err
		}
	}
	res.Campaign = c
	return res, nil
}

// submitExisting handles a Submit whose campaign exists already: the same
// input is a replay, new IDs are appended with Append and refused
// without, into res.
func (s *Store) submitExisting(ctx context.Context, def *Campaign, plan *Plan, opts SubmitOptions, confirm int64, res *SubmitResult) error {
	existing, err := s.Get(ctx, def.ID)
	if err != nil {
		return err
	}
	if err := matchExisting(existing, def); err != nil {
		return err
	}
	all, err := s.allIDs(ctx, existing)
	if err != nil {
		return err
	}
	newIDs := plan.ids.Minus(all)
	plan.New = newIDs.Len()
	switch {
	case plan.ids.Equal(all) || (opts.Append && newIDs.Len() == 0):
		res.Existing = true
	case !opts.Append:
		return fmt.Errorf("campaign %s already holds %d IDs and this input has %d, %d of them new: %w; "+
			"use --append to add the new IDs, or choose another --campaign",
			def.ID, existing.Total, plan.Valid, newIDs.Len(), ErrInputMismatch)
	default:
		if existing.State.Final() && existing.State != StateDone {
			return fmt.Errorf("campaign %s is %s: %w", def.ID, existing.State, ErrTransition)
		}
		// Whether the append must wait for approval is decided by
		// the append script itself, atomically with the append:
		// approval covers a number of assets, and an append that
		// takes the campaign more than confirm above what was
		// approved holds it (whatever its state), so that starting
		// small and appending (or appending in slices) never skips
		// the "one stages, another approves" step.
		n := newIDs.Len()
		union := all
		union.Union(newIDs)
		ap := &appendApproval{
			confirm:   confirm,
			confirmed: opts.Approved,
			require:   opts.RequireApproval,
			reason:    fmt.Sprintf("%d assets appended: waiting for approval (labelreset approve %s)", n, def.ID),
		}
		if _, err := s.addSegment(ctx, def.ID, existing.Incarnation, existing.Segments, newIDs, existing.BatchSize, union.Fingerprint(), ap); err != nil {
			return err
		}
		res.Appended = n
	}
	return nil
}

// matchExisting refuses input for an existing campaign that would act
// differently on it: another mode, labels, team or API server.
func matchExisting(existing, def *Campaign) error {
	if existing.Mode != def.Mode || strings.Join(existing.Labels, ",") != strings.Join(def.Labels, ",") ||
		existing.TeamID != def.TeamID {
		team := existing.TeamID
		if team == "" {
			team = "none"
		}
		return fmt.Errorf("campaign %s exists with mode %s, labels [%s] and team %s: %w",
			def.ID, existing.Mode, strings.Join(existing.Labels, ","), team, ErrInputMismatch)
	}
	if existing.Server != "" && def.Server != "" && existing.Server != def.Server {
		// The same IDs name other assets on another server.
		return fmt.Errorf("campaign %s was planned against API server %s, not %s: %w",
			def.ID, existing.Server, def.Server, ErrInputMismatch)
	}
	if existing.Server == "" && def.Server != "" {
		// An earlier version recorded no server, and every worker
		// works such a campaign with its own: appended IDs planned
		// against def.Server could be called on another server, where
		// they name other assets. Which server the campaign's own IDs
		// meant is unknown, so recording def.Server now could be wrong
		// for them.
		return fmt.Errorf("campaign %s was created by an earlier version that recorded no API server (its IDs run "+
			"on each worker's own server), and these IDs were planned against %s: %w; put them in a new campaign "+
			"(another --campaign), which records its server",
			def.ID, def.Server, ErrInputMismatch)
	}
	return nil
}

// appendApproval is how an append is confirmed (see addSegmentScript).
type appendApproval struct {
	confirm   int64 // threshold; <= 0 never
	confirmed bool  // the caller approved these assets (--yes, its own prompt)
	require   bool  // always wait for approval
	reason    string
}

// addSegment stores a new segment of IDs in incarnation inc of campaign
// cid: the first one of a new campaign when ap is nil, else an append
// confirmed as ap says.
func (s *Store) addSegment(ctx context.Context, cid, inc string, seg int, ids *IDSet, batchSize int, fp string, ap *appendApproval) (int, error) {
	b, err := ids.marshal()
	if err != nil {
		return 0, fmt.Errorf("campaign %s: encode IDs: %w", cid, err)
	}
	flag := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	args := []any{seg, b, ids.Len(), batchSize, fp, flag(ap != nil), s.actor(ctx), s.nowMS(), inc}
	if ap == nil {
		args = append(args, "create", 0, "0", "0", "")
	} else {
		args = append(args, "append", ap.confirm, flag(ap.confirmed), flag(ap.require), ap.reason)
	}
	n, err := addSegmentScript.Run(ctx, s.rdb, []string{s.keys.meta(cid), s.keys.segment(cid, seg), s.keys.events(cid)}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("campaign %s: store IDs: %w", cid, err)
	}
	switch n {
	case -2:
		return 0, fmt.Errorf("campaign %s: %w: the IDs were not added", cid, ErrDeleting)
	case -3:
		return 0, fmt.Errorf("campaign %s was deleted (or created again) meanwhile: %w: the IDs were not added", cid, ErrCampaignGone)
	case -4:
		return 0, fmt.Errorf("the IDs were not added: %w", s.undoneError(ctx, cid, errUndoneUnknown))
	}
	if n < 0 {
		return 0, fmt.Errorf("campaign %s was changed by another submit at the same time; try again", cid)
	}
	return n, nil
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
