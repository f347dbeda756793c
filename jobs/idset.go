package jobs

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/RoaringBitmap/roaring/v2"
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
func (s *IDSet) MemoryBytes() int64 { return memoryBytes(s.bm.Stats()) }

func memoryBytes(st roaring.Statistics) int64 {
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

// idSetBuilder collects IDs in any order into an IDSet in time linear in
// the set's size. Adding scattered IDs one by one to a roaring64 bitmap
// inserts each new 2^32-wide range into the middle of a sorted array, which
// is quadratic: 460,000 random 16-digit IDs took 40 s of CPU. The builder
// sorts a buffer and merges it into the set with the linear roaring64.Or,
// with buffers growing with the set so that each ID is copied a bounded
// number of times.
type idSetBuilder struct {
	set      *roaring64.Bitmap
	setBytes int64 // MemoryBytes of set
	buf      []uint64
	rows     int64 // IDs added, duplicates included
}

const minBuildChunk = 1 << 16

func newIDSetBuilder() *idSetBuilder {
	return &idSetBuilder{set: roaring64.New(), buf: make([]uint64, 0, minBuildChunk)}
}

// add adds id; it reports whether the buffer was merged, after which
// memoryBytes has changed.
func (b *idSetBuilder) add(id int64) bool {
	b.rows++
	b.buf = append(b.buf, uint64(id))
	if len(b.buf) < cap(b.buf) {
		return false
	}
	b.flush()
	return true
}

func (b *idSetBuilder) flush() {
	if len(b.buf) == 0 {
		return
	}
	slices.Sort(b.buf)
	b.buf = slices.Compact(b.buf)
	chunk := roaring64.New()
	chunk.AddMany(b.buf) // ascending: every range is appended
	if b.set.IsEmpty() {
		b.set = chunk
	} else {
		b.set = roaring64.Or(b.set, chunk)
	}
	// A merge costs in proportion to the set's containers: buffer half as
	// many IDs, so that merges stay linear overall for scattered IDs
	// while consecutive ones (few containers) keep a small buffer.
	st := b.set.Stats()
	b.setBytes = memoryBytes(st)
	if n := int(st.Containers / 2); n > cap(b.buf) {
		b.buf = make([]uint64, 0, n)
	} else {
		b.buf = b.buf[:0]
	}
}

// memoryBytes estimates the peak heap of the next merge: the set twice
// (old and merged) and a full buffer.
func (b *idSetBuilder) memoryBytes() int64 {
	return 2*b.setBytes + 8*int64(cap(b.buf))
}

// done merges what is buffered and returns the set and the number of
// duplicate IDs added.
func (b *idSetBuilder) done() (*IDSet, int64) {
	b.flush()
	b.buf = nil
	return &IDSet{bm: b.set}, b.rows - int64(b.set.GetCardinality())
}

// after returns up to n IDs of the set greater than id, ascending, and
// the position (0-based rank) of the first of them in the set.
func (s *IDSet) after(id int64, n int) ([]int64, int64) {
	if id < 0 {
		id = 0
	}
	rank := int64(s.bm.Rank(uint64(id)))
	if id == math.MaxInt64 {
		return nil, rank
	}
	it := s.bm.Iterator()
	it.AdvanceIfNeeded(uint64(id) + 1)
	out := make([]int64, 0, n)
	for len(out) < n && it.HasNext() {
		out = append(out, int64(it.Next()))
	}
	return out, rank
}

// rank returns the number of IDs of the set up to id.
func (s *IDSet) rank(id int64) int64 { return int64(s.bm.Rank(uint64(id))) }
