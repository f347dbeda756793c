// A byte-bounded cache of decoded segment bitmaps for asset lookups
// (FindAsset): decoding a segment of a million scattered IDs takes far
// longer than the whole lookup may, so the decoded form is kept, keyed by
// what makes its content immutable.

package jobs

import (
	"container/list"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// DefaultAssetCacheBytes is StoreOptions.AssetCacheBytes' default.
const DefaultAssetCacheBytes = 64 << 20

// segmentKey names the content of one segment bitmap. A segment is
// written once, with its ID count, by addSegmentScript, and never again
// within one incarnation of its campaign; a campaign deleted and created
// again under the same ID has another incarnation (Campaign.LedgerIdentity),
// so its segments are other keys. The ID count (segmentInfo.IDs, written
// in the same atomic step as the bitmap) is part of the key as a version:
// what a key names can never be answered with a bitmap of other IDs.
type segmentKey struct {
	campaign string
	identity string // Campaign.LedgerIdentity
	segment  int
	ids      int64 // segmentInfo.IDs
}

// segmentLookup answers, for one segment, whether it holds an ID and at
// which position of its sorted IDs (which fixes the ID's batch). It keeps
// whichever form is smaller: the roaring bitmap (dense IDs, a few bits
// each) or the sorted IDs (scattered IDs, where a roaring container per
// ID costs up to 160 bytes against 8).
type segmentLookup struct {
	bm    *roaring64.Bitmap // nil when ids is used
	ids   []uint64          // sorted
	bytes int64
}

func newSegmentLookup(set *IDSet) *segmentLookup {
	n := set.Len()
	if bm := set.MemoryBytes(); bm <= 8*n {
		return &segmentLookup{bm: set.bm, bytes: bm}
	}
	return &segmentLookup{ids: set.bm.ToArray(), bytes: 8 * n}
}

// rank returns the 0-based position of id among the segment's sorted
// IDs, and whether the segment holds it.
func (l *segmentLookup) rank(id int64) (int64, bool) {
	x := uint64(id)
	if l.bm != nil {
		if !l.bm.Contains(x) {
			return 0, false
		}
		return int64(l.bm.Rank(x)) - 1, true
	}
	i, ok := slices.BinarySearch(l.ids, x)
	return int64(i), ok
}

// segmentCache is a least-recently-used cache of segment lookups whose
// estimated heap stays within a byte budget. A lookup larger than the
// budget is not kept (every FindAsset decodes it again).
type segmentCache struct {
	mu     sync.Mutex
	budget int64
	used   int64
	order  *list.List // of *segmentEntry, most recently used first
	byKey  map[segmentKey]*list.Element
}

type segmentEntry struct {
	key    segmentKey
	lookup *segmentLookup
}

// entryOverhead is the cache's own cost per entry beyond the lookup:
// the map entry, the list element and the key's strings.
const entryOverhead = 200

func newSegmentCache(budget int64) *segmentCache {
	return &segmentCache{budget: budget, order: list.New(), byKey: map[segmentKey]*list.Element{}}
}

func (c *segmentCache) get(k segmentKey) *segmentLookup {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[k]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*segmentEntry).lookup
}

func (c *segmentCache) put(k segmentKey, l *segmentLookup) {
	size := l.bytes + entryOverhead + int64(len(k.campaign)+len(k.identity))
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.budget {
		return
	}
	if e, ok := c.byKey[k]; ok {
		c.remove(e) // another lookup decoded it meanwhile: keep the newer
	}
	for c.used+size > c.budget {
		c.remove(c.order.Back())
	}
	c.byKey[k] = c.order.PushFront(&segmentEntry{key: k, lookup: l})
	c.used += size
}

func (c *segmentCache) remove(e *list.Element) {
	se := e.Value.(*segmentEntry)
	c.order.Remove(e)
	delete(c.byKey, se.key)
	c.used -= se.lookup.bytes + entryOverhead + int64(len(se.key.campaign)+len(se.key.identity))
}

// size returns the entries and the bytes they are charged.
func (c *segmentCache) size() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey), c.used
}
