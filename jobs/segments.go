// A campaign's asset IDs, kept once per submit segment as a roaring
// bitmap; batch b is a fixed slice of a segment's sorted IDs, so every
// reader recomputes it instead of storing the lists twice.

package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// addSegmentScript appends a segment if the campaign still has the
// expected number of segments (so concurrent appends cannot interleave),
// is the expected incarnation and is not being deleted.
//
// An append (ARGV[10] = "append"; the first segment of a new campaign is
// not one) also decides, in the same atomic step, whether the campaign
// must wait for approval: approval covers a number of assets
// (approved_total), and an append that takes total more than the
// confirmation threshold above it (or one that requires approval) makes
// the campaign pending whatever its state, so that neither resume nor a
// retry can run assets nobody approved. An append confirmed by its caller
// (--yes) adds its own assets to approved_total, never anyone else's. Every
// append adds its actor to the stagers (who may not approve) and writes an
// "append" event with its count and the state it left.
//
// KEYS meta, segment key, events. ARGV expected segment index, bitmap,
// ids, batch size, new fingerprint, reopen (1 = a finished campaign runs
// again), actor, now (ms), incarnation, mode ("create" or "append"),
// confirmation threshold (<= 0: never), confirmed ("1": the caller
// approved these assets), require ("1": always wait for approval), reason
// of the hold. Returns the segment index, -1 (another append came first),
// -2 (being deleted), -3 (not that incarnation) or -4 (undone: the
// restore campaign covers only the assets it held, so new ones could
// never be undone, and a done source re-opened would run again).
var addSegmentScript = redis.NewScript(auditLua + `
local g = redis.call('HMGET', KEYS[1], 'inc', 'deleting', 'id')
if g[2] then return -2 end
if not g[3] or (g[1] or '') ~= ARGV[9] then return -3 end
if redis.call('HEXISTS', KEYS[1], '` + undoField + `') == 1 then return -4 end
local seg = tonumber(redis.call('HGET', KEYS[1], 'segments') or '-1')
if seg ~= tonumber(ARGV[1]) then return -1 end
local ids = tonumber(ARGV[3]); local bs = tonumber(ARGV[4])
local first = tonumber(redis.call('HGET', KEYS[1], 'batches') or '0')
local nb = math.floor((ids + bs - 1) / bs)
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 's' .. seg, cjson.encode({first_batch=first, batches=nb, ids=ids, batch_size=bs, enqueued=0}),
  'segments', seg + 1, 'batches', first + nb, 'fp', ARGV[5])
local total = redis.call('HINCRBY', KEYS[1], 'total', ids)
if ARGV[10] ~= 'append' then return seg end
local m = redis.call('HMGET', KEYS[1], 'state', 'approved_total', 'stagers')
local st = m[1]
local at = tonumber(m[2] or '')
if not at then
  -- stored before approvals were counted: what ran before was approved
  if st == 'pending' then at = 0 else at = total - ids end
end
local require = ARGV[13] == '1'
if ARGV[12] == '1' and not require then at = at + ids end
local stagers = {}
if m[3] and m[3] ~= '' then stagers = cjson.decode(m[3]) end
local known = false
for _, a in ipairs(stagers) do if a == ARGV[7] then known = true end end
if not known then stagers[#stagers+1] = ARGV[7] end
redis.call('HSET', KEYS[1], 'approved_total', at, 'stagers', cjson.encode(stagers))
local confirm = tonumber(ARGV[11])
local to = st
if require or (confirm > 0 and total - at > confirm) then
  if st ~= 'pending' then
    to = 'pending'
    redis.call('HSET', KEYS[1], 'state', 'pending', 'finished', '0', 'reason', ARGV[14])
  end
elseif ARGV[6] == '1' and st == 'done' then
  to = 'running'
  redis.call('HSET', KEYS[1], 'state', 'running', 'finished', '0')
end
audit(KEYS[3], ARGV[8], ARGV[7], 'append', st, to, ARGV[3] .. ' assets appended', ids)
return seg
`)

func (s *Store) segmentInfo(ctx context.Context, cid string, seg int) (segmentInfo, error) {
	var info segmentInfo
	v, err := s.rdb.HGet(ctx, s.keys.meta(cid), "s"+strconv.Itoa(seg)).Result()
	if err != nil {
		return info, fmt.Errorf("campaign %s segment %d: %w", cid, seg, err)
	}
	if err := json.Unmarshal([]byte(v), &info); err != nil {
		return info, fmt.Errorf("campaign %s segment %d: corrupt info: %w", cid, seg, err)
	}
	return info, nil
}

// segmentIDs loads (and caches: a segment never changes within one
// incarnation) a segment's IDs of campaign c. The bitmap is read in one
// transaction with the meta hash's incarnation, and used (and cached)
// only when that is still c's: the key may hold the segment of a campaign
// created again under the same ID since c was read.
func (s *Store) segmentIDs(ctx context.Context, c *Campaign, seg int) (*IDSet, error) {
	k := s.keys.segment(c.ID, seg)
	ck := k + "|" + c.identity()
	s.mu.Lock()
	set := s.segs[ck]
	s.mu.Unlock()
	if set != nil {
		return set, nil
	}
	var meta *redis.SliceCmd
	var get *redis.StringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		meta = p.HMGet(ctx, s.keys.meta(c.ID), IncarnationFields...)
		get = p.Get(ctx, k)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("load IDs of campaign %s segment %d: %w", c.ID, seg, err)
	}
	if !c.SameIncarnation(meta.Val()) {
		return nil, fmt.Errorf("load IDs of campaign %s segment %d: deleted or created again since it was read: %w",
			c.ID, seg, ErrCampaignGone)
	}
	b, err := get.Bytes()
	if err != nil {
		return nil, fmt.Errorf("load IDs of campaign %s segment %d: %w", c.ID, seg, err)
	}
	set, err = unmarshalIDSet(b)
	if err != nil {
		return nil, fmt.Errorf("campaign %s segment %d: %w", c.ID, seg, err)
	}
	s.mu.Lock()
	if len(s.segs) > 64 {
		clear(s.segs)
	}
	s.segs[ck] = set
	s.mu.Unlock()
	return set, nil
}

// allIDs returns the union of every segment.
func (s *Store) allIDs(ctx context.Context, c *Campaign) (*IDSet, error) {
	all := NewIDSet()
	for seg := 0; seg < c.Segments; seg++ {
		set, err := s.segmentIDs(ctx, c, seg)
		if err != nil {
			return nil, err
		}
		all.Union(set)
	}
	return all, nil
}

// forEachBatch calls fn with every batch of the campaign and its IDs, in
// batch order.
func (s *Store) forEachBatch(ctx context.Context, c *Campaign, fn func(batch int, ids []int64) error) error {
	for seg := 0; seg < c.Segments; seg++ {
		info, err := s.segmentInfo(ctx, c.ID, seg)
		if err != nil {
			return err
		}
		set, err := s.segmentIDs(ctx, c, seg)
		if err != nil {
			return err
		}
		err = set.Chunks(info.BatchSize, func(i int, ids []int64) error {
			return fn(info.FirstBatch+i, ids)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// segmentInfo describes one submit segment: its batches are
// FirstBatch..FirstBatch+Batches-1, built from the segment's sorted IDs in
// chunks of BatchSize. Enqueued counts the batches known to be enqueued, so
// that a crashed submit resumes instead of starting over.
type segmentInfo struct {
	FirstBatch int   `json:"first_batch"`
	Batches    int   `json:"batches"`
	IDs        int64 `json:"ids"`
	BatchSize  int   `json:"batch_size"`
	Enqueued   int   `json:"enqueued"`
}

func (s segmentInfo) complete() bool { return s.Enqueued >= s.Batches }
