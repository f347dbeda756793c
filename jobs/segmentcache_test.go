package jobs

import (
	"math/rand/v2"
	"slices"
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

// TestDecodeSegment: a stored segment decodes to the same sorted IDs as
// the roaring library reads, for every container kind (array, bitmap,
// run; one bucket and many), and a damaged one is an error, never a panic
// or a wrong answer.
func TestDecodeSegment(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for _, tc := range []struct {
		name string
		add  func(s *idSetBuilder)
	}{
		{"scattered", func(s *idSetBuilder) {
			for range 20000 {
				s.add(1 + r.Int64N(1<<50))
			}
		}},
		{"consecutive runs", func(s *idSetBuilder) {
			for base := int64(1 << 40); s.rows < 200000; base += 1000 + r.Int64N(100000) {
				for i := range r.Int64N(5000) {
					s.add(base + i)
				}
			}
		}},
		{"bitmap containers", func(s *idSetBuilder) {
			for i := int64(0); i < 300000; i += 2 {
				s.add(5_000_000_000 + i)
			}
		}},
		{"mixed", func(s *idSetBuilder) {
			for i := range int64(3) {
				s.add(1 + i) // one container of a run in its bucket: no offsets
			}
			for i := int64(0); i < 70000; i += 3 {
				s.add(1<<33 + i)
			}
			for range 50000 {
				s.add(1 + r.Int64N(1<<62))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bld := newIDSetBuilder()
			tc.add(bld)
			set, _ := bld.done()
			b, err := set.marshal()
			if err != nil {
				t.Fatal(err)
			}
			want := set.bm.ToArray()
			got, err := sortedIDs(b, set.Len())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("sortedIDs: %d IDs, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
			}
			l, err := decodeSegment(b, set.Len())
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(want); i += 1 + len(want)/500 {
				if pos, ok := l.rank(int64(want[i])); !ok || pos != int64(i) {
					t.Fatalf("decodeSegment rank(%d) = %d, %v; want %d", want[i], pos, ok, i)
				}
			}
			if _, err := decodeSegment(b, set.Len()+1); err == nil {
				t.Error("a segment with one ID fewer than its info says decoded")
			}
			for _, cut := range []int{0, 7, 12, len(b) / 2, len(b) - 1} {
				if _, err := sortedIDs(b[:cut], set.Len()); err == nil {
					t.Errorf("cut at %d of %d bytes: decoded", cut, len(b))
				}
			}
		})
	}
}

func firstDiff(a, b []uint64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
