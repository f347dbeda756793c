package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs/redistest"
)

// findBenchAsset is the asset the benchmark looks up: every campaign of
// findBench with an index divisible by findBenchEvery holds it.
const (
	findBenchAsset = 424_242_424_242
	findBenchEvery = 50
)

// findBench stores 1,000 campaigns of scattered IDs (random in 1..2^50,
// the worst case for a roaring bitmap): one of 1,000,000, ten of 100,000
// and 989 of 1,000, written directly (no tasks are enqueued), with a
// ledger record of the looked-up asset in half of those that hold it. It
// returns the number of campaigns that hold the asset.
func findBench(b *testing.B, s *Store) int {
	b.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(18, 2026))
	held := 0
	for i := range 1000 {
		n := 1000
		switch {
		case i == 500:
			n = 1_000_000
		case i%100 == 50:
			n = 100_000
		}
		bld := newIDSetBuilder()
		for bld.rows < int64(n) {
			bld.add(1 + r.Int64N(1<<50))
		}
		if i%findBenchEvery == 0 || n > 1000 {
			bld.add(findBenchAsset)
			held++
		}
		set, _ := bld.done()
		c := &Campaign{ID: fmt.Sprintf("bench-%04d", i), Name: "bench " + strconv.Itoa(i), Mode: ModeDelete,
			Priority: PriorityNormal, BatchSize: DefaultBatchSize, Policy: DefaultPolicy(), State: StateDone,
			CreatedAt: time.UnixMilli(1_700_000_000_000 + int64(i)*1000).UTC()}
		if _, err := s.create(ctx, c, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := s.addSegment(ctx, c.ID, c.Incarnation, 0, set, c.BatchSize, set.Fingerprint(), nil); err != nil {
			b.Fatal(err)
		}
		if set.Contains(findBenchAsset) && i%(2*findBenchEvery) == 0 {
			l := newSegmentLookup(set)
			rank, _ := l.rank(findBenchAsset)
			rec := Record{AssetID: findBenchAsset, Outcome: OutcomeReset, Status: 200, Attempts: 1, FinishedAt: time.Now()}
			if _, err := s.ledger.Record(ctx, c.ID, []BatchRecords{{Batch: int(rank) / c.BatchSize, Records: []Record{rec}}}, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	}
	return held
}

// naiveFindAsset is the lookup as first written: campaign by campaign,
// one command at a time, each segment loaded and decoded in full, no
// cache. The benchmark's baseline.
func naiveFindAsset(ctx context.Context, s *Store, asset int64) ([]AssetHit, error) {
	ids, err := s.rdb.ZRevRange(ctx, s.keys.index(), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	var hits []AssetHit
	for _, id := range ids {
		c, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		for seg := range c.Segments {
			info, err := s.segmentInfo(ctx, id, seg)
			if err != nil {
				return nil, err
			}
			raw, err := s.rdb.Get(ctx, s.keys.segment(id, seg)).Bytes()
			if err != nil {
				return nil, err
			}
			set, err := unmarshalIDSet(raw)
			if err != nil {
				return nil, err
			}
			if !set.Contains(asset) {
				continue
			}
			rank := int64(set.bm.Rank(uint64(asset))) - 1
			v, err := s.rdb.HGet(ctx, s.keys.ledger(id, info.FirstBatch+int(rank)/info.BatchSize), strconv.FormatInt(asset, 10)).Result()
			r := Record{AssetID: asset, Outcome: OutcomePending}
			if err == nil {
				if r, err = decodeRecord(asset, v); err != nil {
					return nil, err
				}
			} else if !errors.Is(err, redis.Nil) {
				return nil, err
			}
			hits = append(hits, AssetHit{Campaign: id, Name: c.Name, State: c.State, Mode: c.Mode, CreatedAt: c.CreatedAt, Record: r})
			break
		}
	}
	return hits, nil
}

// BenchmarkFindAsset: one asset across 1,000 campaigns (3 million
// scattered IDs). "cached" is FindAsset as a serving process runs it
// (segments decoded once, then only the metas and the ledger entries are
// read); "cold" is a new store every lookup, which reads and decodes
// every segment; "naive" is the baseline, naiveFindAsset. The target is
// 200 ms per lookup on a real Redis (REDIS_ADDR).
func BenchmarkFindAsset(b *testing.B) {
	env := redistest.New(b)
	ctx := context.Background()
	s := NewStore(env.Client, StoreOptions{Namespace: env.Namespace})
	held := findBench(b, s)
	check := func(b *testing.B, hits []AssetHit, err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
		if len(hits) != held {
			b.Fatalf("%d hits, want %d", len(hits), held)
		}
	}
	b.Run("cached", func(b *testing.B) {
		hits, err := s.FindAsset(ctx, findBenchAsset, nil)
		check(b, hits, err)
		b.ResetTimer()
		for b.Loop() {
			hits, err := s.FindAsset(ctx, findBenchAsset, nil)
			check(b, hits, err)
		}
		_, used := s.assetCache.size()
		b.ReportMetric(float64(used)/(1<<20), "cache-MiB")
	})
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			fresh := NewStore(env.Client, StoreOptions{Namespace: env.Namespace})
			hits, err := fresh.FindAsset(ctx, findBenchAsset, nil)
			check(b, hits, err)
		}
	})
	b.Run("naive", func(b *testing.B) {
		for b.Loop() {
			hits, err := naiveFindAsset(ctx, s, findBenchAsset)
			check(b, hits, err)
		}
	})
}
