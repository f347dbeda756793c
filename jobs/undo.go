// Undo: a restore campaign that puts back the labels a campaign removed.
//
// The restore campaign mirrors its source: segment k holds the source's
// segment k IDs with the same batch size, so restore batch b is source
// batch b. Its label data (what each asset gets back) is written in the
// snapshot's own form (storeSegmentSets) before any of its batches can
// be enqueued, and the worker reads it with BatchLabels like a snapshot.

package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/redis/go-redis/v9"
)

// UndoOptions are the knobs of an undo.
type UndoOptions struct {
	// Exact sets each asset's labels to exactly the snapshot's
	// (PATCH update_type=replace) instead of adding them back (POST),
	// which keeps labels added after the reset.
	Exact bool
	// Name names the restore campaign ("" = "undo of <source>").
	Name string
	// Submit carries the confirmation threshold and --yes.
	Submit SubmitOptions
	// Owner is the restore campaign's Campaign.Owner (the opaque
	// identity of its creator, e.g. the hash of an API token); ""
	// keeps the source's for Undo.
	Owner string
}

// UndoPlan is what an undo will do.
type UndoPlan struct {
	Source string `json:"source"`
	// Restore is the number of assets that get labels back; Unchanged
	// those that need no call (no labels removed, or never called).
	Restore   int64 `json:"restore"`
	Unchanged int64 `json:"unchanged"`
	// NotRestorable counts, among Unchanged, the assets the source may
	// have reset although its snapshot did not find them
	// (--reset-unlisted): no label set was recorded, so undo cannot put
	// anything back on them. An existing restore's plan (Existing) does
	// not count them.
	NotRestorable int64 `json:"not_restorable,omitempty"`
	// Labels are the labels put back, most common first.
	Labels []LabelCount `json:"labels,omitempty"`
	// Cancels is true when the source is still running, paused, pending
	// or blocked: undo cancels it first, so that a later resume can never
	// delete the restored labels again.
	Cancels bool `json:"cancels_source"`
	// Existing is the restore campaign of an earlier undo, if any: undo
	// is idempotent and returns it.
	Existing string `json:"existing,omitempty"`
}

// RestoreGrace is how long after its source stopped calling PDCP a
// restore campaign waits before its first call (Campaign.NotBefore): a
// call of the source sent just before it was cancelled may take up to
// client.DefaultTimeout, twice that leaves room for a retry's send, and a
// call applied after the restore would remove the labels it put back.
const RestoreGrace = 2 * client.DefaultTimeout

// ErrSourceRunning is returned by UndoFromSnapshot when the campaign the
// file was taken of can still run in this store.
var ErrSourceRunning = errors.New("the snapshot's campaign can still run")

// ErrNoSnapshot is returned for the undo of a campaign that has no
// complete snapshot (created with --no-snapshot, or a restore campaign).
var ErrNoSnapshot = errors.New("campaign has no snapshot")

// ErrUndone is returned for a re-drive, append, resume or approval of a
// campaign that was undone: its calls would remove the labels its restore
// campaign puts back, and assets added to it would be covered by no
// restore campaign. The refusal is made in the same script as the change,
// so it holds against an undo that races with it.
var ErrUndone = errors.New("campaign was undone")

// errUndoneUnknown stands for ErrUndone when the restore campaign's ID
// is not known yet (undoneError reads it).
var errUndoneUnknown = &undoneError{}

// undoneError is ErrUndone naming the restore campaign.
type undoneError struct{ source, restore string }

func (e *undoneError) Error() string {
	src := e.source
	if src == "" {
		src = "this campaign"
	}
	rc := e.restore
	if rc == "" {
		rc = "(unknown)"
	}
	return fmt.Sprintf("campaign %s was undone by restore campaign %s; create a new campaign instead", src, rc)
}

func (e *undoneError) Unwrap() error { return ErrUndone }

// undone is the ErrUndone of source undone by restore campaign rc.
func undone(source, rc string) error { return &undoneError{source: source, restore: rc} }

// undoneError completes err, when it is an undoneError, with source's ID
// and (when missing) its restore campaign's, read from Redis.
func (s *Store) undoneError(ctx context.Context, source string, err error) error {
	var ue *undoneError
	if !errors.As(err, &ue) {
		return err
	}
	rc := ue.restore
	if rc == "" {
		rc, _ = s.restoreOf(ctx, source)
	}
	return undone(source, rc)
}

// undoField is the field of the source's meta hash that names its
// restore campaign: set (HSETNX) before that campaign is created, so
// that two undos, or an undo retried after a crash, make one.
const undoField = "undo"

// PlanUndo computes the undo of campaign source without changing anything.
// For a source that can still run it counts as undo would after
// cancelling it: every asset without a final outcome, and every one
// cancelled, may have a call in flight.
func (s *Store) PlanUndo(ctx context.Context, source string, exact bool) (*UndoPlan, error) {
	c, err := s.Get(ctx, source)
	if err != nil {
		return nil, err
	}
	plan := &UndoPlan{Source: source, Cancels: canRun(c.State)}
	if plan.Existing, err = s.restoreOf(ctx, source); err != nil {
		return nil, err
	}
	if plan.Existing != "" {
		if rc, err := s.Get(ctx, plan.Existing); err == nil {
			return s.planOfRestore(ctx, c, rc)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	if _, err := s.snapshotReady(ctx, c); err != nil {
		return nil, err
	}
	if _, err := s.collectRestore(ctx, c, exact, plan.Cancels, plan); err != nil {
		return nil, err
	}
	return plan, nil
}

// canRun reports whether a campaign in state st can still call PDCP
// (now or after a resume or an approval): undo cancels it first.
func canRun(st State) bool { return !st.Final() }

// restoreOf returns the ID recorded as campaign source's restore
// campaign, "" when it was never undone.
func (s *Store) restoreOf(ctx context.Context, source string) (string, error) {
	id, err := s.rdb.HGet(ctx, s.keys.meta(source), undoField).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("campaign %s: read its undo: %w", source, err)
	}
	return id, nil
}

// RestoreOf returns the restore campaign that undid campaign source, ""
// when it was never undone: one read of its meta hash, for pages that
// link a source to its restore campaign.
func (s *Store) RestoreOf(ctx context.Context, source string) (string, error) {
	return s.restoreOf(ctx, source)
}

// claimUndoScript records ARGV[2] as the restore campaign of the source
// (KEYS meta, events) unless one is recorded already, for incarnation
// ARGV[1] of the source only, never for one being deleted, and audits the
// claim (actor ARGV[3], now ARGV[4] ms) in the same step: the claim is
// what seals the source, so it is the "undone" notification. Returns the
// recorded ID, "" when the source is gone, "~" when it is being deleted.
var claimUndoScript = redis.NewScript(auditLua + `
local m = redis.call('HMGET', KEYS[1], 'id', 'inc', 'deleting', 'state')
if not m[1] or (m[2] or '') ~= ARGV[1] then return '' end
if m[3] then return '~' end
if redis.call('HSETNX', KEYS[1], '` + undoField + `', ARGV[2]) == 1 then
  audit(KEYS[2], ARGV[4], ARGV[3], 'undo', m[4], m[4], 'restore campaign ' .. ARGV[2])
end
return redis.call('HGET', KEYS[1], '` + undoField + `')
`)

// Undo creates the restore campaign of campaign source (mode restore, one
// asset per asset of source, same batches), cancelling source first if it
// can still run. It is idempotent: a second undo returns the first
// restore campaign (SubmitResult.Existing), and one with another Exact
// than the first's is refused (ErrInputMismatch naming the restore
// campaign and its exact): a campaign is undone once.
func (s *Store) Undo(ctx context.Context, source string, opts UndoOptions) (*SubmitResult, *UndoPlan, error) {
	c, err := s.Get(ctx, source)
	if err != nil {
		return nil, nil, err
	}
	plan := &UndoPlan{Source: source}
	if plan.Existing, err = s.restoreOf(ctx, source); err != nil {
		return nil, nil, err
	}
	if plan.Existing != "" {
		rc, err := s.Get(ctx, plan.Existing)
		if err == nil {
			return s.existingUndo(ctx, c, rc, opts.Exact)
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, nil, err
		}
		// Recorded, but the creation did not happen (a crash between
		// the two steps): create it now, under the recorded ID.
	}
	if _, err := s.snapshotReady(ctx, c); err != nil {
		return nil, nil, err
	}
	rid := plan.Existing
	for rid == "" {
		// Generated IDs of one second differ in 16 random bits: make
		// sure this one is free before it is recorded for good.
		rid = NewCampaignID(s.now())
		n, err := s.rdb.Exists(ctx, s.keys.meta(rid)).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("undo of campaign %s: %w", source, err)
		}
		if n > 0 {
			rid = ""
		}
	}
	// Claimed before the source is cancelled and its ledger read: from
	// here on no re-drive, append, resume or approval of the source can
	// start a call (their scripts refuse an undone campaign, ErrUndone),
	// so the ledger read below is the last word on what it may have done.
	got, err := claimUndoScript.Run(ctx, s.rdb, []string{s.keys.meta(source), s.keys.events(source)},
		c.Incarnation, rid, s.actor(ctx), s.nowMS()).Text()
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("undo of campaign %s: record its restore campaign: %w", source, err)
	case got == "":
		return nil, nil, fmt.Errorf("undo of campaign %s: %w", source, ErrCampaignGone)
	case got == "~":
		return nil, nil, fmt.Errorf("undo of campaign %s: %w", source, ErrDeleting)
	}
	if got != rid {
		// Another undo came first: its campaign is the one.
		plan.Existing = got
		if rc, err := s.Get(ctx, got); err == nil {
			return s.existingUndo(ctx, c, rc, opts.Exact)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, nil, err
		}
	}
	was := c.State
	if canRun(c.State) {
		// Before the ledger is read: a call in flight now records its
		// outcome while Cancel waits for the workers to see the change,
		// and no resume can delete the restored labels again later.
		plan.Cancels = true
		if _, err := s.Cancel(ctx, source); err != nil && !errors.Is(err, ErrTransition) {
			return nil, nil, fmt.Errorf("undo of campaign %s: cancel it first: %w", source, err)
		}
	}
	// Read again: an append may have come between the first read and
	// the claim.
	if c, err = s.Get(ctx, source); err != nil {
		return nil, nil, err
	}
	segs, err := s.collectRestore(ctx, c, opts.Exact, plan.Cancels, plan)
	if err != nil {
		return nil, nil, err
	}
	name := opts.Name
	if name == "" {
		name = "undo of " + source
	}
	notBefore, err := s.restoreNotBefore(ctx, c, was)
	if err != nil {
		return nil, nil, fmt.Errorf("undo of campaign %s: %w", source, err)
	}
	def := &Campaign{
		ID: got, Name: name, Mode: ModeRestore, RestoreOf: source, Exact: opts.Exact, NotBefore: notBefore,
		TeamID: c.TeamID, Server: c.Server, Source: "undo of " + source, Priority: c.Priority,
		BatchSize: c.BatchSize, Policy: c.Policy, Snapshot: false, Owner: opts.Owner,
		Notify: c.Notify, // who heard of the source hears of its undo
	}
	if def.Owner == "" {
		def.Owner = c.Owner
	}
	res, err := s.createRestore(ctx, def, segs, plan.Restore, opts.Submit)
	if err != nil {
		return nil, nil, fmt.Errorf("undo of campaign %s: %w", source, err)
	}
	if res.Existing {
		// A concurrent undo created it between our claim and create.
		return s.existingUndo(ctx, c, res.Campaign, opts.Exact)
	}
	plan.Existing = ""
	return res, plan, nil
}

// restoreNotBefore is the NotBefore of the restore campaign of source c,
// which was in state was when the undo read it: zero when no call of c
// can still be in flight (it was done, or it stopped calling more than
// RestoreGrace ago, or never called), else the time it stopped calling
// plus RestoreGrace. c stopped calling now when it was running (this
// undo cancelled it); otherwise at its last audited change out of
// running (pause, block, stop, cancel, an append's hold), or, with
// none recorded for a campaign that ran, now (the safe side). One that
// never ran (pending since its creation) needs no wait.
func (s *Store) restoreNotBefore(ctx context.Context, c *Campaign, was State) (time.Time, error) {
	now := s.now().UTC()
	var quiet time.Time
	switch {
	case was == StateDone:
		return time.Time{}, nil
	case was == StateRunning:
		quiet = now
	default:
		events, err := s.Events(ctx, c.ID)
		if err != nil {
			return time.Time{}, err
		}
		ran := false
		for _, e := range events {
			ran = ran || e.To == StateRunning || e.From == StateRunning
			if e.From == StateRunning && e.To != StateRunning && e.Time.After(quiet) {
				quiet = e.Time
			}
		}
		if quiet.IsZero() {
			if !ran {
				return time.Time{}, nil
			}
			quiet = now
		}
	}
	nb := quiet.Add(RestoreGrace)
	if !nb.After(now) {
		return time.Time{}, nil
	}
	return nb, nil
}

// existingUndo answers an undo of source whose restore campaign rc
// exists, completing it first if an earlier undo stopped half way. An
// undo asking for another exact than rc's is refused (ErrInputMismatch
// naming rc): returning rc would let the caller believe its choice was
// applied.
func (s *Store) existingUndo(ctx context.Context, source, rc *Campaign, exact bool) (*SubmitResult, *UndoPlan, error) {
	if rc.Mode != ModeRestore || rc.RestoreOf != source.ID {
		return nil, nil, fmt.Errorf("undo of campaign %s: campaign %s, recorded as its restore campaign, is not (mode %s, restore of %q): %w",
			source.ID, rc.ID, rc.Mode, rc.RestoreOf, ErrInputMismatch)
	}
	if rc.Exact != exact {
		return nil, nil, fmt.Errorf("undo of campaign %s: it was undone already by restore campaign %s with exact=%v, not exact=%v: %w; "+
			"a campaign is undone once: see campaign %s, or undo again with exact=%v to get it",
			source.ID, rc.ID, rc.Exact, exact, ErrInputMismatch, rc.ID, rc.Exact)
	}
	full, err := s.resumeRestore(ctx, source, rc)
	if err != nil {
		return nil, nil, fmt.Errorf("undo of campaign %s: complete restore campaign %s: %w", source.ID, rc.ID, err)
	}
	rc = full
	plan, err := s.planOfRestore(ctx, source, rc)
	if err != nil {
		return nil, nil, err
	}
	res := &SubmitResult{Campaign: rc, Existing: true, Plan: restorePlan(rc, rc.Total)}
	return res, plan, nil
}

// planOfRestore describes the existing restore campaign rc of source, as
// its label data says: what it restores, not what an undo would compute
// from the source's ledger now.
func (s *Store) planOfRestore(ctx context.Context, source, rc *Campaign) (*UndoPlan, error) {
	plan := &UndoPlan{Source: source.ID, Existing: rc.ID, Cancels: canRun(source.State)}
	counts := map[string]int64{}
	err := s.EachAsset(ctx, rc, func(a AssetState) error {
		plan.count(counts, a.Labels)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("restore campaign %s of %s: %w", rc.ID, source.ID, err)
	}
	plan.Labels = topLabels(counts, len(counts))
	return plan, nil
}

func (p *UndoPlan) count(counts map[string]int64, labels []string) {
	if len(labels) == 0 {
		p.Unchanged++
		return
	}
	p.Restore++
	for _, l := range labels {
		counts[l]++
	}
}

// restoreSegment is the label data of one segment of a restore campaign,
// in storeSegmentSets' form: a dictionary of label sets (set 0 empty) and
// per batch one value per asset in the batch's ID order (0 = nothing to
// restore, n+1 = set n).
type restoreSegment struct {
	ids       *IDSet
	batchSize int
	dict      [][]string
	index     map[string]uint64
	batches   map[int][]uint64
}

func newRestoreSegment(ids *IDSet, batchSize int) *restoreSegment {
	return &restoreSegment{ids: ids, batchSize: batchSize, dict: [][]string{{}}, index: map[string]uint64{}, batches: map[int][]uint64{}}
}

// add appends the next asset of batch b (in ID order) with the labels it
// gets back (none: 0, no call).
func (r *restoreSegment) add(b int, labels []string) {
	v := uint64(0)
	if len(labels) > 0 {
		set := slices.Clone(labels)
		slices.Sort(set)
		set = slices.Compact(set)
		key, _ := json.Marshal(set)
		n, ok := r.index[string(key)]
		if !ok {
			n = uint64(len(r.dict))
			r.dict = append(r.dict, set)
			r.index[string(key)] = n
		}
		v = n + 1
	}
	r.batches[b] = append(r.batches[b], v)
}

// restoreLabels returns what an asset whose snapshot labels were snap
// gets back from an undo of a campaign in mode with removal list removed:
// nil when the campaign removed none of its labels. Exact restores put
// the whole snapshot set (PATCH replace sets exactly), others only the
// labels removed (POST adds, so labels added since stay).
func restoreLabels(mode Mode, removed []string, exact bool, snap []string) []string {
	took := snap
	if mode == ModeRemove {
		took = nil
		for _, l := range snap {
			if slices.Contains(removed, l) {
				took = append(took, l)
			}
		}
	}
	if len(took) == 0 {
		return nil
	}
	if exact {
		return snap
	}
	return took
}

// mayHaveBeenCalled reports whether the asset with record r may have lost
// labels to source's calls. reset: yes. failed or cancelled after a call:
// a timed-out call may have been applied. Cancelled by this undo
// (cancelling) or without a final outcome: a call may be in flight (its
// outcome may replace "cancelled" after the ledger was read). not_found,
// invalid, not_in_inventory, and failed or cancelled without any call:
// PDCP changed nothing.
func mayHaveBeenCalled(r Record, cancelling bool) bool {
	switch r.Outcome {
	case OutcomeReset:
		return true
	case OutcomeFailed:
		return r.Attempts > 0
	case OutcomeCancelled:
		return cancelling || r.Attempts > 0
	case OutcomeNotFound, OutcomeInvalid, OutcomeNotInInventory, OutcomeUnchanged, OutcomeRestored:
		return false
	}
	return true // pending, retrying, requeued
}

// bulkMayHaveChanged reports whether express campaign c's bulk call may
// have been sent (false for any other campaign): it then may have changed
// every asset its snapshot listed, whatever the asset's recorded outcome
// (cancelled, failed, pending: verification had not seen it clean yet,
// or an async change was applied after verification ended).
func (s *Store) bulkMayHaveChanged(ctx context.Context, c *Campaign) (bool, error) {
	x, err := s.Express(ctx, c)
	if err != nil || x == nil {
		return false, err
	}
	return x.State.BulkSent(), nil
}

// collectRestore reads the ledger and snapshot of campaign c and returns
// the label data of its restore campaign, segment by segment, counting it
// into plan. cancelling says that the undo cancels (or cancelled) c. It
// holds one uint64 per asset (the form storeSegmentSets takes) and one
// copy of each distinct label set.
//
// An express campaign whose bulk call may have been sent restores every
// asset its snapshot listed holding a removed label, whatever its
// outcome: a POST that adds labels an unchanged asset still has changes
// nothing.
func (s *Store) collectRestore(ctx context.Context, c *Campaign, exact, cancelling bool, plan *UndoPlan) ([]*restoreSegment, error) {
	bulk, err := s.bulkMayHaveChanged(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("undo of campaign %s: %w", c.ID, err)
	}
	segs := make([]*restoreSegment, c.Segments)
	var last []int // first batch of each segment
	for k := range segs {
		info, err := s.segmentInfo(ctx, c.ID, k)
		if err != nil {
			return nil, err
		}
		ids, err := s.segmentIDs(ctx, c, k)
		if err != nil {
			return nil, err
		}
		segs[k] = newRestoreSegment(ids, info.BatchSize)
		last = append(last, info.FirstBatch)
	}
	counts := map[string]int64{}
	seg := 0
	// partial: the assets of a segment whose snapshot is not complete
	// (NoSnapshot) were never called and are counted unchanged.
	err = s.eachAsset(ctx, c, true, func(a AssetState) error {
		for seg+1 < len(last) && a.Batch >= last[seg+1] {
			seg++
		}
		var labels []string
		switch called := mayHaveBeenCalled(a.Record, cancelling) || bulk && a.Listed; {
		case a.Listed && called:
			labels = restoreLabels(c.Mode, c.Labels, exact, a.Labels)
		case called:
			plan.NotRestorable++
		}
		plan.count(counts, labels)
		segs[seg].add(a.Batch, labels)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("undo of campaign %s: %w", c.ID, err)
	}
	plan.Labels = topLabels(counts, len(counts))
	return segs, nil
}

// restorePlan is the submit Plan of restore campaign c of n assets.
func restorePlan(c *Campaign, n int64) *Plan {
	return &Plan{
		Campaign: c.ID, Name: c.Name, Mode: ModeRestore, TeamID: c.TeamID, Priority: c.Priority,
		Rows: n, Valid: n, New: n, BatchSize: c.BatchSize, Batches: batchesFor(n, c.BatchSize),
	}
}

// createRestore creates restore campaign def with segments segs (their
// label data written before any batch can be enqueued), waiting for
// approval as Submit would when restore assets (those that get a call)
// exceed the confirmation threshold. A campaign that exists already under
// def.ID is returned with Existing when it is a restore campaign of the
// same assets, else refused.
func (s *Store) createRestore(ctx context.Context, def *Campaign, segs []*restoreSegment, restore int64, opts SubmitOptions) (*SubmitResult, error) {
	if def.CreatedAt.IsZero() {
		def.CreatedAt = s.now().UTC()
	}
	if def.ID == "" {
		def.ID = NewCampaignID(def.CreatedAt)
	}
	if err := def.Validate(); err != nil {
		return nil, err
	}
	all := NewIDSet()
	for _, sg := range segs {
		all.Union(sg.ids)
	}
	res := &SubmitResult{Plan: restorePlan(def, all.Len())}
	confirm := opts.ConfirmAbove
	if confirm == 0 {
		confirm = DefaultConfirmAbove
	}
	def.State = StateRunning
	if opts.RequireApproval || confirm > 0 && restore > confirm && !opts.Approved {
		def.State = StatePending
	}
	var approved int64
	if def.State == StateRunning {
		approved = all.Len()
	}
	created, err := s.create(ctx, def, approved)
	if err != nil {
		return nil, err
	}
	if !created {
		existing, err := s.Get(ctx, def.ID)
		if err != nil {
			return nil, err
		}
		if existing.Mode != ModeRestore || existing.RestoreOf != def.RestoreOf || existing.Fingerprint != all.Fingerprint() {
			return nil, fmt.Errorf("campaign %s exists and is not this restore campaign: %w", def.ID, ErrInputMismatch)
		}
		res.Existing, res.Campaign = true, existing
		return res, nil
	}
	res.Created = true
	res.Appended = all.Len()
	c, n, err := s.fillRestore(ctx, def, 0, nil, segs)
	res.Campaign, res.Enqueued = c, n
	return res, err
}

// fillRestore completes restore campaign c, which holds its first have
// segments, done[k] saying whether segment k's label data is written:
// it adds the other segments of segs, writes the label data of every
// segment that lacks it, and then enqueues the batches that may run.
// A segment's batches are never enqueued before its label data is
// complete (EnsureEnqueued holds them), so data written late is still
// the data every call of the segment reads.
func (s *Store) fillRestore(ctx context.Context, c *Campaign, have int, done []bool, segs []*restoreSegment) (*Campaign, int, error) {
	union := NewIDSet()
	for k, sg := range segs {
		union.Union(sg.ids)
		if k >= have {
			if _, err := s.addSegment(ctx, c.ID, c.Incarnation, k, sg.ids, sg.batchSize, union.Fingerprint(), nil); err != nil {
				return nil, 0, err
			}
		} else if done[k] {
			continue
		}
		if err := s.storeSegmentSets(ctx, c, k, sg.dict, sg.batches); err != nil {
			return nil, 0, fmt.Errorf("restore campaign %s: store the labels of segment %d: %w", c.ID, k, err)
		}
	}
	rc, err := s.Get(ctx, c.ID)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	if rc.State != StatePending && !rc.State.Final() {
		if n, err = s.EnsureEnqueued(ctx, rc); err != nil {
			return rc, n, err
		}
	}
	return rc, n, nil
}

// restoreSegmentsDone reports, per segment of restore campaign rc,
// whether its label data is complete.
func (s *Store) restoreSegmentsDone(ctx context.Context, rc *Campaign) ([]bool, error) {
	done := make([]bool, rc.Segments)
	if rc.Segments == 0 {
		return done, nil
	}
	fields := make([]string, rc.Segments)
	for k := range fields {
		fields[k] = snapField(k, "done")
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.snapMeta(rc.ID), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("restore campaign %s: read its progress: %w", rc.ID, err)
	}
	for k, v := range vals {
		done[k] = v != nil
	}
	return done, nil
}

// resumeRestore completes the restore campaign rc of source that an undo
// created but did not finish (it stopped between the creation and the
// last segment's label data): a retried undo must not return a campaign
// that silently restores only part of the source. The source was
// cancelled by then if it could run, so its "cancelled" assets count as
// possibly called.
func (s *Store) resumeRestore(ctx context.Context, source, rc *Campaign) (*Campaign, error) {
	if rc.RestoreOf != source.ID || rc.State.Final() {
		return rc, nil
	}
	done, err := s.restoreSegmentsDone(ctx, rc)
	if err != nil {
		return nil, err
	}
	if rc.Segments == source.Segments && !slices.Contains(done, false) {
		return rc, nil
	}
	if _, err := s.snapshotReady(ctx, source); err != nil {
		return nil, err
	}
	segs, err := s.collectRestore(ctx, source, rc.Exact, source.State == StateCancelled, &UndoPlan{})
	if err != nil {
		return nil, err
	}
	rc, _, err = s.fillRestore(ctx, rc, rc.Segments, done, segs)
	return rc, err
}

// ErrSnapshotNoOutcomes is returned by UndoFromSnapshot with Exact for a
// file whose lines do not all say whether the asset was reset
// (SnapshotLine.Reset): an exact restore replaces an asset's labels, so
// on an asset never reset it would remove the labels added since.
var ErrSnapshotNoOutcomes = errors.New("this file does not say which assets were reset: --exact would replace labels on assets never reset; use undo CAMPAIGN or drop --exact")

// UndoFromSnapshot creates a restore campaign from an exported snapshot:
// every asset in it gets back the labels its campaign removed (delete
// mode: all of them; remove mode: those of the header's removal list;
// Exact: the whole set, where the campaign removed any). An asset with
// nothing to restore is recorded unchanged without a call, and so is one
// whose line says it was not reset (reset false). A line without the
// field (unknown) is restored (a POST only adds labels), but with Exact
// (PATCH replace) every line must say (ErrSnapshotNoOutcomes), and only
// those reset get a call. def carries the
// campaign's definition (ID, team, server, priority, batch size, policy)
// as for Submit; mode and labels are set here.
//
// Whether def.TeamID and def.Server match the header's team and API
// server is the caller's to check: the IDs of a snapshot name those
// assets on that server for that team only, and the CLI refuses a
// mismatch unless told explicitly. UndoFromSnapshot uses def's.
func (s *Store) UndoFromSnapshot(ctx context.Context, hdr *SnapshotHeader, lines []SnapshotLine, def *Campaign, opts UndoOptions) (*SubmitResult, error) {
	if err := hdr.validate(); err != nil {
		return nil, fmt.Errorf("snapshot of campaign %s: %w", hdr.Campaign, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("snapshot of campaign %s holds no assets: %w", hdr.Campaign, ErrNoValidIDs)
	}
	byID := func(a, b SnapshotLine) int {
		switch {
		case a.AssetID < b.AssetID:
			return -1
		case a.AssetID > b.AssetID:
			return 1
		}
		return 0
	}
	// An exported file is in ID order: use its lines as they are, and
	// copy them (the caller's slice is left alone) only to sort others.
	sorted := lines
	if !slices.IsSortedFunc(sorted, byID) {
		sorted = slices.Clone(lines)
		slices.SortFunc(sorted, byID)
	}
	if def.BatchSize < 1 || def.BatchSize > MaxBatchSize {
		return nil, fmt.Errorf("%w: batch size %d: want 1..%d", ErrInvalidCampaign, def.BatchSize, MaxBatchSize)
	}
	ids := NewIDSet()
	for i, l := range sorted {
		if l.AssetID <= 0 {
			return nil, fmt.Errorf("snapshot of campaign %s: asset ID %d: must be > 0", hdr.Campaign, l.AssetID)
		}
		if i > 0 && sorted[i-1].AssetID == l.AssetID {
			return nil, fmt.Errorf("snapshot of campaign %s: asset %d appears twice", hdr.Campaign, l.AssetID)
		}
		ids.Add(l.AssetID)
	}
	if opts.Exact {
		for _, l := range sorted {
			if l.Reset == nil {
				return nil, fmt.Errorf("snapshot of campaign %s: asset %d: %w", hdr.Campaign, l.AssetID, ErrSnapshotNoOutcomes)
			}
		}
	}
	sg := newRestoreSegment(ids, def.BatchSize)
	plan := &UndoPlan{Source: hdr.Campaign}
	counts := map[string]int64{}
	for i, l := range sorted {
		var labels []string
		if l.Reset == nil || *l.Reset {
			labels = restoreLabels(hdr.Mode, hdr.Labels, opts.Exact, l.Labels)
		}
		plan.count(counts, labels)
		sg.add(i/def.BatchSize, labels)
	}
	d := *def
	d.Mode, d.Labels, d.Snapshot, d.ResetUnlisted, d.Query = ModeRestore, nil, false, false, ""
	d.RestoreOf, d.Exact = "", opts.Exact
	if opts.Name != "" {
		d.Name = opts.Name
	}
	if opts.Owner != "" {
		d.Owner = opts.Owner
	}
	if d.Name == "" {
		d.Name = "undo of " + hdr.Campaign + " (snapshot file)"
	}
	if d.ID == "" {
		d.ID = fileRestoreID(hdr, ids)
	}
	if src, err := s.Get(ctx, hdr.Campaign); err == nil && !src.State.Final() && (src.Server == "" || src.Server == d.Server) {
		// Its batches would go on resetting next to the restore, and
		// nothing would wait for its calls in flight.
		return nil, fmt.Errorf("undo of campaign %s from its snapshot: %w: the campaign is still %s here; undo it by name "+
			"(labelreset undo %s: it cancels it first and waits for its calls), or cancel it first", hdr.Campaign, ErrSourceRunning, src.State, hdr.Campaign)
	}
	res, err := s.createRestore(ctx, &d, []*restoreSegment{sg}, plan.Restore, opts.Submit)
	if err == nil && res.Existing && res.Campaign.Exact != opts.Exact {
		err = fmt.Errorf("restore campaign %s from this file exists with exact=%t: %w", d.ID, res.Campaign.Exact, ErrInputMismatch)
	}
	if err != nil {
		return nil, fmt.Errorf("undo of campaign %s from its snapshot: %w", hdr.Campaign, err)
	}
	*def = d
	return res, nil
}

// FileRestoreID is the default ID of the restore campaign of a snapshot
// file (UndoFromSnapshot with no def.ID): the same file (its campaign,
// team, server, time and assets) always names the same restore campaign,
// so that running undo --snapshot twice returns the first restore instead
// of calling every asset again.
func FileRestoreID(hdr *SnapshotHeader, lines []SnapshotLine) string {
	ids := NewIDSet()
	for _, l := range lines {
		ids.Add(l.AssetID)
	}
	return fileRestoreID(hdr, ids)
}

func fileRestoreID(hdr *SnapshotHeader, ids *IDSet) string {
	src := []byte(hdr.Campaign)
	if len(src) > 40 {
		src = src[:40]
	}
	for i, c := range src {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			src[i] = '-'
		}
	}
	h := sha256.Sum256([]byte(hdr.Campaign + "\x00" + hdr.TeamID + "\x00" + hdr.Server + "\x00" +
		hdr.TakenAt.UTC().Format(time.RFC3339Nano) + "\x00" + ids.Fingerprint()))
	return "undo-" + string(src) + "-" + hex.EncodeToString(h[:4])
}

// NeverCalled reports, for the IDs of batch batch of restore campaign rc
// (in order), which assets its source certainly never called, read from
// the source's ledger now. Undo of a campaign that was still running has
// to plan before the source's batches record how they ended: an asset
// whose batch had not started is still pending then, and could as well
// be one whose call is in flight, so the plan restores both. By the time
// the restore runs (after Campaign.NotBefore) the source has recorded
// them: cancelled, or still without an outcome, and never called. The
// worker records those unchanged instead of calling them, so that labels
// never come back on assets nobody reset. ok is false (nothing known,
// restore as planned) for a restore made from a snapshot file, and for a
// source that is gone or is not the one rc undoes any more (deleted and
// created again under its ID). Source batch b holds the same IDs as the
// restore's batch b: Undo mirrors the source's segments.
func (s *Store) NeverCalled(ctx context.Context, rc *Campaign, batch int, ids []int64) (never []bool, ok bool, err error) {
	if rc.Mode != ModeRestore || rc.RestoreOf == "" || len(ids) == 0 {
		return nil, false, nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = strconv.FormatInt(id, 10)
	}
	var undo *redis.StringCmd
	var recs *redis.SliceCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		undo = p.HGet(ctx, s.keys.meta(rc.RestoreOf), undoField)
		recs = p.HMGet(ctx, s.keys.ledger(rc.RestoreOf, batch), fields...)
		return nil
	})
	if errors.Is(err, redis.Nil) || (err == nil && undo.Val() != rc.ID) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the ledger of %s, the campaign %s undoes: %w", rc.RestoreOf, rc.ID, err)
	}
	never = make([]bool, len(ids))
	for i, v := range recs.Val() {
		str, _ := v.(string)
		if str == "" {
			never[i] = true // no record: its batch never ran
			continue
		}
		r, err := decodeRecord(ids[i], str)
		if err != nil {
			return nil, false, fmt.Errorf("campaign %s batch %d: %w", rc.RestoreOf, batch, err)
		}
		never[i] = r.Attempts == 0 && (r.Outcome == OutcomeCancelled || !r.Terminal())
	}
	return never, true, nil
}
