package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// recordScript writes ledger records of one campaign, keeps the outcome
// counts exact and moves the campaign to done (all assets finished) or
// stopped (failure ratio exceeded) in the same atomic step.
//
// An asset keeps its first terminal outcome: a second record for it (a
// batch run twice after a crash) changes nothing. The one exception is
// "cancelled", which a real outcome replaces, because a call that was in
// flight when the campaign was cancelled did happen. A "cancelled" record
// over an unfinished one (an asset a retry re-queued, or one between
// attempts) keeps that one's status, attempts and error (keepLast), so a
// cancel that interrupts a retry does not erase why the asset failed.
//
// A failed or invalid record whose error is in the campaign's error hash
// (encodeRecord) writes it there with the record; a record that replaces
// one whose error was there, with one whose error is not, removes it.
//
// A change to done or stopped is appended to the audit log. Outcomes are
// written only to the incarnation they were made for, and never to a
// campaign being deleted: for any other the campaign is gone.
//
// Each failed or invalid outcome written is also counted by its reason
// (failureLua), read from the full error text when it is in the error hash.
// In a campaign created with a failure index (failIndexField), each
// record written moves its asset between the index's outcomes
// (failIndexLua).
//
// KEYS[1] meta, KEYS[2..6] the failure index (keys.failIndexes),
// KEYS[7..n-3] ledger hashes, KEYS[n-2] the error hash,
// KEYS[n-1] failure reasons, KEYS[n] events. ARGV[1] now (ms), ARGV[2]
// actor, ARGV[3] the incarnation ("*" = any; "@" and the creation time for
// a campaign without one, Campaign.LedgerIdentity), ARGV[4] s, followed by
// s (asset ID, error hash value) pairs, then per ledger key: n, followed
// by n (asset ID, record) pairs.
// Returns 0 nothing to report, 1 campaign finished, 2 campaign stopped,
// -1 campaign does not exist.
var recordScript = redis.NewScript(luaChunked + auditLua + failureLua + failIndexLua + `
-- keepLast(old, new): a "cancelled" record new for an asset whose record
-- old is unfinished (re-queued by a retry, or between attempts) keeps the
-- old record's status, attempts and error: the report still shows why it
-- was retried and how often it was called. The finish time it adds takes
-- room the old record's error had, so the error is cut (as ClipError
-- does, without its word boundary) to keep the record within
-- compactValueMax bytes.
local function keepLast(old, new)
  local _, os, oa, _, oe = string.match(old, '^(.-),(.-),(.-),(.-),(.*)$')
  local _, _, _, nt, ne = string.match(new, '^(.-),(.-),(.-),(.-),(.*)$')
  if not os or not nt then return new end
  if oe == '' then oe = ne end
  local rec = 'c,' .. os .. ',' .. string.match(oa, '^[^/]*') .. ',' .. nt .. ','
  local room = ` + strconv.Itoa(compactValueMax) + ` - #rec
  if #oe > room then
    local cut = room - 3 -- the bytes of the ellipsis
    while cut > 0 and string.byte(oe, cut + 1) >= 128 and string.byte(oe, cut + 1) < 192 do cut = cut - 1 end
    if cut > 0 then oe = (string.gsub(string.sub(oe, 1, cut), '[ ,;:(]+$', '')) .. '\226\128\166' else oe = '' end
  end
  return rec .. oe
end
local meta = KEYS[1]
local events = KEYS[#KEYS]
local errs = KEYS[#KEYS - 2]
local failures = KEYS[#KEYS - 1]
local fails = {}
local st = redis.call('HMGET', meta, 'state', 'total', 'max_failure_ratio', 'min_sample', '_fail', 'finished', '_done',
  'n:reset', 'n:not_found', 'n:invalid', 'n:failed', 'n:cancelled', 'inc', 'deleting', 'created',
  'n:not_in_inventory', 'n:unchanged', 'n:restored', '` + failIndexField + `')
if not st[1] or st[14] then return -1 end
if ARGV[3] ~= '*' then
  if string.sub(ARGV[3], 1, 1) == '@' then
    if (st[13] or '') ~= '' or (st[15] or '') ~= string.sub(ARGV[3], 2) then return -1 end
  elseif (st[13] or '') ~= ARGV[3] then return -1 end
end
local terminal = {r=true, n=true, i=true, f=true, c=true, o=true, u=true, R=true}
-- Only failed and invalid count against the failure ratio: an asset the
-- snapshot did not find, or a restore with nothing to put back, is not a
-- failure of the API.
local isfail = {f=true, i=true}
local names = {r='n:reset', n='n:not_found', i='n:invalid', f='n:failed', c='n:cancelled',
  o='n:not_in_inventory', u='n:unchanged', R='n:restored'}
local cur = {r=tonumber(st[8] or '0'), n=tonumber(st[9] or '0'), i=tonumber(st[10] or '0'),
  f=tonumber(st[11] or '0'), c=tonumber(st[12] or '0'), o=tonumber(st[16] or '0'),
  u=tonumber(st[17] or '0'), R=tonumber(st[18] or '0')}
local delta = {}
local nd, nf = 0, 0
local side = {}
local ns = tonumber(ARGV[4])
for j = 0, ns - 1 do side[ARGV[5 + 2*j]] = ARGV[6 + 2*j] end
local sideSet, sideDel = {}, {}
local function elsewhere(r) return r and string.sub(r, -2) == ',\30' end
-- withText is record v of asset id with its error hash text in place of
-- the marker: what a failure is counted by.
local function withText(v, id)
  if not (elsewhere(v) and side[id]) then return v end
  return string.sub(v, 1, -2) .. (string.match(side[id], '^[^\n]*\n(.*)$') or '')
end
local ai = 5 + 2*ns
local fidx = st[19] == '1' and fail_keys(2) or nil
local moves = {}
for k = 7, #KEYS - 3 do
  local m = tonumber(ARGV[ai]); ai = ai + 1
  local batch = string.match(KEYS[k], ':l:(%d+)$')
  local ids = {}
  for j = 1, m do ids[j] = ARGV[ai + 2*(j-1)] end
  local old = chunked('HMGET', KEYS[k], ids)
  local set = {}
  for j = 1, m do
    local v = ARGV[ai + 2*(j-1) + 1]
    local nc = string.sub(v, 1, 1)
    local oc = old[j] and string.sub(old[j], 1, 1) or nil
    local write = (not oc) or (not terminal[oc]) or (oc == 'c' and nc ~= 'c' and terminal[nc])
    if write and nc == 'c' and oc and not terminal[oc] then v = keepLast(old[j], v) end
    if write then
      set[#set+1] = ids[j]; set[#set+1] = v
      if side[ids[j]] and elsewhere(v) then
        sideSet[#sideSet+1] = ids[j]; sideSet[#sideSet+1] = side[ids[j]]
      elseif elsewhere(old[j]) and not elsewhere(v) then
        sideDel[#sideDel+1] = ids[j]
      end
      if oc and terminal[oc] then
        delta[oc] = (delta[oc] or 0) - 1; nd = nd - 1
        if isfail[oc] then nf = nf - 1 end
      end
      if terminal[nc] then
        delta[nc] = (delta[nc] or 0) + 1; nd = nd + 1
        if isfail[nc] then nf = nf + 1; count_failure(fails, withText(v, ids[j]), 1) end
      end
      if fidx and oc ~= nc then
        if oc and fidx[oc] then fail_move(moves, oc, fail_member(ids[j], batch), -1) end
        if fidx[nc] then fail_move(moves, nc, fail_member(ids[j], batch), 1) end
      end
    end
  end
  ai = ai + 2*m
  if #set > 0 then chunked('HSET', KEYS[k], set) end
end
if #sideSet > 0 then chunked('HSET', errs, sideSet) end
if #sideDel > 0 then chunked('HDEL', errs, sideDel) end
save_failures(failures, fails)
if fidx then save_fail_index(fidx, moves) end
if nd == 0 and nf == 0 and next(delta) == nil then return 0 end
-- One HSET carries every count and any state change: the script is
-- atomic, so read-modify-write of the counts is safe, and it costs one
-- command instead of an HINCRBY per outcome.
local upd = {}
for c, d in pairs(delta) do
  if d ~= 0 then upd[#upd+1] = names[c]; upd[#upd+1] = cur[c] + d end
end
local done = tonumber(st[7] or '0') + nd
local fail = tonumber(st[5] or '0') + nf
upd[#upd+1] = '_done'; upd[#upd+1] = done
upd[#upd+1] = '_fail'; upd[#upd+1] = fail
local state = st[1]
local total = tonumber(st[2] or '0')
local ret = 0
if done >= total and total > 0 then
  if state == 'cancelled' then
    if not st[6] or st[6] == '' or st[6] == '0' then upd[#upd+1] = 'finished'; upd[#upd+1] = ARGV[1] end
    ret = 1
  elseif state ~= 'done' then
    upd[#upd+1] = 'state'; upd[#upd+1] = 'done'
    upd[#upd+1] = 'finished'; upd[#upd+1] = ARGV[1]
    upd[#upd+1] = 'reason'; upd[#upd+1] = ''
    audit(events, ARGV[1], ARGV[2], 'done', state, 'done', '')
    ret = 1
  end
else
  local ratio = tonumber(st[3] or '1')
  local minS = tonumber(st[4] or '0')
  if state == 'running' and done >= minS and done > 0 and ratio < 1 and fail / done > ratio then
    upd[#upd+1] = 'state'; upd[#upd+1] = 'stopped'
    upd[#upd+1] = 'reason'
    upd[#upd+1] = string.format('failure ratio %.3f (%d of %d finished assets failed or invalid) exceeds the limit %.3f',
      fail / done, fail, done, ratio)
    audit(events, ARGV[1], ARGV[2], 'stop', state, 'stopped', upd[#upd])
    ret = 2
  end
end
redis.call('HSET', meta, unpack(upd)) -- at most 14 pairs: eight counts, _done, _fail, state, finished, reason
return ret
`)

// BatchRecords are records of one ledger batch.
type BatchRecords struct {
	Batch   int
	Records []Record
}

// Change is what recording outcomes did to the campaign.
type Change int

// Changes reported by Ledger.Record.
const (
	ChangeNone     Change = 0
	ChangeFinished Change = 1
	ChangeStopped  Change = 2
)

// ErrCampaignGone is returned when outcomes are recorded for a campaign
// whose data no longer exists (deleted or expired).
var ErrCampaignGone = errors.New("campaign data no longer exists")

// Ledger reads and writes per-asset outcomes.
type Ledger struct {
	rdb  redis.UniversalClient
	keys keys
	// actor records done and stopped changes made with a context that
	// carries no actor (see WithActor).
	actor string
}

// NewLedger returns the ledger of namespace ns.
func NewLedger(rdb redis.UniversalClient, ns string) *Ledger {
	return &Ledger{rdb: rdb, keys: keys{ns}, actor: ActorSystem}
}

// anyIncarnation makes RecordIncarnation write to whichever incarnation
// of the campaign exists.
const anyIncarnation = "*"

// Record writes the records of one campaign atomically (one script call,
// however many batches and assets), to whichever incarnation of the
// campaign exists now. Records with a non-terminal outcome ("retrying")
// only store attempts; they never replace a terminal one. Outcomes of a
// batch task go through RecordIncarnation.
func (l *Ledger) Record(ctx context.Context, campaign string, batches []BatchRecords, now time.Time) (Change, error) {
	return l.RecordIncarnation(ctx, campaign, anyIncarnation, batches, now)
}

// RecordIncarnation is Record for one incarnation of the campaign
// (Campaign.LedgerIdentity; "" accepts any campaign stored by an earlier
// version, whichever its creation):
// when the campaign was deleted, or deleted and created again, since the
// outcomes were made, nothing is written and the error wraps
// ErrCampaignGone.
func (l *Ledger) RecordIncarnation(ctx context.Context, campaign, incarnation string, batches []BatchRecords, now time.Time) (Change, error) {
	ks, args := l.recordArgs(ctx, campaign, incarnation, batches, now)
	return recordResult(campaign, recordScript.Run(ctx, l.rdb, ks, args...))
}

// ErrNoReplicaAck is returned by RecordAndWait when the records were
// written but fewer replicas than asked acknowledged them in time: they
// are on the master, and a failover now could lose them.
var ErrNoReplicaAck = errors.New("replicas did not acknowledge the write in time")

// RecordAndWait is RecordIncarnation followed by WAIT for replicas (at
// most timeout) on the same connection: WAIT only covers the writes made
// on its own connection, and a pooled client would send a separate WAIT on
// whichever connection is free, where it proves nothing about these
// records. The write and the WAIT go in one pipeline, which a standalone
// or Sentinel client sends on one connection, so the WAIT costs no round
// trip of its own. Not for Redis Cluster: a cluster pipeline routes by
// key, and WAIT has none. timeout must be positive (WAIT 0 blocks
// forever).
func (l *Ledger) RecordAndWait(ctx context.Context, campaign, incarnation string, batches []BatchRecords, now time.Time,
	replicas int, timeout time.Duration) (Change, error) {
	if _, ok := l.rdb.(*redis.ClusterClient); ok {
		return ChangeNone, fmt.Errorf("record outcomes of campaign %s: WAIT cannot follow a write on Redis Cluster", campaign)
	}
	if replicas < 1 || timeout <= 0 {
		return ChangeNone, fmt.Errorf("record outcomes of campaign %s: wait for %d replicas for %v: want at least 1 for a positive time", campaign, replicas, timeout)
	}
	ks, args := l.recordArgs(ctx, campaign, incarnation, batches, now)
	run := func(eval func(redis.Pipeliner) *redis.Cmd) (*redis.Cmd, *redis.Cmd) {
		pipe := l.rdb.Pipeline()
		rec := eval(pipe)
		wait := pipe.Do(ctx, "WAIT", replicas, timeout.Milliseconds())
		pipe.Exec(ctx) // each command keeps its own error
		return rec, wait
	}
	rec, wait := run(func(p redis.Pipeliner) *redis.Cmd { return recordScript.EvalSha(ctx, p, ks, args...) })
	if redis.HasErrorPrefix(rec.Err(), "NOSCRIPT") {
		// Script cache empty (a restarted Redis): EVAL loads it.
		rec, wait = run(func(p redis.Pipeliner) *redis.Cmd { return recordScript.Eval(ctx, p, ks, args...) })
	}
	ch, err := recordResult(campaign, rec)
	if err != nil {
		return ch, err
	}
	n, err := wait.Int()
	if err != nil {
		return ch, fmt.Errorf("record outcomes of campaign %s: WAIT: %w: %w", campaign, ErrNoReplicaAck, err)
	}
	if n < replicas {
		return ch, fmt.Errorf("record outcomes of campaign %s: %d of %d replicas within %v: %w", campaign, n, replicas, timeout, ErrNoReplicaAck)
	}
	return ch, nil
}

// recordArgs builds the keys and arguments of recordScript.
func (l *Ledger) recordArgs(ctx context.Context, campaign, incarnation string, batches []BatchRecords, now time.Time) ([]string, []any) {
	ks := make([]string, 0, 9+len(batches))
	ks = append(ks, l.keys.meta(campaign))
	ks = append(ks, l.keys.failIndexes(campaign)...)
	n := 4
	for _, b := range batches {
		n += 1 + 2*len(b.Records)
	}
	args := make([]any, 0, n)
	actor := ActorOf(ctx)
	if actor == "" {
		actor = l.actor
	}
	args = append(args, now.UnixMilli(), actor, incarnation, 0)
	var side []any
	var buf []byte
	for _, b := range batches {
		ks = append(ks, l.keys.ledger(campaign, b.Batch))
		args = append(args, len(b.Records))
		for i := range b.Records {
			r := &b.Records[i]
			var s string
			buf, s = encodeRecord(buf[:0], r)
			args = append(args, r.AssetID, string(buf))
			if s != "" {
				side = append(side, r.AssetID, s)
			}
		}
	}
	if len(side) > 0 {
		// The error hash values go before the records (ARGV[4]): the
		// script reads them first. Rare (failed and invalid assets with a
		// long error or an error_id), so the copy is cheap.
		args[3] = len(side) / 2
		args = append(args[:4], append(side, args[4:]...)...)
	}
	ks = append(ks, l.keys.errors(campaign), l.keys.failures(campaign), l.keys.events(campaign))
	return ks, args
}

// recordResult reads recordScript's reply.
func recordResult(campaign string, cmd *redis.Cmd) (Change, error) {
	res, err := cmd.Int()
	if err != nil {
		return ChangeNone, fmt.Errorf("record outcomes of campaign %s: %w", campaign, err)
	}
	if res < 0 {
		return ChangeNone, fmt.Errorf("record outcomes of campaign %s: %w", campaign, ErrCampaignGone)
	}
	return Change(res), nil
}

// LoadForRun is Load for a batch about to run. A batch's first run finds
// no ledger hash: one HLEN answers that without an HMGET of every asset (a
// hundred fields to format and parse). Readers of finished batches (the
// report, Repair) use Load, which never pays the extra round trip.
func (l *Ledger) LoadForRun(ctx context.Context, campaign string, batch int, ids []int64) ([]Record, error) {
	n, err := l.rdb.HLen(ctx, l.keys.ledger(campaign, batch)).Result()
	if err != nil {
		return nil, fmt.Errorf("load ledger of campaign %s batch %d: %w", campaign, batch, err)
	}
	if n > 0 {
		return l.Load(ctx, campaign, batch, ids)
	}
	out := make([]Record, len(ids))
	for i, id := range ids {
		out[i].AssetID = id
	}
	return out, nil
}

// Load returns the records of the given assets of one batch, aligned with
// ids; an asset without a record has an empty Outcome.
func (l *Ledger) Load(ctx context.Context, campaign string, batch int, ids []int64) ([]Record, error) {
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = strconv.FormatInt(id, 10)
	}
	vals, err := l.rdb.HMGet(ctx, l.keys.ledger(campaign, batch), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("load ledger of campaign %s batch %d: %w", campaign, batch, err)
	}
	out := make([]Record, len(ids))
	var elsewhere []int
	for i, v := range vals {
		out[i].AssetID = ids[i]
		s, ok := v.(string)
		if !ok {
			continue
		}
		r, err := decodeRecord(ids[i], s)
		if err != nil {
			return nil, fmt.Errorf("campaign %s batch %d: %w", campaign, batch, err)
		}
		out[i] = r
		if r.Error == errorElsewhere {
			elsewhere = append(elsewhere, i)
		}
	}
	if len(elsewhere) == 0 {
		return out, nil
	}
	fields = fields[:0]
	for _, i := range elsewhere {
		fields = append(fields, strconv.FormatInt(ids[i], 10))
	}
	vals, err = l.rdb.HMGet(ctx, l.keys.errors(campaign), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("load errors of campaign %s batch %d: %w", campaign, batch, err)
	}
	for j, v := range vals {
		r := &out[elsewhere[j]]
		r.Error = ""
		if s, ok := v.(string); ok {
			decodeSide(r, s)
		}
	}
	return out, nil
}
