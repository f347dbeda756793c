// State changes of a campaign (approve, pause, resume, block, cancel),
// each one atomic with its audit event.

package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/labelreset/labelreset/client/backoff"
	"github.com/redis/go-redis/v9"
)

// ErrTransition is returned for a state change that the campaign's current
// state does not allow.
var ErrTransition = errors.New("state change not allowed")

// transitionScript moves the campaign from one of the allowed states to a
// new state and appends the change to the audit log. A campaign already in
// the new state (an allowed repeat: pause of a paused campaign) is left as
// it is and no event is written: a repeat changes nothing, and a flood of
// repeats must not push real changes out of the log. Approvals go through
// approveScript. The action is named
// by the target state, and for running by where it comes from (approve
// from pending, resume otherwise).
// KEYS meta, events. ARGV: new state, reason, actor, now (ms), incarnation
// ("*" = any), allowed states... Returns the old state, or "!<state>" when
// not allowed, "~" when it is being deleted, "" when missing (or
// another incarnation), or "^<restore campaign>" for a change to running
// of an undone campaign (it would delete the labels its undo restores).
var transitionScript = redis.NewScript(auditLua + `
local m = redis.call('HMGET', KEYS[1], 'state', 'inc', 'deleting')
local st = m[1]
if not st then return '' end
if m[3] then return '~' end
if ARGV[5] ~= '*' and (m[2] or '') ~= ARGV[5] then return '' end
if ARGV[1] == 'running' then
  local undo = redis.call('HGET', KEYS[1], '` + undoField + `')
  if undo then return '^' .. undo end
end
local actions = {paused='pause', cancelled='cancel', blocked='block', pending='hold', stopped='stop', done='done'}
for i = 6, #ARGV do
  if ARGV[i] == st then
    if st == ARGV[1] then return st end
    redis.call('HSET', KEYS[1], 'state', ARGV[1], 'reason', ARGV[2])
    local action = actions[ARGV[1]] or ARGV[1]
    if ARGV[1] == 'running' then action = (st == 'pending') and 'approve' or 'resume' end
    audit(KEYS[2], ARGV[4], ARGV[3], action, st, ARGV[1], ARGV[2])
    return st
  end
end
return '!' .. st
`)

// transition changes the state of campaign id to to when it is in one of
// from, recording the actor of ctx in the audit log in the same step.
func (s *Store) transition(ctx context.Context, id string, to State, reason string, from ...State) (State, error) {
	return s.transitionIncarnation(ctx, id, anyIncarnation, to, reason, from...)
}

// transitionIncarnation is transition for one incarnation of the campaign
// only: another one is ErrNotFound.
func (s *Store) transitionIncarnation(ctx context.Context, id, inc string, to State, reason string, from ...State) (State, error) {
	args := []any{string(to), reason, s.actor(ctx), s.nowMS(), inc}
	for _, f := range from {
		args = append(args, string(f))
	}
	old, err := transitionScript.Run(ctx, s.rdb, []string{s.keys.meta(id), s.keys.events(id)}, args...).Text()
	if err != nil {
		return "", fmt.Errorf("campaign %s: set state %s: %w", id, to, err)
	}
	switch {
	case old == "":
		return "", fmt.Errorf("campaign %s: %w", id, ErrNotFound)
	case old == "~":
		return "", fmt.Errorf("campaign %s: %w", id, ErrDeleting)
	case strings.HasPrefix(old, "^"):
		return "", undone(id, old[1:])
	case strings.HasPrefix(old, "!"):
		return State(old[1:]), fmt.Errorf("campaign %s is %s, cannot become %s: %w", id, old[1:], to, ErrTransition)
	}
	return State(old), nil
}

// ErrSelfApproval is returned by ApproveChecked when the approver added
// assets to the campaign since its last approval (or created it).
var ErrSelfApproval = errors.New("the approver staged assets of this campaign itself")

// ErrChanged is returned by ApproveChecked when the campaign no longer
// holds the number of assets the approver saw.
var ErrChanged = errors.New("campaign changed since it was read")

// ApproveOptions bound what an approval covers.
type ApproveOptions struct {
	// Total, when > 0, approves only while the campaign holds exactly
	// Total assets: those the approver saw. An append in between (by
	// anyone, the approver included) is not approved with them.
	Total int64
	// NotStager refuses the approval when the actor of ctx is among the
	// campaign's stagers (ErrSelfApproval).
	NotStager bool
}

// approveScript releases a pending campaign, records that the approval
// covers every asset it holds and who gave it, and starts a new list of
// stagers, after checking in the same step what ApproveOptions ask.
// KEYS meta, events. ARGV actor, now (ms), expected total ("" any),
// "1" = refuse a stager. Returns "pending", "" (missing), "~" (being
// deleted), "!<state>" (not pending), "#<total>" (another total), "@"
// (the actor staged assets) or "^<restore campaign>" (undone).
var approveScript = redis.NewScript(auditLua + `
local m = redis.call('HMGET', KEYS[1], 'state', 'deleting', 'total', 'stagers', 'id')
if not m[1] or not m[5] then return '' end
if m[2] then return '~' end
if m[1] ~= 'pending' then return '!' .. m[1] end
local undo = redis.call('HGET', KEYS[1], '` + undoField + `')
if undo then return '^' .. undo end
if ARGV[3] ~= '' and (m[3] or '0') ~= ARGV[3] then return '#' .. (m[3] or '0') end
if ARGV[4] == '1' and m[4] and m[4] ~= '' then
  for _, a in ipairs(cjson.decode(m[4])) do
    if a == ARGV[1] then return '@' end
  end
end
redis.call('HSET', KEYS[1], 'state', 'running', 'reason', '', 'approved_total', m[3] or '0',
  'approved_by', ARGV[1], 'stagers', '[]')
audit(KEYS[2], ARGV[2], ARGV[1], 'approve', 'pending', 'running', '')
return 'pending'
`)

// Approve releases a pending campaign and enqueues its batches.
func (s *Store) Approve(ctx context.Context, id string) (*Campaign, error) {
	return s.ApproveChecked(ctx, id, ApproveOptions{})
}

// ApproveChecked is Approve with the checks of o made atomically with
// the approval.
func (s *Store) ApproveChecked(ctx context.Context, id string, o ApproveOptions) (*Campaign, error) {
	total, notStager := "", "0"
	if o.Total > 0 {
		total = strconv.FormatInt(o.Total, 10)
	}
	if o.NotStager {
		notStager = "1"
	}
	old, err := approveScript.Run(ctx, s.rdb, []string{s.keys.meta(id), s.keys.events(id)},
		s.actor(ctx), s.nowMS(), total, notStager).Text()
	if err != nil {
		return nil, fmt.Errorf("campaign %s: approve: %w", id, err)
	}
	switch {
	case old == "":
		return nil, fmt.Errorf("campaign %s: %w", id, ErrNotFound)
	case old == "~":
		return nil, fmt.Errorf("campaign %s: %w", id, ErrDeleting)
	case old == "@":
		return nil, fmt.Errorf("campaign %s: %w", id, ErrSelfApproval)
	case strings.HasPrefix(old, "^"):
		return nil, undone(id, old[1:])
	case strings.HasPrefix(old, "#"):
		return nil, fmt.Errorf("campaign %s holds %s assets now, not the %d approved: %w; read it again and approve what it holds",
			id, old[1:], o.Total, ErrChanged)
	case strings.HasPrefix(old, "!"):
		return nil, fmt.Errorf("campaign %s is %s, cannot become %s: %w", id, old[1:], StateRunning, ErrTransition)
	}
	return s.kick(ctx, id)
}

// kick reloads the campaign and makes sure its batches are queued.
func (s *Store) kick(ctx context.Context, id string) (*Campaign, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.EnsureEnqueued(ctx, c); err != nil {
		return c, err
	}
	return c, nil
}

// Pause stops new calls for the campaign. When it returns, every worker
// has seen the change: at most one call per worker slot was in flight.
func (s *Store) Pause(ctx context.Context, id string) error {
	if _, err := s.transition(ctx, id, StatePaused, "paused by operator", StateRunning, StatePaused); err != nil {
		return err
	}
	return backoff.Sleep(ctx, s.delay)
}

// Resume continues a paused, blocked or stopped campaign.
func (s *Store) Resume(ctx context.Context, id string) (*Campaign, error) {
	if _, err := s.transition(ctx, id, StateRunning, "", StatePaused, StateBlocked, StateStopped, StateRunning); err != nil {
		return nil, err
	}
	return s.kick(ctx, id)
}

// Block marks a running campaign blocked because PDCP refused the
// credentials. incarnation is the one whose call was refused
// (Campaign.Incarnation): another campaign created since under the same
// ID is left alone (ErrNotFound). It returns false when the campaign was
// not running.
func (s *Store) Block(ctx context.Context, id, incarnation, reason string) (bool, error) {
	_, err := s.transitionIncarnation(ctx, id, incarnation, StateBlocked, reason, StateRunning)
	if errors.Is(err, ErrTransition) {
		return false, nil
	}
	return err == nil, err
}

// Cancel stops the campaign for good: assets without an outcome are
// recorded as cancelled; finished outcomes stay. Calls in flight when it is
// called still record their real outcome.
func (s *Store) Cancel(ctx context.Context, id string) (*Campaign, error) {
	if _, err := s.transition(ctx, id, StateCancelled, "cancelled by operator",
		StatePending, StateRunning, StatePaused, StateBlocked, StateStopped, StateCancelled); err != nil {
		return nil, err
	}
	if err := backoff.Sleep(ctx, s.delay); err != nil {
		return nil, err
	}
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	err = s.forEachBatch(ctx, c, func(batch int, ids []int64) error {
		recs := make([]Record, len(ids))
		for i, aid := range ids {
			recs[i] = Record{AssetID: aid, Outcome: OutcomeCancelled, FinishedAt: now, Error: "campaign cancelled"}
		}
		_, err := s.ledger.RecordIncarnation(ctx, id, c.LedgerIdentity(), []BatchRecords{{Batch: batch, Records: recs}}, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}
