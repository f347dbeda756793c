package jobs

import (
	"fmt"
	"strconv"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// IDSet is a compressed set of asset IDs. Asset IDs are allocated in
// ascending runs, so a roaring bitmap keeps millions of them in a few bytes
// each (10M consecutive IDs take about 1.3 MB), which is what keeps submit's
// de-duplication memory bounded without a per-ID Redis round trip.
type IDSet struct{ bm *roaring64.Bitmap }

// NewIDSet returns an empty set.
func NewIDSet() *IDSet { return &IDSet{bm: roaring64.New()} }

// Add inserts id and reports whether it was new.
func (s *IDSet) Add(id int64) bool { return s.bm.CheckedAdd(uint64(id)) }

// Contains reports whether id is in the set.
func (s *IDSet) Contains(id int64) bool { return s.bm.Contains(uint64(id)) }

// Len returns the number of IDs.
func (s *IDSet) Len() int64 { return int64(s.bm.GetCardinality()) }

// MemoryBytes estimates the heap the set takes. A roaring bitmap costs
// little per ID when IDs are dense, but every 65,536-wide range that holds
// an ID has its own container, and every 2^32-wide range its own inner
// bitmap: measured, a container of one sparse ID costs 53 to 158 bytes
// (158 when each ID is in its own 2^32 range). The estimate charges the
// worst case, so that a budget checked with it holds for any input.
func (s *IDSet) MemoryBytes() int64 {
	st := s.bm.Stats()
	return int64(st.Containers)*containerOverhead + 2*int64(st.ArrayContainerBytes) +
		int64(st.BitmapContainerBytes) + 2*int64(st.RunContainerBytes)
}

// containerOverhead is the measured worst-case heap of one container
// beyond its values (see MemoryBytes).
const containerOverhead = 160

// Minus returns the IDs of s that are not in o.
func (s *IDSet) Minus(o *IDSet) *IDSet {
	c := s.bm.Clone()
	c.AndNot(o.bm)
	return &IDSet{bm: c}
}

// Union adds every ID of o to s.
func (s *IDSet) Union(o *IDSet) { s.bm.Or(o.bm) }

// Equal reports whether both sets hold the same IDs.
func (s *IDSet) Equal(o *IDSet) bool { return s.bm.Equals(o.bm) }

// Chunks calls fn with consecutive ascending slices of at most size IDs; the
// slice is reused between calls. It stops at the first error.
func (s *IDSet) Chunks(size int, fn func(i int, ids []int64) error) error {
	it := s.bm.ManyIterator()
	buf := make([]uint64, size)
	ids := make([]int64, size)
	for i := 0; ; i++ {
		n := 0
		for n < size {
			m := it.NextMany(buf[n:])
			if m == 0 {
				break
			}
			n += m
		}
		if n == 0 {
			return nil
		}
		for j := 0; j < n; j++ {
			ids[j] = int64(buf[j])
		}
		if err := fn(i, ids[:n]); err != nil {
			return err
		}
		if n < size {
			return nil
		}
	}
}

// Fingerprint identifies the set's content independently of input order:
// the count and a sum of mixed IDs.
func (s *IDSet) Fingerprint() string {
	var sum uint64
	it := s.bm.ManyIterator()
	buf := make([]uint64, 4096)
	for n := it.NextMany(buf); n != 0; n = it.NextMany(buf) {
		for _, v := range buf[:n] {
			sum += mix64(v)
		}
	}
	return strconv.FormatInt(s.Len(), 10) + "-" + strconv.FormatUint(sum, 16)
}

// mix64 is SplitMix64's finaliser: a cheap, well-distributed hash.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (s *IDSet) marshal() ([]byte, error) {
	s.bm.RunOptimize()
	return s.bm.ToBytes()
}

func unmarshalIDSet(b []byte) (*IDSet, error) {
	bm := roaring64.New()
	if err := bm.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("decode ID set: %w", err)
	}
	return &IDSet{bm: bm}, nil
}
