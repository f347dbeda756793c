// The snapshot of a campaign: the labels each of its assets held before
// anything was reset, so that the campaign can be undone (PDCP keeps no
// history of labels).
//
// Storage (keys.go): the snapshot of batch b is one string of uvarints,
// one per asset in the batch's ID order: 0 = the asset was not found in
// the inventory, n+1 = label set n of the batch's segment. Label sets
// repeat across an inventory, so each distinct set is stored once per
// segment in a dictionary hash ("<seg>:<n>" -> JSON array, the empty set
// included). Progress and summaries live in a small hash per campaign.
// Every key shares the campaign's hash tag and expires with the campaign.
//
// A restore campaign stores the labels it puts back in the same form:
// BatchLabels answers both.

package jobs

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/redis/go-redis/v9"
)

// TypeSnapshot is the asynq task type that takes the snapshot of one
// segment of a campaign.
const TypeSnapshot = "labelreset:snapshot"

// SnapshotTask is the payload of a TypeSnapshot task.
type SnapshotTask struct {
	Campaign    string `json:"campaign"`
	Incarnation string `json:"inc"`
	Segment     int    `json:"segment"`
}

// TaskID is the deterministic asynq task ID of the snapshot of the
// segment: enqueueing it twice conflicts instead of listing twice. The
// incarnation is part of it, as in Batch.TaskID.
func (t *SnapshotTask) TaskID() string {
	return t.Campaign + ":i" + t.Incarnation + ":snap" + strconv.Itoa(t.Segment)
}

// EncodeSnapshotTask and DecodeSnapshotTask convert the task payload.
func EncodeSnapshotTask(t *SnapshotTask) ([]byte, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(t)
}

// DecodeSnapshotTask decodes a TypeSnapshot payload.
func DecodeSnapshotTask(p []byte) (*SnapshotTask, error) {
	var t SnapshotTask
	if err := json.Unmarshal(p, &t); err != nil {
		return nil, fmt.Errorf("snapshot task payload: %w", err)
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// validate refuses a payload that names no campaign this store could
// hold: a corrupt task must not list anything.
func (t *SnapshotTask) validate() error {
	if err := ValidateCampaignID(t.Campaign); err != nil {
		return fmt.Errorf("snapshot task: %w", err)
	}
	if !validIncarnation(t.Incarnation) {
		return fmt.Errorf("snapshot task of campaign %s: incarnation %q: want 1..32 of [0-9a-z]", t.Campaign, t.Incarnation)
	}
	if t.Segment < 0 {
		return fmt.Errorf("snapshot task of campaign %s: segment %d", t.Campaign, t.Segment)
	}
	return nil
}

// LabelCount is how many assets of a campaign hold a label.
type LabelCount struct {
	Label  string `json:"label"`
	Assets int64  `json:"assets"`
}

// SnapshotInfo is the progress of a campaign's snapshot and, once it is
// complete, what it found.
type SnapshotInfo struct {
	// Enabled is false for a campaign created with --no-snapshot (it
	// cannot be undone) and for restore campaigns.
	Enabled bool `json:"enabled"`
	// Complete is true once every segment's snapshot is complete.
	Complete     bool `json:"complete"`
	Segments     int  `json:"segments"`
	SegmentsDone int  `json:"segments_done"`
	// Pages and Listed count listing requests and inventory items read so
	// far; Found counts the campaign's assets among them.
	Pages  int64 `json:"pages"`
	Listed int64 `json:"listed"`
	Found  int64 `json:"found"`
	// Over the complete segments: the campaign's assets that held labels,
	// held none, and were not in the inventory.
	WithLabels     int64 `json:"with_labels"`
	WithoutLabels  int64 `json:"without_labels"`
	NotInInventory int64 `json:"not_in_inventory"`
	// TopLabels are the most common labels of the campaign's assets
	// (at most 10, most common first).
	TopLabels  []LabelCount  `json:"top_labels,omitempty"`
	StartedAt  time.Time     `json:"started_at,omitzero"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	// ListingFailing is the most recent listing failure of an incomplete
	// segment that has not listed a page since (nil when none): the
	// snapshot keeps retrying through a PDCP outage, and this says why it
	// does not move.
	ListingFailing *ListingFailure `json:"listing_failing,omitempty"`
}

// Snapshot returns the snapshot progress of campaign c: the sum over its
// segments (the top labels are merged from each segment's top ten, which
// is exact for a campaign of one segment).
func (s *Store) Snapshot(ctx context.Context, c *Campaign) (*SnapshotInfo, error) {
	info := &SnapshotInfo{Enabled: c.Snapshot, Segments: c.Segments}
	metas, err := s.snapMetas(ctx, c)
	if err != nil {
		return nil, err
	}
	top := map[string]int64{}
	var finished time.Time
	for _, m := range metas {
		info.Pages += m.pages
		info.Listed += m.listed
		info.Found += m.found
		if !m.started.IsZero() && (info.StartedAt.IsZero() || m.started.Before(info.StartedAt)) {
			info.StartedAt = m.started
		}
		if m.done.IsZero() {
			if m.lerrs > 0 && (info.ListingFailing == nil || m.lerrat.After(info.ListingFailing.At)) {
				info.ListingFailing = &ListingFailure{Error: m.lerr, Failures: m.lerrs, At: m.lerrat}
			}
			continue
		}
		info.SegmentsDone++
		info.WithLabels += m.with
		info.WithoutLabels += m.without
		info.NotInInventory += m.notin
		for _, lc := range m.top {
			top[lc.Label] += lc.Assets
		}
		if m.done.After(finished) {
			finished = m.done
		}
	}
	info.Complete = c.Segments > 0 && info.SegmentsDone == c.Segments
	info.TopLabels = topLabels(top, snapTopN)
	switch {
	case info.Complete:
		info.FinishedAt = finished
		if !info.StartedAt.IsZero() {
			info.Elapsed = finished.Sub(info.StartedAt)
		}
	case !info.StartedAt.IsZero():
		info.Elapsed = s.now().Sub(info.StartedAt)
	}
	return info, nil
}

// snapTopN is how many labels a summary names.
const snapTopN = 10

// segSnapMeta is one segment's snapmeta fields.
type segSnapMeta struct {
	offset                     int
	pages, listed, found, sets int64
	with, without, notin       int64
	started, done              time.Time
	token                      string
	top                        []LabelCount
	lerr                       string // see snapListingFields
	lerrs                      int64
	lerrat                     time.Time
}

// snapMetaFields are the per-segment fields of the snapmeta hash, in the
// order readSnapMeta reads them.
var snapMetaFields = append([]string{"offset", "pages", "listed", "found", "sets", "with", "without", "notin",
	"started", "done", "token", "top"}, snapListingFields...)

func snapField(seg int, f string) string { return strconv.Itoa(seg) + ":" + f }

// snapMetas reads the snapmeta fields of every segment of c in one HMGET.
func (s *Store) snapMetas(ctx context.Context, c *Campaign) ([]segSnapMeta, error) {
	if c.Segments == 0 {
		return nil, nil
	}
	fields := make([]string, 0, c.Segments*len(snapMetaFields))
	for seg := 0; seg < c.Segments; seg++ {
		for _, f := range snapMetaFields {
			fields = append(fields, snapField(seg, f))
		}
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.snapMeta(c.ID), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("campaign %s: read snapshot progress: %w", c.ID, err)
	}
	out := make([]segSnapMeta, c.Segments)
	for seg := range out {
		v := vals[seg*len(snapMetaFields) : (seg+1)*len(snapMetaFields)]
		str := func(i int) string { x, _ := v[i].(string); return x }
		num := func(i int) int64 { n, _ := strconv.ParseInt(str(i), 10, 64); return n }
		ms := func(i int) time.Time {
			if n := num(i); n > 0 {
				return time.UnixMilli(n).UTC()
			}
			return time.Time{}
		}
		m := &out[seg]
		m.offset = int(num(0))
		m.pages, m.listed, m.found, m.sets = num(1), num(2), num(3), num(4)
		m.with, m.without, m.notin = num(5), num(6), num(7)
		m.started, m.done, m.token = ms(8), ms(9), str(10)
		m.lerr, m.lerrs, m.lerrat = str(12), num(13), ms(14)
		if t := str(11); t != "" {
			if err := json.Unmarshal([]byte(t), &m.top); err != nil {
				return nil, fmt.Errorf("campaign %s segment %d: corrupt snapshot top labels: %w", c.ID, seg, err)
			}
		}
	}
	return out, nil
}

// topLabels returns the n most common labels of counts, most common
// first, ties by label so that the answer is stable.
func topLabels(counts map[string]int64, n int) []LabelCount {
	out := make([]LabelCount, 0, len(counts))
	for l, k := range counts {
		if k > 0 {
			out = append(out, LabelCount{Label: l, Assets: k})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Assets != out[j].Assets {
			return out[i].Assets > out[j].Assets
		}
		return out[i].Label < out[j].Label
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// ErrSnapshotTakenOver is returned by SnapshotRun.Checkpoint when another
// run (a worker that took over the task after this one was thought dead)
// owns the segment's snapshot now: this run must stop without writing.
var ErrSnapshotTakenOver = errors.New("snapshot taken over by another run")

// SnapshotRun is one run of the snapshot of one segment, in memory, while
// a worker lists the inventory. It starts from the last checkpoint, so a
// restarted worker continues and never starts over.
//
// Its memory is the segment's sorted IDs and one set number per ID (12
// bytes an asset), plus the distinct label sets: an inventory of millions
// of assets repeats a few thousand sets, so no per-asset map or label
// slice is ever kept.
type SnapshotRun struct {
	s     *Store
	c     *Campaign
	seg   int
	token string
	info  segmentInfo

	ids  []int64  // the segment's IDs, ascending
	vals []uint32 // per position: 0 = not seen, n+1 = label set n

	sets  [][]string        // set n, sorted and unique; sets[0] is empty
	index map[string]uint32 // JSON of a set → its number
	saved int               // sets[:saved] are stored
	// byListed maps a label list as listed (unsorted, length-prefixed: see
	// listedKey) to its set number, so that the common case, a list seen
	// before, costs one map lookup instead of a sort and a JSON encoding.
	byListed map[string]uint32
	keyBuf   []byte

	dirty  []bool // per batch of the segment: changed since the last checkpoint
	offset int
	done   bool

	pages, listed, found int64
}

// BeginSnapshot starts (or continues from its checkpoint) the snapshot of
// segment seg of campaign c, as run token (random, per run): the run owns
// the segment's snapshot from now on, and an earlier run's checkpoints are
// refused.
//
// Ownership is taken before the checkpoint is read: an earlier run can
// write nothing after that, so nothing it wrote is missed.
func (s *Store) BeginSnapshot(ctx context.Context, c *Campaign, seg int, token string) (*SnapshotRun, error) {
	if seg < 0 || seg >= c.Segments {
		return nil, fmt.Errorf("campaign %s: snapshot of segment %d of %d", c.ID, seg, c.Segments)
	}
	if token == "" {
		return nil, fmt.Errorf("campaign %s segment %d: snapshot run without a token", c.ID, seg)
	}
	r := &SnapshotRun{s: s, c: c, seg: seg, token: token, index: map[string]uint32{}}
	info, err := s.segmentInfo(ctx, c.ID, seg)
	if err != nil {
		return nil, err
	}
	r.info = info
	n, err := takeSnapshotScript.Run(ctx, s.rdb, []string{s.keys.meta(c.ID), s.keys.snapMeta(c.ID)},
		c.Incarnation, snapField(seg, "token"), token, snapField(seg, "started"), s.now().UnixMilli(),
		snapField(seg, "done")).Int()
	if err != nil {
		return nil, fmt.Errorf("campaign %s segment %d: begin snapshot: %w", c.ID, seg, err)
	}
	switch n {
	case -1:
		return nil, fmt.Errorf("campaign %s segment %d: begin snapshot: %w", c.ID, seg, ErrCampaignGone)
	case 0:
		r.done = true
		return r, nil
	}
	set, err := s.segmentIDs(ctx, c, seg)
	if err != nil {
		return nil, err
	}
	r.ids = make([]int64, 0, set.Len())
	_ = set.Chunks(4096, func(_ int, ids []int64) error { r.ids = append(r.ids, ids...); return nil })
	r.vals = make([]uint32, len(r.ids))
	r.dirty = make([]bool, info.Batches)
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// takeSnapshotScript makes token the owner of a segment's snapshot unless
// it is complete. KEYS meta, snapmeta. ARGV incarnation, token field,
// token, started field, now (ms), done field. Returns 1 (owned), 0
// (complete already), -1 (campaign gone, created again or being deleted).
var takeSnapshotScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'id', 'inc', 'deleting')
if not m[1] or m[3] or (m[2] or '') ~= ARGV[1] then return -1 end
if redis.call('HEXISTS', KEYS[2], ARGV[6]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[5])
return 1
`)

// load reads the checkpoint: counters, dictionary and batch strings.
func (r *SnapshotRun) load(ctx context.Context) error {
	s, c := r.s, r.c
	metas, err := s.snapMetas(ctx, c)
	if err != nil {
		return err
	}
	m := metas[r.seg]
	r.offset, r.pages, r.listed, r.found = m.offset, m.pages, m.listed, m.found
	r.sets = [][]string{{}}
	r.index[emptySetKey] = 0
	if m.sets > 1 {
		fields := make([]string, 0, m.sets-1)
		for n := int64(1); n < m.sets; n++ {
			fields = append(fields, snapField(r.seg, strconv.FormatInt(n, 10)))
		}
		vals, err := hmgetChunked(ctx, s.rdb, s.keys.snapSets(c.ID), fields)
		if err != nil {
			return fmt.Errorf("campaign %s segment %d: read snapshot label sets: %w", c.ID, r.seg, err)
		}
		for i, v := range vals {
			str, ok := v.(string)
			var set []string
			if !ok || json.Unmarshal([]byte(str), &set) != nil {
				return fmt.Errorf("campaign %s segment %d: label set %d missing or corrupt", c.ID, r.seg, i+1)
			}
			r.index[str] = uint32(len(r.sets))
			r.sets = append(r.sets, set)
		}
	}
	r.saved = len(r.sets)
	fields := make([]string, r.info.Batches)
	for i := range fields {
		fields[i] = strconv.Itoa(r.info.FirstBatch + i)
	}
	vals, err := hmgetChunked(ctx, s.rdb, s.keys.snap(c.ID), fields)
	if err != nil {
		return fmt.Errorf("campaign %s segment %d: read snapshot: %w", c.ID, r.seg, err)
	}
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		lo, hi := r.batchRange(i)
		if err := decodeSnapValues(str, r.vals[lo:hi], uint32(len(r.sets))); err != nil {
			return fmt.Errorf("campaign %s batch %d: %w", c.ID, r.info.FirstBatch+i, err)
		}
	}
	return nil
}

// emptySetKey is the index key of set 0, the empty set.
const emptySetKey = "[]"

// batchRange is the positions of batch i of the segment in r.ids.
func (r *SnapshotRun) batchRange(i int) (lo, hi int) {
	lo = i * r.info.BatchSize
	return lo, min(lo+r.info.BatchSize, len(r.ids))
}

// Done reports whether the segment's snapshot is complete already.
func (r *SnapshotRun) Done() bool { return r.done }

// Offset is the listing offset to continue from.
func (r *SnapshotRun) Offset() int { return r.offset }

// Filter is the listing filter: the campaign's own query when it has one
// (it narrows the listing), else the whole inventory.
func (r *SnapshotRun) Filter() client.AssetFilter { return QueryFilter(r.c.Query) }

// QueryFilter turns a campaign's query (URL query form) into a listing
// filter: the parameters AssetFilter knows go to their fields, the rest to
// Extra. A query that does not parse (Validate refuses those) lists
// everything, which only widens the snapshot. offset and limit are the
// listing's own and are dropped.
func QueryFilter(query string) client.AssetFilter {
	var f client.AssetFilter
	if query == "" {
		return f
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return f
	}
	q.Del("offset")
	q.Del("limit")
	take := func(k string) string { v := q.Get(k); q.Del(k); return v }
	if v := take("labels"); v != "" {
		for _, l := range strings.Split(v, ",") {
			if l = strings.TrimSpace(l); l != "" {
				f.Labels = append(f.Labels, l)
			}
		}
	}
	if v := q.Get("not_seen_for_days"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			f.NotSeenForDays = n
			q.Del("not_seen_for_days")
		}
	}
	f.Search, f.Host, f.Domain, f.CustomFilter = take("search"), take("host"), take("domain"), take("custom_filter")
	if v := q.Get("time"); v != "" {
		f.Time = client.TimeRange(v)
		q.Del("time")
	}
	if v := q.Get("is_internal"); v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			f.IsInternal = &b
			q.Del("is_internal")
		}
	}
	if len(q) > 0 {
		f.Extra = q
	}
	return f
}

// Add keeps the labels of the page's assets that belong to the segment
// and returns how many did. An asset seen twice (pages overlap) keeps the
// labels seen last.
func (r *SnapshotRun) Add(page []client.Asset) int {
	r.pages++
	r.listed += int64(len(page))
	n := 0
	for i := range page {
		a := &page[i]
		pos, ok := slices.BinarySearch(r.ids, a.ID)
		if !ok {
			continue
		}
		n++
		v := r.intern(a.Labels) + 1
		if r.vals[pos] == 0 {
			r.found++
		}
		if r.vals[pos] != v {
			r.vals[pos] = v
			r.dirty[pos/r.info.BatchSize] = true
		}
	}
	return n
}

// intern returns the number of the label set labels (sorted, unique),
// adding it to the dictionary when it is new.
func (r *SnapshotRun) intern(labels []string) uint32 {
	if len(labels) == 0 {
		return 0
	}
	r.keyBuf = listedKey(r.keyBuf[:0], labels)
	if n, ok := r.byListed[string(r.keyBuf)]; ok {
		return n
	}
	n := r.internSorted(labels)
	if r.byListed == nil {
		r.byListed = map[string]uint32{}
	}
	// A server that lists a set's labels in ever new orders would grow
	// the map without bound; past this size it falls back to the sort.
	if len(r.byListed) < 4*len(r.sets)+1024 {
		r.byListed[string(r.keyBuf)] = n
	}
	return n
}

// listedKey appends labels, in their order, each prefixed by its length:
// two different lists never share a key, whatever bytes labels hold.
func listedKey(dst []byte, labels []string) []byte {
	for _, l := range labels {
		dst = binary.AppendUvarint(dst, uint64(len(l)))
		dst = append(dst, l...)
	}
	return dst
}

// internSorted is intern's slow path: the set's canonical (sorted,
// unique) form, looked up or added.
func (r *SnapshotRun) internSorted(labels []string) uint32 {
	set := slices.Clone(labels)
	slices.Sort(set)
	set = slices.Compact(set)
	key := setKey(set)
	if n, ok := r.index[key]; ok {
		return n
	}
	n := uint32(len(r.sets))
	r.index[key] = n
	r.sets = append(r.sets, set)
	return n
}

// setKey is the stored form of a sorted label set: a JSON array, which
// keeps any label (commas, quotes, non-ASCII) intact.
func setKey(set []string) string {
	if len(set) == 0 {
		return emptySetKey
	}
	b, _ := json.Marshal(set)
	return string(b)
}

// Checkpoint writes what Add kept since the last checkpoint and the offset
// to continue from, atomically.
func (r *SnapshotRun) Checkpoint(ctx context.Context, next int) error {
	if err := r.write(ctx, next, nil); err != nil {
		return err
	}
	r.offset = next
	return nil
}

// Complete writes the rest and marks the segment's snapshot complete,
// with its summary; then its batches may be enqueued (EnsureEnqueued).
func (r *SnapshotRun) Complete(ctx context.Context) error {
	if r.done {
		return nil
	}
	perSet := make([]int64, len(r.sets))
	var with, without, notin int64
	for _, v := range r.vals {
		switch v {
		case 0:
			notin++
		case 1:
			without++
		default:
			with++
			perSet[v-1]++
		}
	}
	labels := map[string]int64{}
	for n, k := range perSet {
		for _, l := range r.sets[n] {
			labels[l] += k
		}
	}
	top, _ := json.Marshal(topLabels(labels, snapTopN))
	extra := []any{
		snapField(r.seg, "with"), with, snapField(r.seg, "without"), without,
		snapField(r.seg, "notin"), notin, snapField(r.seg, "top"), string(top),
		snapField(r.seg, "done"), r.s.now().UnixMilli(),
	}
	if err := r.write(ctx, r.offset, extra); err != nil {
		return err
	}
	r.done = true
	return nil
}

// write is Checkpoint and Complete: the dirty batches, the new sets and
// the counters, with extra snapmeta field/value pairs, in one script
// that refuses a run that no longer owns the segment.
func (r *SnapshotRun) write(ctx context.Context, next int, extra []any) error {
	if r.done {
		return fmt.Errorf("campaign %s segment %d: snapshot is complete already", r.c.ID, r.seg)
	}
	args := []any{r.c.Incarnation, snapField(r.seg, "token"), r.token}
	nb := 0
	for i := range r.dirty {
		if r.dirty[i] {
			nb++
		}
	}
	args = append(args, nb)
	var buf []byte
	for i, d := range r.dirty {
		if !d {
			continue
		}
		lo, hi := r.batchRange(i)
		buf = encodeSnapValues(buf[:0], r.vals[lo:hi])
		args = append(args, strconv.Itoa(r.info.FirstBatch+i), string(buf))
	}
	args = append(args, len(r.sets)-r.saved)
	for n := r.saved; n < len(r.sets); n++ {
		args = append(args, snapField(r.seg, strconv.Itoa(n)), setKey(r.sets[n]))
	}
	args = append(args,
		snapField(r.seg, "offset"), next, snapField(r.seg, "pages"), r.pages,
		snapField(r.seg, "listed"), r.listed, snapField(r.seg, "found"), r.found,
		snapField(r.seg, "sets"), len(r.sets))
	args = append(args, extra...)
	ks := []string{r.s.keys.meta(r.c.ID), r.s.keys.snap(r.c.ID), r.s.keys.snapSets(r.c.ID), r.s.keys.snapMeta(r.c.ID)}
	n, err := snapCheckpointScript.Run(ctx, r.s.rdb, ks, args...).Int()
	if err != nil {
		return fmt.Errorf("campaign %s segment %d: snapshot checkpoint: %w", r.c.ID, r.seg, err)
	}
	switch n {
	case -1:
		return fmt.Errorf("campaign %s segment %d: %w", r.c.ID, r.seg, ErrSnapshotTakenOver)
	case -2:
		return fmt.Errorf("campaign %s segment %d: deleted or created again: %w: %w", r.c.ID, r.seg, ErrSnapshotTakenOver, ErrCampaignGone)
	}
	clear(r.dirty)
	r.saved = len(r.sets)
	return nil
}

// snapCheckpointScript writes a snapshot checkpoint if the run still owns
// the segment and the campaign is still its incarnation and not being
// deleted. KEYS meta, snap, snapsets, snapmeta. ARGV incarnation, token
// field, token, nb, nb (batch, string) pairs, ns, ns (set field, JSON)
// pairs, then snapmeta field/value pairs. Returns 1, -1 (taken over) or
// -2 (campaign gone).
var snapCheckpointScript = redis.NewScript(luaChunked + snapWriteLua + `
local m = redis.call('HMGET', KEYS[1], 'id', 'inc', 'deleting')
if not m[1] or m[3] or (m[2] or '') ~= ARGV[1] then return -2 end
if redis.call('HGET', KEYS[4], ARGV[2]) ~= ARGV[3] then return -1 end
write_snap(4)
return 1
`)

// storeSetsScript is snapCheckpointScript for storeSegmentSets: it
// takes the segment (token field ARGV[2] := ARGV[3]) and writes the
// whole of it in one step, unless the segment is complete already
// (done field ARGV[4] set): a complete segment's batch strings and
// dictionary may be in use by enqueued batches (BatchLabels), so they
// are never rewritten, and a second writer's numbering could mix with
// the first's. Taking the segment in the script also means that nothing
// is written for a campaign deleted or created again (no snapmeta key
// recreated). ARGV from 5 on as snapCheckpointScript's from 4. Returns
// 1, 0 (complete already) or -2 (campaign gone).
var storeSetsScript = redis.NewScript(luaChunked + snapWriteLua + `
local m = redis.call('HMGET', KEYS[1], 'id', 'inc', 'deleting')
if not m[1] or m[3] or (m[2] or '') ~= ARGV[1] then return -2 end
if redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then return 0 end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
write_snap(5)
return 1
`)

// snapWriteLua defines write_snap(i), the write of a checkpoint whose
// arguments start at ARGV[i]: nb, nb (batch, string) pairs, ns, ns (set
// field, JSON) pairs, then snapmeta field/value pairs. KEYS as
// snapCheckpointScript's.
//
// Dictionary entries (snapsets) are immutable once written within an
// incarnation: a run writes only the sets it added after loading the
// checkpoint (SnapshotRun.saved), a run that lost the segment writes
// nothing (token check), and storeSetsScript writes only a segment that
// is not complete. So once a segment is complete (its done field set),
// its batch strings and dictionary never change, which BatchLabels
// relies on.
const snapWriteLua = `
local function write_snap(i)
  local nb = tonumber(ARGV[i]); i = i + 1
  if nb > 0 then
    local t = {}
    for j = i, i + 2*nb - 1 do t[#t+1] = ARGV[j] end
    chunked('HSET', KEYS[2], t)
  end
  i = i + 2*nb
  local ns = tonumber(ARGV[i]); i = i + 1
  if ns > 0 then
    local t = {}
    for j = i, i + 2*ns - 1 do t[#t+1] = ARGV[j] end
    chunked('HSET', KEYS[3], t)
  end
  i = i + 2*ns
  local t = {}
  for j = i, #ARGV do t[#t+1] = ARGV[j] end
  chunked('HSET', KEYS[4], t)
end
`

// encodeSnapValues appends vals as uvarints.
func encodeSnapValues(dst []byte, vals []uint32) []byte {
	for _, v := range vals {
		dst = binary.AppendUvarint(dst, uint64(v))
	}
	return dst
}

// decodeSnapValues decodes exactly len(out) uvarints, each at most sets
// (n+1 for set n < sets).
func decodeSnapValues(s string, out []uint32, sets uint32) error {
	b := []byte(s)
	for i := range out {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > uint64(sets) {
			return fmt.Errorf("corrupt snapshot string at asset %d of %d", i, len(out))
		}
		out[i] = uint32(v)
		b = b[n:]
	}
	if len(b) != 0 {
		return fmt.Errorf("corrupt snapshot string: %d bytes beyond its %d assets", len(b), len(out))
	}
	return nil
}

// hmgetChunked is HMGET over many fields, in slices.
func hmgetChunked(ctx context.Context, rdb redis.UniversalClient, key string, fields []string) ([]any, error) {
	out := make([]any, 0, len(fields))
	for len(fields) > 0 {
		n := min(len(fields), 1000)
		v, err := rdb.HMGet(ctx, key, fields[:n]...).Result()
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
		fields = fields[n:]
	}
	return out, nil
}

// BatchLabels returns, for the IDs of batch b of campaign c (in the
// batch's order), the labels the snapshot found (listed[i] false: the
// asset was not in the inventory), or for a restore campaign the labels
// to put back (empty: nothing to restore). ready is false while the
// snapshot of the batch's segment is not complete.
//
// ids may be any subset of the batch (a re-drive enqueues only some of
// its IDs): each ID's position in the batch is its rank in the segment.
func (s *Store) BatchLabels(ctx context.Context, c *Campaign, batch int, ids []int64) (labels [][]string, listed []bool, ready bool, err error) {
	seg, info, err := s.batchSegment(ctx, c, batch)
	if err != nil {
		return nil, nil, false, err
	}
	set, err := s.segmentIDs(ctx, c, seg)
	if err != nil {
		return nil, nil, false, err
	}
	// One transaction with the incarnation fields: the keys may hold a
	// campaign created again under c's ID since c was read.
	var inc, m *redis.SliceCmd
	var get *redis.StringCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		inc = p.HMGet(ctx, s.keys.meta(c.ID), IncarnationFields...)
		m = p.HMGet(ctx, s.keys.snapMeta(c.ID), snapField(seg, "done"), snapField(seg, "sets"))
		get = p.HGet(ctx, s.keys.snap(c.ID), strconv.Itoa(batch))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, false, fmt.Errorf("campaign %s batch %d: read snapshot: %w", c.ID, batch, err)
	}
	if !c.SameIncarnation(inc.Val()) {
		return nil, nil, false, fmt.Errorf("campaign %s batch %d: deleted or created again since it was read: %w", c.ID, batch, ErrCampaignGone)
	}
	if m.Val()[0] == nil {
		return nil, nil, false, nil
	}
	setsStr, _ := m.Val()[1].(string)
	sets, _ := strconv.ParseUint(setsStr, 10, 32)
	idx := batch - info.FirstBatch
	lo := int64(idx) * int64(info.BatchSize)
	size := min(int64(info.BatchSize), set.Len()-lo)
	vals := make([]uint32, size)
	switch str, err := get.Result(); {
	case errors.Is(err, redis.Nil):
		// No asset of the batch was found: its string was never written.
	case err != nil:
		return nil, nil, false, fmt.Errorf("campaign %s batch %d: read snapshot: %w", c.ID, batch, err)
	default:
		if err := decodeSnapValues(str, vals, uint32(sets)); err != nil {
			return nil, nil, false, fmt.Errorf("campaign %s batch %d: %w", c.ID, batch, err)
		}
	}
	labels, listed = make([][]string, len(ids)), make([]bool, len(ids))
	need := map[uint32][]int{}
	for i, id := range ids {
		if id < 0 || !set.bm.Contains(uint64(id)) {
			return nil, nil, false, fmt.Errorf("campaign %s batch %d: asset %d is not in the batch", c.ID, batch, id)
		}
		pos := int64(set.bm.Rank(uint64(id))) - 1 - lo
		if pos < 0 || pos >= size {
			return nil, nil, false, fmt.Errorf("campaign %s batch %d: asset %d is not in the batch", c.ID, batch, id)
		}
		v := vals[pos]
		if v == 0 {
			continue
		}
		listed[i] = true
		if v == 1 {
			labels[i] = []string{}
			continue
		}
		need[v-1] = append(need[v-1], i)
	}
	if len(need) == 0 {
		return labels, listed, true, nil
	}
	nums := make([]uint32, 0, len(need))
	fields := make([]string, 0, len(need))
	for n := range need {
		nums = append(nums, n)
		fields = append(fields, snapField(seg, strconv.FormatUint(uint64(n), 10)))
	}
	// The segment is complete, so its dictionary no longer changes in
	// this incarnation (see snapWriteLua): the entries read now are those
	// the batch string above numbers, provided the campaign is still the
	// same incarnation, which the same transaction checks.
	var parts []*redis.SliceCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		inc = p.HMGet(ctx, s.keys.meta(c.ID), IncarnationFields...)
		for f := fields; len(f) > 0; {
			n := min(len(f), 1000)
			parts = append(parts, p.HMGet(ctx, s.keys.snapSets(c.ID), f[:n]...))
			f = f[n:]
		}
		return nil
	})
	if err != nil {
		return nil, nil, false, fmt.Errorf("campaign %s batch %d: read label sets: %w", c.ID, batch, err)
	}
	if !c.SameIncarnation(inc.Val()) {
		return nil, nil, false, fmt.Errorf("campaign %s batch %d: deleted or created again since it was read: %w", c.ID, batch, ErrCampaignGone)
	}
	got := make([]any, 0, len(fields))
	for _, p := range parts {
		got = append(got, p.Val()...)
	}
	for j, v := range got {
		str, ok := v.(string)
		var ls []string
		if !ok || json.Unmarshal([]byte(str), &ls) != nil {
			return nil, nil, false, fmt.Errorf("campaign %s segment %d: label set %d missing or corrupt", c.ID, seg, nums[j])
		}
		for _, i := range need[nums[j]] {
			labels[i] = ls // shared between the assets of a set: callers only read it
		}
	}
	return labels, listed, true, nil
}

// batchSegment finds the segment holding batch b of c, from the segment
// infos in the meta hash (one HMGET).
func (s *Store) batchSegment(ctx context.Context, c *Campaign, b int) (int, segmentInfo, error) {
	var info segmentInfo
	if c.Segments == 0 {
		return 0, info, fmt.Errorf("campaign %s has no batch %d", c.ID, b)
	}
	fields := make([]string, c.Segments)
	for seg := range fields {
		fields[seg] = "s" + strconv.Itoa(seg)
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.meta(c.ID), fields...).Result()
	if err != nil {
		return 0, info, fmt.Errorf("campaign %s batch %d: %w", c.ID, b, err)
	}
	for seg, v := range vals {
		str, _ := v.(string)
		if err := json.Unmarshal([]byte(str), &info); err != nil {
			return 0, info, fmt.Errorf("campaign %s segment %d: corrupt info: %w", c.ID, seg, err)
		}
		if b >= info.FirstBatch && b < info.FirstBatch+info.Batches {
			return seg, info, nil
		}
	}
	return 0, info, fmt.Errorf("campaign %s has no batch %d", c.ID, b)
}

// AssetState is one asset of a campaign as EachAsset sees it.
type AssetState struct {
	Batch  int
	Record Record // Outcome "pending" while it has none
	// Listed and Labels are BatchLabels' answer for the asset: what the
	// snapshot found, or for a restore campaign the labels to put back.
	Listed bool
	Labels []string
	// NoSnapshot is true for an asset of a segment whose snapshot is not
	// complete (partial walks only, see eachAsset): no batch of such a
	// segment was ever enqueued, so PDCP never got a call for it.
	NoSnapshot bool
}

// EachAsset calls fn for every asset of campaign c, batch by batch in ID
// order, with its ledger record and its snapshot. It fails with
// ErrNoSnapshot when a segment's snapshot is not complete (or was never
// taken) and c is not a restore campaign.
func (s *Store) EachAsset(ctx context.Context, c *Campaign, fn func(AssetState) error) error {
	return s.eachAsset(ctx, c, false, fn)
}

// eachAsset is EachAsset; with partial, the assets of a segment whose
// snapshot is not complete are passed with NoSnapshot (and not Listed)
// instead of failing: undo and export work on the complete segments.
func (s *Store) eachAsset(ctx context.Context, c *Campaign, partial bool, fn func(AssetState) error) error {
	if !c.Snapshot && c.Mode != ModeRestore {
		return fmt.Errorf("campaign %s: %w", c.ID, ErrNoSnapshot)
	}
	return s.forEachBatch(ctx, c, func(batch int, ids []int64) error {
		labels, listed, ready, err := s.BatchLabels(ctx, c, batch, ids)
		if err != nil {
			return err
		}
		if !ready && c.Mode != ModeRestore && !partial {
			return fmt.Errorf("campaign %s batch %d: snapshot not complete: %w", c.ID, batch, ErrNoSnapshot)
		}
		recs, err := s.ledger.Load(ctx, c.ID, batch, ids)
		if err != nil {
			return err
		}
		for i := range ids {
			st := AssetState{Batch: batch, Record: recs[i]}
			if !st.Record.Terminal() {
				st.Record = Record{AssetID: ids[i], Outcome: OutcomePending, Attempts: recs[i].Attempts, Status: recs[i].Status}
			}
			if ready {
				st.Listed, st.Labels = listed[i], labels[i]
			} else {
				st.NoSnapshot = c.Mode != ModeRestore
			}
			if err := fn(st); err != nil {
				return err
			}
		}
		return nil
	})
}

// storeSegmentSets writes the labels of segment seg of campaign c as a
// complete snapshot, unless the segment is complete already (then it
// changes nothing and returns nil: see storeSetsScript): dict[n] is set n (dict[0] empty), batches maps a
// batch number to its assets' values in the batch's ID order (0 = none,
// n+1 = set n). A restore campaign stores the labels it puts back so.
func (s *Store) storeSegmentSets(ctx context.Context, c *Campaign, seg int, dict [][]string, batches map[int][]uint64) error {
	if len(dict) == 0 || len(dict[0]) != 0 {
		return fmt.Errorf("campaign %s segment %d: label set 0 must be the empty set", c.ID, seg)
	}
	info, err := s.segmentInfo(ctx, c.ID, seg)
	if err != nil {
		return err
	}
	r := &SnapshotRun{s: s, c: c, seg: seg, token: "store:" + NewIncarnation(), info: info}
	args := []any{c.Incarnation, snapField(seg, "token"), r.token, snapField(seg, "done")}
	var with, without, notin int64
	perSet := make([]int64, len(dict))
	keys := make([]int, 0, len(batches))
	for b := range batches {
		if b < info.FirstBatch || b >= info.FirstBatch+info.Batches {
			return fmt.Errorf("campaign %s: batch %d is not in segment %d", c.ID, b, seg)
		}
		keys = append(keys, b)
	}
	sort.Ints(keys)
	args = append(args, len(keys))
	var buf []byte
	for _, b := range keys {
		if want := min(int64(info.BatchSize), info.IDs-int64(b-info.FirstBatch)*int64(info.BatchSize)); int64(len(batches[b])) != want {
			return fmt.Errorf("campaign %s batch %d: %d values for its %d assets", c.ID, b, len(batches[b]), want)
		}
		buf = buf[:0]
		for _, v := range batches[b] {
			if v > uint64(len(dict)) {
				return fmt.Errorf("campaign %s batch %d: value %d names no label set of %d", c.ID, b, v, len(dict))
			}
			switch {
			case v == 0:
				notin++
			case len(dict[v-1]) == 0:
				without++
			default:
				with++
				perSet[v-1]++
			}
			buf = binary.AppendUvarint(buf, v)
		}
		args = append(args, strconv.Itoa(b), string(buf))
	}
	args = append(args, len(dict)-1)
	labels := map[string]int64{}
	for n := 1; n < len(dict); n++ {
		set := slices.Clone(dict[n])
		slices.Sort(set)
		set = slices.Compact(set)
		args = append(args, snapField(seg, strconv.Itoa(n)), setKey(set))
		for _, l := range set {
			labels[l] += perSet[n]
		}
	}
	top, _ := json.Marshal(topLabels(labels, snapTopN))
	now := s.now().UnixMilli()
	args = append(args, snapField(seg, "offset"), 0, snapField(seg, "sets"), len(dict),
		snapField(seg, "started"), now, snapField(seg, "with"), with, snapField(seg, "without"), without,
		snapField(seg, "notin"), notin, snapField(seg, "top"), string(top), snapField(seg, "done"), now)
	ks := []string{s.keys.meta(c.ID), s.keys.snap(c.ID), s.keys.snapSets(c.ID), s.keys.snapMeta(c.ID)}
	n, err := storeSetsScript.Run(ctx, s.rdb, ks, args...).Int()
	if err != nil {
		return fmt.Errorf("campaign %s segment %d: store label sets: %w", c.ID, seg, err)
	}
	if n == -2 {
		return fmt.Errorf("campaign %s segment %d: store label sets: %w", c.ID, seg, ErrCampaignGone)
	}
	// n == 0: complete already (an earlier or concurrent writer): its
	// data stands, it is what the segment's batches read.
	return nil
}

// SnapshotHeader is the first line of an exported snapshot.
type SnapshotHeader struct {
	Format   string    `json:"format"` // SnapshotFormat
	Campaign string    `json:"campaign"`
	Mode     Mode      `json:"mode"`
	Labels   []string  `json:"labels,omitempty"` // the labels a remove campaign removes
	TeamID   string    `json:"team_id,omitempty"`
	Server   string    `json:"api_server,omitempty"`
	TakenAt  time.Time `json:"taken_at"`
	Assets   int64     `json:"assets"`
	// IncompleteSegments counts the campaign's segments (appends) whose
	// snapshot never completed when it was exported: their assets are
	// not in the file. No batch of such a segment ever called PDCP (its
	// batches wait for its snapshot), so nothing of them needs restoring.
	// Absent (0) in a file of a complete snapshot.
	IncompleteSegments int `json:"incomplete_segments,omitempty"`
}

// SnapshotFormat names the export format in its header.
const SnapshotFormat = "labelreset-snapshot/1"

// SnapshotLine is one asset of an exported snapshot.
type SnapshotLine struct {
	AssetID int64    `json:"asset_id"`
	Labels  []string `json:"labels"`
	// Reset says whether the campaign may have called PDCP for the asset
	// (mayHaveBeenCalled on its final outcome) when the file was written:
	// false means PDCP changed nothing of it, so an undo leaves it alone.
	// nil (absent) when unknown: the asset had no final outcome yet (a
	// file written when the snapshot completed, before any call), or a
	// file written by a version without the field.
	Reset *bool `json:"reset,omitempty"`
}
