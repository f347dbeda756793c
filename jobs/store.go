package jobs

import (
	"context"
	"errors"
	"fmt"
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
	// AssetCacheBytes bounds the decoded segment bitmaps FindAsset keeps
	// between lookups (estimated heap). Default DefaultAssetCacheBytes
	// (64 MiB: a million scattered IDs take 8 MB); negative keeps none.
	AssetCacheBytes int64
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
	// assetCache holds FindAsset's decoded segments (segmentcache.go).
	assetCache *segmentCache

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
	if opts.AssetCacheBytes == 0 {
		opts.AssetCacheBytes = DefaultAssetCacheBytes
	}
	l := NewLedger(rdb, opts.Namespace)
	l.actor = opts.Actor
	return &Store{
		rdb: rdb, client: asynq.NewClientFromRedisClient(rdb), keys: keys{opts.Namespace},
		ns: opts.Namespace, ledger: l, delay: opts.ControlDelay,
		now: opts.Now, segs: map[string]*IDSet{}, defaultActor: opts.Actor,
		assetCache: newSegmentCache(max(opts.AssetCacheBytes, 0)),
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
	return decodeStored(id, m)
}

// decodeStored decodes the meta hash m of campaign id as read by Get.
func decodeStored(id string, m map[string]string) (*Campaign, error) {
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
		"segments", 0, "gen", 0, "_done", 0, "_fail", 0, "approved_total", approved, failIndexField, 1)
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
	case strings.HasPrefix(msg, "LRUNDONE"):
		return &undoneError{restore: strings.TrimSpace(strings.TrimPrefix(msg, "LRUNDONE"))}
	}
	return err
}

// Redis returns the store's Redis client, for producers that keep their
// own small records (idempotency keys, schedule state) in the namespace.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }
