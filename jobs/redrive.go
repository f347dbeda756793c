// Re-driving the assets of chosen outcomes as new tasks.

package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// requeueScript takes the assets whose outcome is in ARGV[6..] out of
// their outcome (keeping status, attempts and error) so a re-drive can run
// them again, and fixes the counts, in one atomic step with the state
// decision:
//   - a done or stopped campaign runs again (running) when any asset is
//     re-queued: a worker finishing the last other asset must not see
//     done >= total and close it in between;
//   - a running, paused, blocked or pending campaign keeps its state: a
//     retry never starts calls that the operator held (workers hold the
//     re-queued batches like any other until resume or approve);
//   - a cancelled campaign is left alone (cancel is final);
//   - a re-drive that matches nothing changes nothing (state, finish time).
//
// Assets an earlier re-drive already re-queued ('q') are not taken again:
// their task is queued, and a second task could call them twice. One lost
// in a crash between this script and the enqueue has no outcome and is
// re-enqueued by the workers' orphan repair (Store.Repair).
// A campaign being deleted, gone, created again since the re-drive
// read it, or undone (its meta names a restore campaign: a re-driven call
// would remove the labels the restore put back) is an error reply
// (scriptError): a re-drive must not re-open
// data that is about to go, nor another campaign with the same ID.
// The first call of a re-drive that re-queues assets (ARGV[2] not empty)
// also writes the audit event of the retry.
// Re-queued failed and invalid assets leave the failure counts (failureLua),
// and re-queued assets leave the failure index (failIndexLua).
// KEYS meta, ledger, events, failure reasons, error hash, then the
// failure index (keys.failIndexes). ARGV[1] = IDs (comma separated); ARGV[2]
// actor ("" = no event), ARGV[3] now (ms), ARGV[4] reason, ARGV[5]
// incarnation, ARGV[6..] outcome codes. Returns the state before, then
// the re-queued IDs.
var requeueScript = redis.NewScript(luaChunked + auditLua + failureLua + failIndexLua + `
local g = redis.call('HMGET', KEYS[1], 'id', 'inc', 'deleting', 'state', '` + failIndexField + `')
if g[3] then return redis.error_reply('LRDELETING campaign is being deleted') end
if not g[1] or not g[4] or (g[2] or '') ~= ARGV[5] then return redis.error_reply('LRGONE campaign data no longer exists') end
local undo = redis.call('HGET', KEYS[1], '` + undoField + `')
if undo then return redis.error_reply('LRUNDONE ' .. undo) end
local st = g[4]
if st == 'cancelled' then return {st} end
local want = {}
for i = 6, #ARGV do want[ARGV[i]] = true end
local names = {r='n:reset', n='n:not_found', i='n:invalid', f='n:failed', c='n:cancelled',
  o='n:not_in_inventory', u='n:unchanged', R='n:restored'}
local ids = {}
for id in string.gmatch(ARGV[1], '[^,]+') do ids[#ids+1] = id end
local vals = chunked('HMGET', KEYS[2], ids)
local out = {st}
local set = {}
local nd, nf = 0, 0
local delta = {}
local fails = {}
local fidx = g[5] == '1' and fail_keys(6) or nil
local moves = {}
local batch = string.match(KEYS[2], ':l:(%d+)$')
for j = 1, #ids do
  local v = vals[j]
  if v then
    local c = string.sub(v, 1, 1)
    if want[c] then
      delta[c] = (delta[c] or 0) - 1; nd = nd - 1
      if c == 'f' or c == 'i' then
        nf = nf - 1
        local rec = v
        if string.sub(v, -2) == ',\30' then
          -- The error is in the error hash: count it down by that text.
          local e = redis.call('HGET', KEYS[5], ids[j])
          if e then rec = string.sub(v, 1, -2) .. (string.match(e, '^[^\n]*\n(.*)$') or '') end
        end
        count_failure(fails, rec, -1)
      end
      if fidx and fidx[c] then fail_move(moves, c, fail_member(ids[j], batch), -1) end
      set[#set+1] = ids[j]; set[#set+1] = 'q' .. string.sub(v, 2)
      out[#out+1] = ids[j]
    end
  end
end
if #set > 0 then
  chunked('HSET', KEYS[2], set)
  for c, d in pairs(delta) do redis.call('HINCRBY', KEYS[1], names[c], d) end
  save_failures(KEYS[4], fails)
  if fidx then save_fail_index(fidx, moves) end
  redis.call('HINCRBY', KEYS[1], '_done', nd)
  redis.call('HINCRBY', KEYS[1], '_fail', nf)
  local to = st
  if st == 'done' or st == 'stopped' then
    to = 'running'
    redis.call('HSET', KEYS[1], 'state', 'running', 'finished', '0', 'reason', '')
  end
  if ARGV[2] ~= '' then audit(KEYS[3], ARGV[3], ARGV[2], 'retry', st, to, ARGV[4]) end
end
return out
`)

// Redrive re-enqueues the assets whose latest outcome is one of outcomes
// (default: failed) as a new attempt of the same campaign. Each gets a
// fresh retry budget; their attempts keep counting. It returns the number
// of assets re-enqueued; with none, the campaign is left as it was. A done
// or stopped campaign runs again; a paused, blocked or pending one stays
// so, its re-enqueued assets waiting with the rest for resume or approve;
// a cancelled one is refused (ErrTransition), and so is one that was
// undone (ErrUndone).
func (s *Store) Redrive(ctx context.Context, id string, outcomes []string) (int64, error) {
	if len(outcomes) == 0 {
		outcomes = []string{OutcomeFailed}
	}
	codes := make([]any, 0, len(outcomes)+5)
	codes = append(codes, "", "", s.nowMS(), "outcomes "+strings.Join(outcomes, ","), "")
	for _, o := range outcomes {
		c := outcomeCode(o)
		if c == 0 || !isTerminalCode(c) {
			return 0, fmt.Errorf("%w %q: want one of %s", ErrUnknownOutcome, o, strings.Join(Outcomes, ", "))
		}
		if o == OutcomeReset {
			return 0, errors.New("outcome reset cannot be re-driven: those assets are done")
		}
		codes = append(codes, string(c))
	}
	c, err := s.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	if c.State == StateCancelled {
		return 0, fmt.Errorf("campaign %s is cancelled, which is final: %w", id, ErrTransition)
	}
	if c.Express {
		// Before its express phase is over the campaign's assets belong
		// to the bulk call and its verification: a batch now would call
		// them beside it.
		x, err := s.Express(ctx, c)
		if err != nil {
			return 0, err
		}
		if !x.State.Final() {
			return 0, fmt.Errorf("campaign %s: its bulk call and verification are not over (express %q): retry once they are: %w", id, x.State, ErrTransition)
		}
	}
	codes[4] = c.Incarnation
	var gen int64 // this re-drive's generation, taken at its first asset
	var total int64
	var sb strings.Builder
	err = s.forEachBatch(ctx, c, func(batch int, ids []int64) error {
		sb.Reset()
		for i, aid := range ids {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatInt(aid, 10))
		}
		codes[0] = sb.String()
		codes[1] = "" // only the first batch that re-queues anything writes the event
		if gen == 0 {
			codes[1] = s.actor(ctx)
		}
		res, err := requeueScript.Run(ctx, s.rdb, append([]string{s.keys.meta(id), s.keys.ledger(id, batch), s.keys.events(id), s.keys.failures(id), s.keys.errors(id)}, s.keys.failIndexes(id)...), codes...).StringSlice()
		if err != nil {
			if err := s.undoneError(ctx, id, scriptError(err)); errors.Is(err, ErrUndone) {
				return err // says all: which batch is beside the point
			}
			return fmt.Errorf("campaign %s batch %d: requeue: %w", id, batch, scriptError(err))
		}
		switch {
		case len(res) == 0 || res[0] == "":
			return fmt.Errorf("campaign %s: %w", id, ErrNotFound)
		case State(res[0]) == StateCancelled:
			return fmt.Errorf("campaign %s was cancelled during the retry (%d assets re-enqueued before): %w", id, total, ErrTransition)
		}
		res = res[1:]
		if len(res) == 0 {
			return nil
		}
		if gen == 0 {
			if gen, err = s.rdb.HIncrBy(ctx, s.keys.meta(id), "gen", 1).Result(); err != nil {
				return fmt.Errorf("campaign %s: %w", id, err)
			}
		}
		b := &Batch{Campaign: id, Incarnation: c.Incarnation, Batch: batch, Gen: int(gen), IDs: make([]int64, len(res))}
		for i, v := range res {
			b.IDs[i], _ = strconv.ParseInt(v, 10, 64)
		}
		if _, err := s.enqueueBatch(ctx, c, b); err != nil {
			return err
		}
		total += int64(len(res))
		return nil
	})
	return total, err
}
