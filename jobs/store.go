package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// StoreOptions configures a Store.
type StoreOptions struct {
	// Namespace prefixes keys and queue names. Default DefaultNamespace.
	Namespace string
	// ControlDelay is how long Pause and Cancel wait after changing the
	// state, so that every worker has seen the change when they return.
	// It must exceed the workers' state poll interval. Default 400ms.
	ControlDelay time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Actor records state changes made with a context that carries no
	// actor (WithActor), e.g. "worker:HOST". Default ActorSystem.
	Actor string
}

// Store manages campaigns in Redis and enqueues their batches.
type Store struct {
	rdb    redis.UniversalClient
	client *asynq.Client
	keys   keys
	ns     string
	ledger *Ledger
	delay  time.Duration
	now    func() time.Time

	defaultActor string

	mu sync.Mutex
	// segs caches segment bitmaps, which never change within one
	// incarnation of a campaign: by segment key and incarnation identity
	// (Campaign.identity), never by key alone, because a campaign ID can be
	// created again with other IDs under the same keys.
	segs map[string]*IDSet

	// janitorRead and deleteMarked, when set (tests only), run between the
	// janitor's read of an expired campaign and its decision, and between
	// the deleting mark and the removal of the keys.
	janitorRead  func(id string)
	deleteMarked func(id string)
}

// NewStore returns a Store over rdb. The caller keeps ownership of rdb;
// Close releases the Store's own asynq client only.
func NewStore(rdb redis.UniversalClient, opts StoreOptions) *Store {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.ControlDelay == 0 {
		opts.ControlDelay = 400 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Actor == "" {
		opts.Actor = ActorSystem
	}
	l := NewLedger(rdb, opts.Namespace)
	l.actor = opts.Actor
	return &Store{
		rdb: rdb, client: asynq.NewClientFromRedisClient(rdb), keys: keys{opts.Namespace},
		ns: opts.Namespace, ledger: l, delay: opts.ControlDelay,
		now: opts.Now, segs: map[string]*IDSet{}, defaultActor: opts.Actor,
	}
}

// Namespace returns the store's key namespace.
func (s *Store) Namespace() string { return s.ns }

// Ledger returns the store's ledger.
func (s *Store) Ledger() *Ledger { return s.ledger }

// Close exists for symmetry and does nothing: the store's asynq client
// shares the caller's Redis client, which the caller closes.
func (s *Store) Close() error { return nil }

// Get loads a campaign.
func (s *Store) Get(ctx context.Context, id string) (*Campaign, error) {
	if err := ValidateCampaignID(id); err != nil {
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, s.keys.meta(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("load campaign %s: %w", id, err)
	}
	c, err := decodeCampaign(m)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("campaign %s: %w", id, ErrNotFound)
	case errors.Is(err, ErrDeleting):
		// Gone for every reader; ErrDeleting says why to a caller who
		// wanted to change it.
		return nil, fmt.Errorf("campaign %s: %w (%w)", id, ErrDeleting, ErrNotFound)
	}
	return c, err
}

// List returns up to limit campaigns, newest first.
func (s *Store) List(ctx context.Context, limit int) ([]*Campaign, error) {
	return s.ListWhere(ctx, limit, nil)
}

// ListWhere returns up to limit campaigns for which keep reports true (all
// when keep is nil), newest first. It pages through the index until it has
// limit of them or the index ends, so that campaigns keep leaves out (say,
// other teams' newer ones) never crowd out those it wants.
func (s *Store) ListWhere(ctx context.Context, limit int, keep func(*Campaign) bool) ([]*Campaign, error) {
	if limit <= 0 {
		limit = 100
	}
	page := int64(max(limit, 100))
	out := make([]*Campaign, 0, min(limit, 100))
	seen := map[string]bool{}
	for start := int64(0); len(out) < limit; {
		ids, err := s.rdb.ZRevRange(ctx, s.keys.index(), start, start+page-1).Result()
		if err != nil {
			return nil, fmt.Errorf("list campaigns: %w", err)
		}
		next := start + int64(len(ids))
		for _, id := range ids {
			if seen[id] {
				continue // the index moved under the paging: a newer campaign pushed this one down
			}
			seen[id] = true
			c, err := s.Get(ctx, id)
			if errors.Is(err, ErrNotFound) {
				if s.rdb.ZRem(ctx, s.keys.index(), id).Val() == 1 {
					next-- // the entries after it moved up by one
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			if (keep == nil || keep(c)) && len(out) < limit {
				out = append(out, c)
			}
		}
		if int64(len(ids)) < page {
			break
		}
		start = next
	}
	return out, nil
}

// createScript creates the meta hash unless a campaign exists, and
// starts its audit log with the creation (a log left by an earlier
// campaign of the same ID is dropped). Returns 1 when created, 0 when it
// exists, -1 when it is being deleted. A hash without an id is no
// campaign: a field written by a straggler after a delete (a checkpoint, a
// counter) must not keep the ID from being used again.
// KEYS meta, events. ARGV actor, now (ms), state, then the hash fields.
var createScript = redis.NewScript(luaChunked + auditLua + `
local m = redis.call('HMGET', KEYS[1], 'id', 'deleting')
if m[2] then return -1 end
if m[1] then return 0 end
redis.call('DEL', KEYS[1])
local fields = {}
for i = 4, #ARGV do fields[#fields+1] = ARGV[i] end
chunked('HSET', KEYS[1], fields)
redis.call('HSET', KEYS[1], 'created_by', ARGV[1], 'stagers', cjson.encode({ARGV[1]}))
redis.call('DEL', KEYS[2])
audit(KEYS[2], ARGV[2], ARGV[1], 'create', '', ARGV[3], '')
return 1
`)

// create stores a new campaign definition in the given state, as a new
// incarnation (c.Incarnation is set). approved is the number of assets
// its creation approves (all of them when it is created running, none
// when pending).
func (s *Store) create(ctx context.Context, c *Campaign, approved int64) (bool, error) {
	c.Incarnation = NewIncarnation()
	args := append(c.metaFields(), "state", string(c.State), "total", 0, "batches", 0,
		"segments", 0, "gen", 0, "_done", 0, "_fail", 0, "approved_total", approved)
	args = append([]any{s.actor(ctx), s.nowMS(), string(c.State)}, args...)
	ok, err := createScript.Run(ctx, s.rdb, []string{s.keys.meta(c.ID), s.keys.events(c.ID)}, args...).Int()
	if ok != 1 {
		c.Incarnation = "" // not this call's: the existing campaign's is in Redis
	}
	if err != nil {
		return false, fmt.Errorf("create campaign %s: %w", c.ID, err)
	}
	if ok < 0 {
		return false, fmt.Errorf("campaign %s: %w: try again once it is gone (in a moment)", c.ID, ErrDeleting)
	}
	if ok == 1 {
		if err := s.rdb.ZAdd(ctx, s.keys.index(), redis.Z{Score: float64(c.CreatedAt.UnixMilli()), Member: c.ID}).Err(); err != nil {
			return true, fmt.Errorf("index campaign %s: %w", c.ID, err)
		}
	}
	return ok == 1, nil
}

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
// -2 (being deleted) or -3 (not that incarnation).
var addSegmentScript = redis.NewScript(auditLua + `
local g = redis.call('HMGET', KEYS[1], 'inc', 'deleting', 'id')
if g[2] then return -2 end
if not g[3] or (g[1] or '') ~= ARGV[9] then return -3 end
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

// enqueueOpts are the asynq options of every batch task. Retries of a
// batch are driven by the handler (RetryLater), not counted as failures, so
// MaxRetry only bounds genuinely broken tasks.
func (s *Store) enqueueOpts(c *Campaign, taskID string) []asynq.Option {
	return []asynq.Option{
		asynq.Queue(Queue(s.ns, c.Priority)), asynq.TaskID(taskID),
		asynq.MaxRetry(1000), asynq.Timeout(30 * time.Minute),
	}
}

// enqueueBatch enqueues one batch task; an existing task with the same ID
// is not an error (the batch is already queued), unless, for a campaign
// without an incarnation, it is a stale task of an earlier creation
// (enqueueLegacyConflict).
func (s *Store) enqueueBatch(ctx context.Context, c *Campaign, b *Batch) (bool, error) {
	p, err := EncodeBatch(b)
	if err != nil {
		return false, err
	}
	_, err = s.client.EnqueueContext(ctx, asynq.NewTask(TypeBatch, p), s.enqueueOpts(c, b.TaskID())...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		if b.Incarnation == "" {
			return s.enqueueLegacyConflict(ctx, c, b, p)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enqueue batch %d of campaign %s: %w", b.Batch, c.ID, err)
	}
	return true, nil
}

// checkpointScript records a segment's enqueue progress in the meta hash
// of incarnation ARGV[3] only: after a delete (or a re-creation) it
// writes nothing. KEYS meta. ARGV field, value, incarnation.
var checkpointScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'id', 'inc', 'deleting')
if not m[1] or m[3] or (m[2] or '') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// checkpointEvery is how many batches are enqueued between progress
// checkpoints of a segment.
const checkpointEvery = 256

// EnsureEnqueued enqueues every batch of the campaign that is not yet
// known to be enqueued, resuming from the last checkpoint of each segment.
// It returns the number of tasks created. It does nothing for a pending
// campaign.
func (s *Store) EnsureEnqueued(ctx context.Context, c *Campaign) (int, error) {
	if c.State == StatePending {
		return 0, nil
	}
	created := 0
	for seg := 0; seg < c.Segments; seg++ {
		info, err := s.segmentInfo(ctx, c.ID, seg)
		if err != nil {
			return created, err
		}
		if info.complete() {
			continue
		}
		set, err := s.segmentIDs(ctx, c, seg)
		if err != nil {
			return created, err
		}
		field := "s" + strconv.Itoa(seg)
		save := func(n int) error {
			info.Enqueued = n
			b, _ := json.Marshal(info)
			return checkpointScript.Run(ctx, s.rdb, []string{s.keys.meta(c.ID)}, field, b, c.Incarnation).Err()
		}
		b := &Batch{Campaign: c.ID, Incarnation: c.Incarnation}
		err = set.Chunks(info.BatchSize, func(i int, ids []int64) error {
			if i < info.Enqueued {
				return nil
			}
			b.Batch, b.IDs = info.FirstBatch+i, ids
			ok, err := s.enqueueBatch(ctx, c, b)
			if err != nil {
				return err
			}
			if ok {
				created++
			}
			if (i+1)%checkpointEvery == 0 {
				return save(i + 1)
			}
			return nil
		})
		if err != nil {
			return created, err
		}
		if err := save(info.Batches); err != nil {
			return created, fmt.Errorf("campaign %s: checkpoint segment %d: %w", c.ID, seg, err)
		}
	}
	return created, nil
}

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
// not allowed, "~" when it is being deleted, or "" when missing (or
// another incarnation).
var transitionScript = redis.NewScript(auditLua + `
local m = redis.call('HMGET', KEYS[1], 'state', 'inc', 'deleting')
local st = m[1]
if not st then return '' end
if m[3] then return '~' end
if ARGV[5] ~= '*' and (m[2] or '') ~= ARGV[5] then return '' end
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
// deleted), "!<state>" (not pending), "#<total>" (another total) or "@"
// (the actor staged assets).
var approveScript = redis.NewScript(auditLua + `
local m = redis.call('HMGET', KEYS[1], 'state', 'deleting', 'total', 'stagers', 'id')
if not m[1] or not m[5] then return '' end
if m[2] then return '~' end
if m[1] ~= 'pending' then return '!' .. m[1] end
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
	return sleepCtx(ctx, s.delay)
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
	if err := sleepCtx(ctx, s.delay); err != nil {
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
// A campaign being deleted, gone, or created again since the re-drive
// read it is an error reply (scriptError): a re-drive must not re-open
// data that is about to go, nor another campaign with the same ID.
// The first call of a re-drive that re-queues assets (ARGV[2] not empty)
// also writes the audit event of the retry.
// Re-queued failed and invalid assets leave the failure counts (failureLua).
// KEYS meta, ledger, events, failure reasons. ARGV[1] = IDs (comma separated); ARGV[2]
// actor ("" = no event), ARGV[3] now (ms), ARGV[4] reason, ARGV[5]
// incarnation, ARGV[6..] outcome codes. Returns the state before, then
// the re-queued IDs.
var requeueScript = redis.NewScript(luaChunked + auditLua + failureLua + `
local g = redis.call('HMGET', KEYS[1], 'id', 'inc', 'deleting', 'state')
if g[3] then return redis.error_reply('LRDELETING campaign is being deleted') end
if not g[1] or not g[4] or (g[2] or '') ~= ARGV[5] then return redis.error_reply('LRGONE campaign data no longer exists') end
local st = g[4]
if st == 'cancelled' then return {st} end
local want = {}
for i = 6, #ARGV do want[ARGV[i]] = true end
local names = {r='n:reset', n='n:not_found', i='n:invalid', f='n:failed', c='n:cancelled'}
local ids = {}
for id in string.gmatch(ARGV[1], '[^,]+') do ids[#ids+1] = id end
local vals = chunked('HMGET', KEYS[2], ids)
local out = {st}
local set = {}
local nd, nf = 0, 0
local delta = {}
local fails = {}
for j = 1, #ids do
  local v = vals[j]
  if v then
    local c = string.sub(v, 1, 1)
    if want[c] then
      delta[c] = (delta[c] or 0) - 1; nd = nd - 1
      if c == 'f' or c == 'i' then nf = nf - 1; count_failure(fails, v, -1) end
      set[#set+1] = ids[j]; set[#set+1] = 'q' .. string.sub(v, 2)
      out[#out+1] = ids[j]
    end
  end
end
if #set > 0 then
  chunked('HSET', KEYS[2], set)
  for c, d in pairs(delta) do redis.call('HINCRBY', KEYS[1], names[c], d) end
  save_failures(KEYS[4], fails)
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
// a cancelled one is refused (ErrTransition).
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
		res, err := requeueScript.Run(ctx, s.rdb, []string{s.keys.meta(id), s.keys.ledger(id, batch), s.keys.events(id), s.keys.failures(id)}, codes...).StringSlice()
		if err != nil {
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

// Records calls fn with the ledger record of every asset of the campaign,
// batch by batch; assets without an outcome yet have Outcome "pending".
func (s *Store) Records(ctx context.Context, id string, fn func(Record) error) error {
	c, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	return s.forEachBatch(ctx, c, func(batch int, ids []int64) error {
		recs, err := s.ledger.Load(ctx, id, batch, ids)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if !r.Terminal() {
				r.Outcome = OutcomePending
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// markDeletingScript marks a campaign as being deleted, in one atomic
// step with the decision: from then on append, re-drive, state changes
// and outcomes are refused, so nothing is accepted that the delete would
// lose. With ARGV[2] = "1" it marks only a campaign that still is what
// the caller read (state ARGV[3], finished stamp ARGV[4], incarnation
// ARGV[5]): the janitor's decision on a stale read changes nothing. A
// campaign already marked (a delete interrupted by a crash) stays marked.
// KEYS meta. ARGV[1] now (ms). Returns {1, segments, batches} when
// marked, {0} when the campaign changed, {-1} when it does not exist.
var markDeletingScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'id', 'state', 'finished', 'inc', 'deleting', 'segments', 'batches')
if not m[1] then return {-1} end
if not m[5] then
  if ARGV[2] == '1' and (m[2] ~= ARGV[3] or (m[3] or '') ~= ARGV[4] or (m[4] or '') ~= ARGV[5]) then return {0} end
  redis.call('HSET', KEYS[1], 'deleting', ARGV[1])
end
return {1, tonumber(m[6] or '0'), tonumber(m[7] or '0')}
`)

// deleteExpect is what the janitor read of a campaign it deletes.
type deleteExpect struct {
	state    State
	finished string
	inc      string
}

// Delete removes every key of a campaign, whatever its state. Changes to
// it are refused (ErrDeleting) from the moment it starts.
func (s *Store) Delete(ctx context.Context, id string) error {
	_, err := s.deleteIf(ctx, id, nil)
	return err
}

// deleteIf marks the campaign as being deleted (if expect is not nil,
// only when it is still as expected) and then removes its keys: the
// segments and ledger hashes, then the meta hash, so that a delete
// interrupted in between is found and finished by the next janitor run.
// It returns false when the campaign changed since expect was read.
func (s *Store) deleteIf(ctx context.Context, id string, expect *deleteExpect) (bool, error) {
	if err := ValidateCampaignID(id); err != nil {
		return false, err
	}
	args := []any{s.now().UnixMilli(), "0", "", "", ""}
	if expect != nil {
		args = []any{s.now().UnixMilli(), "1", string(expect.state), expect.finished, expect.inc}
	}
	res, err := markDeletingScript.Run(ctx, s.rdb, []string{s.keys.meta(id)}, args...).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("delete campaign %s: %w", id, err)
	}
	switch res[0] {
	case -1:
		return false, fmt.Errorf("campaign %s: %w", id, ErrNotFound)
	case 0:
		return false, nil
	}
	if s.deleteMarked != nil {
		s.deleteMarked(id)
	}
	segments, batches := int(res[1]), int(res[2])
	ks := make([]string, 0, segments+batches+2)
	for seg := 0; seg < segments; seg++ {
		ks = append(ks, s.keys.segment(id, seg))
	}
	for b := 0; b < batches; b++ {
		ks = append(ks, s.keys.ledger(id, b))
	}
	ks = append(ks, s.keys.events(id), s.keys.failures(id))
	ks = append(ks, s.keys.meta(id)) // last: it holds the deleting mark
	for len(ks) > 0 {
		n := min(len(ks), 500)
		// One slot per campaign: a multi-key DEL is fine on Cluster.
		if err := s.rdb.Del(ctx, ks[:n]...).Err(); err != nil {
			return false, fmt.Errorf("delete campaign %s: %w", id, err)
		}
		ks = ks[n:]
	}
	if err := s.rdb.ZRem(ctx, s.keys.index(), id).Err(); err != nil {
		return true, fmt.Errorf("delete campaign %s: unindex: %w", id, err)
	}
	return true, nil
}

// Janitor deletes campaigns that finished more than their retention ago.
// Several processes may run it; a short lock keeps them from doing the
// same work at once. The delete happens only if the campaign is still
// what the janitor read (an append or a retry in between re-opens it and
// keeps it), and a delete interrupted earlier is completed. It returns
// the number of campaigns deleted.
func (s *Store) Janitor(ctx context.Context) (int, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.janitorLock(), "1", time.Minute).Result()
	if err != nil || !ok {
		return 0, err
	}
	ids, err := s.rdb.ZRange(ctx, s.keys.index(), 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("janitor: %w", err)
	}
	now := s.now()
	n := 0
	for _, id := range ids {
		c, err := s.Get(ctx, id)
		switch {
		case errors.Is(err, ErrDeleting):
			if err := s.Delete(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
				return n, err
			}
			continue
		case errors.Is(err, ErrNotFound):
			s.rdb.ZRem(ctx, s.keys.index(), id)
			continue
		case err != nil:
			return n, err
		}
		if !c.State.Final() || c.FinishedAt.IsZero() || now.Sub(c.FinishedAt) <= c.Policy.Retention {
			continue
		}
		if s.janitorRead != nil {
			s.janitorRead(id)
		}
		deleted, err := s.deleteIf(ctx, id, &deleteExpect{
			state: c.State, finished: strconv.FormatInt(c.FinishedAt.UnixMilli(), 10), inc: c.Incarnation,
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return n, err
		}
		if deleted {
			n++
		}
	}
	return n, nil
}

// scriptError maps the error replies of the store's scripts to the
// package's sentinel errors.
func scriptError(err error) error {
	var re redis.Error
	if !errors.As(err, &re) {
		return err
	}
	switch msg := re.Error(); {
	case strings.HasPrefix(msg, "LRDELETING"):
		return ErrDeleting
	case strings.HasPrefix(msg, "LRGONE"):
		return ErrCampaignGone
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Redis returns the store's Redis client, for producers that keep their
// own small records (idempotency keys, schedule state) in the namespace.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// repairGen offsets the generation numbers of repair tasks so that their
// task IDs never collide with re-drives.
const repairGen = 1 << 20

// ErrRepairInProgress is returned by Repair while another process repairs
// the same campaign.
var ErrRepairInProgress = errors.New("another process is repairing this campaign")

// Repair re-enqueues every asset of the campaign that has no outcome yet,
// under new task IDs, and completes an interrupted enqueue. It is for
// campaigns whose tasks were lost (e.g. asynq state lost in a Redis
// failover); callers must make sure no task of the campaign is still
// queued, or an asset could be worked by two tasks at once. One process
// repairs a campaign at a time: while another holds the repair lock (a
// minute), Repair does nothing and returns ErrRepairInProgress. It returns
// the number of assets re-enqueued.
func (s *Store) Repair(ctx context.Context, id string) (int64, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.repairLock(id), "1", time.Minute).Result()
	if err != nil {
		return 0, fmt.Errorf("repair campaign %s: %w", id, err)
	}
	if !ok {
		return 0, ErrRepairInProgress
	}
	c, err := s.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	if c.State != StateRunning {
		return 0, fmt.Errorf("campaign %s is %s: %w", id, c.State, ErrTransition)
	}
	if _, err := s.EnsureEnqueued(ctx, c); err != nil {
		return 0, err
	}
	n, err := s.rdb.HIncrBy(ctx, s.keys.meta(id), "repairs", 1).Result()
	if err != nil {
		return 0, fmt.Errorf("campaign %s: %w", id, err)
	}
	var total int64
	err = s.forEachBatch(ctx, c, func(batch int, ids []int64) error {
		recs, err := s.ledger.Load(ctx, id, batch, ids)
		if err != nil {
			return err
		}
		b := &Batch{Campaign: id, Incarnation: c.Incarnation, Batch: batch, Gen: repairGen + int(n)}
		for _, r := range recs {
			if !r.Terminal() {
				b.IDs = append(b.IDs, r.AssetID)
			}
		}
		if len(b.IDs) == 0 {
			return nil
		}
		if _, err := s.enqueueBatch(ctx, c, b); err != nil {
			return err
		}
		total += int64(len(b.IDs))
		return nil
	})
	return total, err
}
