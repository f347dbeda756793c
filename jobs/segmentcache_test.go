package jobs

import (
	"math/rand/v2"
	"testing"
)

// TestSegmentCacheBudget: the cache never holds more than its budget,
// drops the least recently used entry first, refuses one larger than the
// whole budget, and keeps a key's campaign, incarnation, segment and ID
// count apart.
func TestSegmentCacheBudget(t *testing.T) {
	set := NewIDSet()
	for i := range int64(1000) {
		set.Add(1 + i*1_000_003) // scattered: kept as sorted IDs, 8 KB
	}
	l := newSegmentLookup(set)
	if l.ids == nil || l.bytes != 8000 {
		t.Fatalf("1,000 scattered IDs: bitmap %v, %d bytes; want the sorted IDs, 8000 bytes", l.bm != nil, l.bytes)
	}
	c := newSegmentCache(3 * (8000 + entryOverhead + 10))
	k := func(i int) segmentKey { return segmentKey{campaign: "c", identity: "inc", segment: i, ids: 1000} }
	for i := range 3 {
		c.put(k(i), l)
	}
	c.get(k(0)) // 1 is now the least recently used
	c.put(k(3), l)
	if n, used := c.size(); n != 3 || used > c.budget {
		t.Fatalf("%d entries, %d bytes; want 3 within %d", n, used, c.budget)
	}
	if c.get(k(1)) != nil || c.get(k(0)) == nil || c.get(k(3)) == nil {
		t.Errorf("after one eviction: want segment 1 (least recently used) gone, 0 and 3 kept")
	}
	for _, other := range []segmentKey{
		{campaign: "d", identity: "inc", segment: 0, ids: 1000},
		{campaign: "c", identity: "inc2", segment: 0, ids: 1000},
		{campaign: "c", identity: "inc", segment: 0, ids: 999},
	} {
		if c.get(other) != nil {
			t.Errorf("key %+v answered from segment 0's entry", other)
		}
	}
	big := newSegmentCache(1000)
	big.put(k(0), l)
	if n, used := big.size(); n != 0 || used != 0 {
		t.Errorf("an entry over the whole budget was kept: %d entries, %d bytes", n, used)
	}
}

// TestSegmentLookupRank: both forms give each ID its position in the
// sorted IDs, and no position to an ID the segment does not hold.
func TestSegmentLookupRank(t *testing.T) {
	for _, tc := range []struct {
		name      string
		scattered bool
	}{{"dense", false}, {"scattered", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			set := NewIDSet()
			for i := int64(0); set.Len() < 5000; i++ {
				if tc.scattered {
					set.Add(1 + r.Int64N(1<<50))
				} else if r.IntN(3) > 0 {
					set.Add(1_000_000 + i)
				}
			}
			l := newSegmentLookup(set)
			if (l.ids != nil) != tc.scattered {
				t.Fatalf("sorted IDs %v, want %v", l.ids != nil, tc.scattered)
			}
			pos := int64(0)
			set.Chunks(100, func(_ int, ids []int64) error {
				for _, id := range ids {
					if got, ok := l.rank(id); !ok || got != pos {
						t.Fatalf("rank(%d) = %d, %v; want %d", id, got, ok, pos)
					}
					if _, ok := l.rank(id + 1); ok != set.Contains(id+1) {
						t.Fatalf("rank(%d) found %v, want %v", id+1, ok, set.Contains(id+1))
					}
					pos++
				}
				return nil
			})
		})
	}
}
