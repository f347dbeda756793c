// Finding one asset in every campaign: which campaigns hold it and what
// each did to it.

package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// AssetHit is one campaign that holds an asset, and the asset's record
// there.
type AssetHit struct {
	Campaign  string
	Name      string
	State     State
	Mode      Mode
	TeamID    string
	RestoreOf string // set for a restore campaign made by an undo
	CreatedAt time.Time
	// Record is the asset's ledger record; its Outcome is OutcomePending
	// until it has a terminal one (its attempts and last error, if any,
	// are kept).
	Record Record
}

// assetHitJSON is the JSON form of an AssetHit: one element of
// "campaigns" in GET /v1/assets/{id}, and of labelreset asset --json.
type assetHitJSON struct {
	Campaign   string    `json:"campaign"`
	Name       string    `json:"name"`
	State      State     `json:"state"`
	Mode       Mode      `json:"mode"`
	RestoreOf  string    `json:"restore_of,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	Outcome    string    `json:"outcome"`
	Status     int       `json:"http_status"`
	Attempts   int       `json:"attempts"`
	Error      string    `json:"error"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// MarshalJSON renders the hit as the API and the CLI show it: one flat
// object of the campaign's and the record's fields (no team: a caller
// only sees the hits of its own teams anyway).
func (h AssetHit) MarshalJSON() ([]byte, error) {
	return json.Marshal(assetHitJSON{
		Campaign: h.Campaign, Name: h.Name, State: h.State, Mode: h.Mode, RestoreOf: h.RestoreOf,
		CreatedAt: h.CreatedAt, Outcome: h.Record.Outcome, Status: h.Record.Status,
		Attempts: h.Record.Attempts, Error: h.Record.Error, FinishedAt: h.Record.FinishedAt,
	})
}

// ErrInvalidAssetID is returned by FindAsset for an ID below 1.
var ErrInvalidAssetID = errors.New("asset ID must be in 1..9223372036854775807")

// findChunk bounds the campaigns whose reads share one pipeline, so that
// an index of many thousands does not build one huge reply.
const findChunk = 1000

// FindAsset returns the campaigns that hold asset, newest first, with the
// asset's record in each, among the campaigns of the index that keep
// admits (all when keep is nil; callers filter by team here).
//
// It costs a few round trips whatever the number of campaigns: the index,
// then one pipeline of meta hashes, one of the segment bitmaps not yet
// cached, and one of the ledger entries of the campaigns that hold the
// asset. The asset's batch is found from its rank in its segment's
// sorted IDs (batch = the segment's first batch + rank / batch size), so
// only that one ledger field is read. Decoded segments are cached within
// StoreOptions.AssetCacheBytes by campaign, incarnation, segment and ID
// count, which a segment never changes within one incarnation.
//
// A campaign deleted or created again while it is read is left out: its
// data no longer describes the campaign the index named.
func (s *Store) FindAsset(ctx context.Context, asset int64, keep func(*Campaign) bool) ([]AssetHit, error) {
	if asset < 1 {
		return nil, fmt.Errorf("asset ID %d: %w", asset, ErrInvalidAssetID)
	}
	ids, err := s.rdb.ZRevRange(ctx, s.keys.index(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("find asset %d: list campaigns: %w", asset, err)
	}
	var hits []AssetHit
	for len(ids) > 0 {
		n := min(len(ids), findChunk)
		h, err := s.findAssetIn(ctx, asset, ids[:n], keep)
		if err != nil {
			return nil, fmt.Errorf("find asset %d: %w", asset, err)
		}
		hits = append(hits, h...)
		ids = ids[n:]
	}
	return hits, nil
}

// candidate is a campaign being searched, with its segments.
type candidate struct {
	c     *Campaign
	segs  []segmentInfo
	looks []*segmentLookup
	// batch is the asset's ledger batch, -1 when the campaign does not
	// hold it.
	batch        int
	ledger, errs *redis.Cmd
	check        *redis.SliceCmd
}

func (s *Store) findAssetIn(ctx context.Context, asset int64, ids []string, keep func(*Campaign) bool) ([]AssetHit, error) {
	// 1. The meta hashes.
	metas := make([]*redis.MapStringStringCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			metas[i] = p.HGetAll(ctx, s.keys.meta(id))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("load campaigns: %w", err)
	}
	var cands []*candidate
	for i, m := range metas {
		c, err := decodeCampaign(m.Val())
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrDeleting) {
			continue // expired or going: the index entry is the janitor's to drop
		}
		if err != nil {
			return nil, err
		}
		if keep != nil && !keep(c) {
			continue
		}
		cd := &candidate{c: c, segs: make([]segmentInfo, c.Segments), looks: make([]*segmentLookup, c.Segments), batch: -1}
		for k := range cd.segs {
			v := m.Val()["s"+strconv.Itoa(k)]
			if err := json.Unmarshal([]byte(v), &cd.segs[k]); err != nil {
				return nil, fmt.Errorf("campaign %s segment %d: corrupt info: %w", ids[i], k, err)
			}
			cd.looks[k] = s.assetCache.get(cd.segmentKey(k))
		}
		cands = append(cands, cd)
	}

	// 2. The segments not cached, each followed by the campaign's
	// incarnation: the bitmap is the one read at step 1 only if the
	// campaign is still that incarnation after the read (a segment is
	// written once per incarnation, and an incarnation never comes back).
	if err := s.loadSegments(ctx, cands); err != nil {
		return nil, err
	}

	// 3. The asset's batch in each campaign that holds it, then its
	// ledger entry and error, again followed by the incarnation.
	key := strconv.FormatInt(asset, 10)
	var held []*candidate
	for _, cd := range cands {
		if cd.looks == nil {
			continue // gone since step 1
		}
		for k, l := range cd.looks {
			rank, ok := l.rank(asset)
			if !ok {
				continue
			}
			info := cd.segs[k]
			if info.BatchSize < 1 || rank/int64(info.BatchSize) >= int64(info.Batches) {
				return nil, fmt.Errorf("campaign %s segment %d: asset %d at position %d does not fit %d batches of %d",
					cd.c.ID, k, asset, rank, info.Batches, info.BatchSize)
			}
			cd.batch = info.FirstBatch + int(rank/int64(info.BatchSize))
			held = append(held, cd)
			break // segments of one campaign never share an ID
		}
	}
	if len(held) == 0 {
		return nil, nil
	}
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, cd := range held {
			cd.ledger = p.Do(ctx, "HGET", s.keys.ledger(cd.c.ID, cd.batch), key)
			cd.errs = p.Do(ctx, "HGET", s.keys.errors(cd.c.ID), key)
			cd.check = p.HMGet(ctx, s.keys.meta(cd.c.ID), IncarnationFields...)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("load ledger entries: %w", err)
	}
	hits := make([]AssetHit, 0, len(held))
	for _, cd := range held {
		if !cd.c.SameIncarnation(cd.check.Val()) {
			continue
		}
		r, err := assetRecord(asset, cd.ledger, cd.errs)
		if err != nil {
			return nil, fmt.Errorf("campaign %s batch %d: %w", cd.c.ID, cd.batch, err)
		}
		c := cd.c
		hits = append(hits, AssetHit{Campaign: c.ID, Name: c.Name, State: c.State, Mode: c.Mode, TeamID: c.TeamID,
			RestoreOf: c.RestoreOf, CreatedAt: c.CreatedAt, Record: r})
	}
	return hits, nil
}

func (cd *candidate) segmentKey(seg int) segmentKey {
	return segmentKey{campaign: cd.c.ID, identity: cd.c.LedgerIdentity(), segment: seg, ids: cd.segs[seg].IDs}
}

// loadSegments reads, decodes and caches the segments of cands that are
// not cached, in one pipeline; a campaign found gone gets nil looks.
func (s *Store) loadSegments(ctx context.Context, cands []*candidate) error {
	type load struct {
		cd   *candidate
		seg  int
		get  *redis.StringCmd
		meta *redis.SliceCmd
		last bool // the campaign's last segment to load: its incarnation check follows
	}
	var loads []load
	for _, cd := range cands {
		n := len(loads)
		for k, l := range cd.looks {
			if l == nil {
				loads = append(loads, load{cd: cd, seg: k})
			}
		}
		if len(loads) > n {
			loads[len(loads)-1].last = true
		}
	}
	if len(loads) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range loads {
			ld := &loads[i]
			ld.get = p.Get(ctx, s.keys.segment(ld.cd.c.ID, ld.seg))
			if ld.last {
				ld.meta = p.HMGet(ctx, s.keys.meta(ld.cd.c.ID), IncarnationFields...)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("load segments: %w", err)
	}
	// The incarnation check of a campaign follows its last GET; walk
	// back so it is known before its segments are used.
	gone := map[*candidate]bool{}
	for i := len(loads) - 1; i >= 0; i-- {
		ld := loads[i]
		if ld.meta != nil {
			gone[ld.cd] = !ld.cd.c.SameIncarnation(ld.meta.Val())
		}
	}
	for _, ld := range loads {
		cd := ld.cd
		if gone[cd] {
			cd.looks = nil
			continue
		}
		b, err := ld.get.Bytes()
		if err != nil {
			return fmt.Errorf("campaign %s segment %d: %w", cd.c.ID, ld.seg, err)
		}
		l, err := decodeSegment(b, cd.segs[ld.seg].IDs)
		if err != nil {
			return fmt.Errorf("campaign %s segment %d: %w", cd.c.ID, ld.seg, err)
		}
		cd.looks[ld.seg] = l
		s.assetCache.put(cd.segmentKey(ld.seg), l)
	}
	return nil
}

// assetRecord decodes an asset's ledger entry and, when its error lives
// in the campaign's error hash, that entry too. No entry, or one not
// terminal, is OutcomePending.
func assetRecord(asset int64, ledger, errs *redis.Cmd) (Record, error) {
	v, err := ledger.Text()
	if errors.Is(err, redis.Nil) {
		return Record{AssetID: asset, Outcome: OutcomePending}, nil
	}
	if err != nil {
		return Record{}, err
	}
	r, err := decodeRecord(asset, v)
	if err != nil {
		return Record{}, err
	}
	if r.Error == errorElsewhere {
		r.Error = ""
		if side, err := errs.Text(); err == nil {
			decodeSide(&r, side)
		} else if !errors.Is(err, redis.Nil) {
			return Record{}, err
		}
	}
	if !r.Terminal() {
		r.Outcome = OutcomePending
	}
	return r, nil
}
