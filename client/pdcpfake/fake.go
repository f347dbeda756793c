package pdcpfake

import (
	"math"
	"math/bits"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reply is one scripted answer to a label call.
type Reply struct {
	// Status defaults to 200. A 2xx also applies the operation to a seeded
	// asset, so state matches what the client was told.
	Status int
	// Body is sent verbatim; empty means the documented body for Status.
	Body string
	// Header is added to the response.
	Header map[string]string
	// Reset closes the connection without answering.
	Reset bool
	// Truncate sends a Content-Length larger than the body, then closes.
	Truncate bool
	// Delay is waited before answering (or until the client gives up).
	Delay time.Duration
}

// Options configure a Fake. Zero values mean the documented defaults; all
// fractions are in [0,1].
type Options struct {
	// APIKey is the required X-Api-Key value. Default "test-key".
	APIKey string
	// FirstID and Assets seed asset IDs FirstID..FirstID+Assets-1.
	// FirstID defaults to 1.
	FirstID int64
	Assets  int
	// AssetIDs are additional seeded IDs.
	AssetIDs []int64
	// LabelsPerAsset is the number of seeded labels per asset, drawn from
	// Vocabulary. Default 3; negative means none; at most len(Vocabulary).
	LabelsPerAsset int
	// Labels is the seeding mode: LabelsDefault (""), LabelsVaried or
	// LabelsBench; the last two ignore LabelsPerAsset.
	Labels string
	// Seed drives every per-asset and per-request random decision.
	Seed uint64
	// InvalidFraction of seeded assets answer 400 INVALID_ID.
	InvalidFraction float64
	// FailFraction of seeded assets answer FailStatus with an ErrorResponse,
	// FailTimes times each (0 means 1), then succeed; FailTimes < 0 means
	// they always fail.
	FailFraction float64
	FailTimes    int
	// FailStatus defaults to 500.
	FailStatus int
	// ThrottleFraction of label calls (decided per asset and attempt)
	// answer 429.
	ThrottleFraction float64
	// RetryAfter is the Retry-After header of every 429 ("" = none).
	RetryAfter string
	// RateLimit is a server-wide token bucket in requests/s on label calls
	// (0 = off); RateBurst defaults to max(1, RateLimit/10).
	RateLimit float64
	RateBurst int
	// Latency is added to every label call, plus a uniform 0..LatencyJitter;
	// SpikeFraction of calls take SpikeLatency instead.
	Latency, LatencyJitter time.Duration
	SpikeFraction          float64
	SpikeLatency           time.Duration
	// ResetFraction of label calls close the connection without answering.
	ResetFraction float64
	// TruncateFraction of label calls answer 500 with a truncated body.
	TruncateFraction float64
	// UnauthorizedAfter: after this many label calls every call answers
	// 401 (0 = off).
	UnauthorizedAfter int
	// Script holds per-asset replies, consumed in order before normal
	// behaviour (after the API key check).
	Script map[int64][]Reply
	// ListLimitCap silently caps the limit of a listing to this many rows
	// (0 = the fake's own cap of 1000), as a server may: paging must
	// advance by the rows returned, not by the limit asked.
	ListLimitCap int
	// ListFailFraction of listing requests (decided per request from Seed
	// and a counter of listing requests) answer 500, or 429 with
	// Retry-After (RetryAfter, default "1") when ListThrottle is set.
	ListFailFraction float64
	ListThrottle     bool
	// EditAfterReset is the fraction of successful resets (DELETE, or
	// PATCH update_type=delete) after which the fake adds EditLabel to the
	// asset, as if a person labelled it again right after.
	EditAfterReset float64
	// EditLabel defaults to "edited-later".
	EditLabel string
	// NoLog disables the per-call log (Calls, Log) for benchmarks.
	NoLog bool

	// The bulk call, PATCH /v1/asset/labels. Its change is applied at
	// once unless BulkAsyncAbove or BulkLateDelay defers it; a deferred
	// change is applied by a goroutine of the Fake to the assets that
	// match when it runs, and Close drops the changes still waiting.
	//
	// BulkAsyncAbove: a bulk call matching more assets than this answers
	// "async": true and applies its change after BulkAsyncDelay (0 =
	// never async).
	BulkAsyncAbove int
	// BulkAsyncDelay is when an async change is applied. Default
	// DefaultBulkAsyncDelay (2s).
	BulkAsyncDelay time.Duration
	// BulkSkipFraction of the matching assets are left unchanged by every
	// bulk call (chosen by hash of Seed and asset ID, see BulkSkipped),
	// while asset_count still counts them: a call that "applies to only
	// part".
	BulkSkipFraction float64
	// BulkLateDelay: a bulk call that is not async answers at once but
	// applies its change only after this delay, "late" (0 = at once).
	BulkLateDelay time.Duration
	// BulkFailStatus is answered to every bulk call, which then changes
	// nothing (0 = off). A 2xx is answered with a body that is no
	// AssetCountResponse; 429 carries RetryAfter.
	BulkFailStatus int
}

const defaultEditLabel = "edited-later"

// Vocabulary is the set seeded labels are drawn from.
var Vocabulary = []string{"env:prod", "env:staging", "team:a", "team:b", "critical", "stale", "pci", "internal"}

// Call is one logged label call.
type Call struct {
	// Time is when the request arrived (its handler started), as a rate
	// limit in front of PDCP would count it; the answer may leave later
	// (Options.Latency, a scripted delay, a loaded host).
	Time    time.Time `json:"time"`
	Method  string    `json:"method"`
	AssetID int64     `json:"asset_id"`
	// Status is the answered status, 0 for a reset connection.
	Status int    `json:"status"`
	Team   string `json:"team,omitempty"`
	// Bulk marks a bulk call (PATCH /v1/asset/labels, AssetID 0), with
	// the update_type it was sent (empty: none, which means append) and
	// the asset_count and async it was answered.
	Bulk       bool   `json:"bulk,omitempty"`
	UpdateType string `json:"update_type,omitempty"`
	AssetCount int64  `json:"asset_count,omitempty"`
	Async      bool   `json:"async,omitempty"`
}

// Stats are the Fake's counters since it started.
type Stats struct {
	// Requests counts every API request; /_fake/ admin requests are not
	// counted anywhere in Stats.
	Requests int64            `json:"requests"`
	ByStatus map[int]int64    `json:"by_status"`
	ByMethod map[string]int64 `json:"by_method"`
	// LabelCalls counts requests to /v1/asset/{id}/labels with a valid key.
	LabelCalls int64 `json:"label_calls"`
	ListCalls  int64 `json:"list_calls"`
	// BulkCalls counts bulk calls with a valid key; BulkPending the
	// bulk changes answered but not yet applied (async or late).
	BulkCalls    int64 `json:"bulk_calls"`
	BulkPending  int64 `json:"bulk_pending"`
	Unauthorized int64 `json:"unauthorized"`
	Throttled    int64 `json:"throttled"`
	Resets       int64 `json:"resets"`
	Truncated    int64 `json:"truncated"`
	// InFlight and MaxInFlight count concurrent API requests.
	InFlight    int64 `json:"in_flight"`
	MaxInFlight int64 `json:"max_in_flight"`
}

// Asset kinds returned by Kind.
const (
	KindOK       = "ok"
	KindNotFound = "not_found"
	KindInvalid  = "invalid"
	KindFlaky    = "flaky"
	KindFailing  = "failing"
)

// asset is the mutable state of one seeded asset, guarded by its shard lock.
type asset struct {
	mask     uint64   // bit i = the Fake's vocab.names[i]
	extra    []string // labels outside Vocabulary, in insertion order
	attempts uint32   // label calls so far
	fails    uint32   // failure replies given
	lastSeen uint16   // days since last seen
	created  uint16   // days since created
	internal bool
}

const shards = 256

type shard struct {
	sync.Mutex
	_ [56]byte // keep shards on separate cache lines
}

// Fake is the fake PDCP API; it is an http.Handler.
type Fake struct {
	opts atomic.Pointer[Options]

	first int64
	vocab *vocab           // what asset masks index; fixed by Options.Labels at New
	epoch time.Time        // "now" of the seeded created/last-seen ages
	dense []asset          // IDs first..first+len-1
	extra map[int64]*asset // further seeded IDs; read-only map after New
	order []int64          // all seeded IDs, ascending (listing order)
	locks [shards]shard

	sortOnce                           sync.Once
	byCreated, byCreatedDesc, byIDDesc []int64 // listing orders, built on first use

	miscMu         sync.Mutex // guards scriptPos and unseenAttempts
	scriptPos      map[int64]int
	unseenAttempts map[int64]uint64

	rateMu     sync.Mutex
	tokens     float64
	lastRefill time.Time

	logMu sync.Mutex
	log   []Call

	// The goroutines applying deferred bulk changes (later, Close).
	bulkMu      sync.Mutex // guards closed and bulkWG.Add
	closed      bool
	stop        chan struct{}
	bulkWG      sync.WaitGroup
	bulkPending atomic.Int64

	requests, labelCalls, listCalls, bulkCalls atomic.Int64
	unauthorized, throttled, resets, truncated atomic.Int64
	inFlight, maxInFlight                      atomic.Int64
	byStatus                                   [600]atomic.Int64
	byMethod                                   [len(methods) + 1]atomic.Int64
}

var methods = [...]string{"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"}

// New returns a Fake seeded from opts.
func New(opts Options) *Fake {
	o := normalize(opts)
	f := &Fake{stop: make(chan struct{}), first: o.FirstID, extra: map[int64]*asset{}, scriptPos: map[int64]int{}, unseenAttempts: map[int64]uint64{}, epoch: time.Now().UTC().Truncate(time.Second), vocab: vocabFor(o.Labels)}
	if o.Assets > 0 {
		f.dense = make([]asset, o.Assets)
		for i := range f.dense {
			f.seed(&f.dense[i], o.FirstID+int64(i), o)
		}
	}
	var extraIDs []int64
	for _, id := range o.AssetIDs {
		if f.lookup(id) != nil {
			continue
		}
		a := &asset{}
		f.seed(a, id, o)
		f.extra[id] = a
		extraIDs = append(extraIDs, id)
	}
	f.order = make([]int64, 0, len(f.dense)+len(extraIDs))
	for i := range f.dense {
		f.order = append(f.order, f.first+int64(i))
	}
	f.order = append(f.order, extraIDs...)
	slices.Sort(f.order)
	if !o.NoLog {
		f.log = make([]Call, 0, min(max(2*len(f.order), 1024), 1<<18))
	}
	f.tokens = float64(o.RateBurst)
	f.lastRefill = time.Now()
	f.opts.Store(&o)
	return f
}

func normalize(o Options) Options {
	if o.BulkAsyncDelay <= 0 {
		o.BulkAsyncDelay = DefaultBulkAsyncDelay
	}
	if o.APIKey == "" {
		o.APIKey = "test-key"
	}
	if o.FirstID == 0 {
		o.FirstID = 1
	}
	switch {
	case o.LabelsPerAsset == 0:
		o.LabelsPerAsset = 3
	case o.LabelsPerAsset < 0:
		o.LabelsPerAsset = 0
	}
	o.LabelsPerAsset = min(o.LabelsPerAsset, len(Vocabulary))
	if o.EditLabel == "" {
		o.EditLabel = defaultEditLabel
	}
	if o.FailStatus == 0 {
		o.FailStatus = 500
	}
	if o.FailTimes == 0 {
		o.FailTimes = 1
	}
	if o.RateBurst <= 0 {
		o.RateBurst = max(1, int(o.RateLimit/10))
	}
	o.AssetIDs = slices.Clone(o.AssetIDs)
	if o.Script != nil {
		s := make(map[int64][]Reply, len(o.Script))
		for k, v := range o.Script {
			s[k] = slices.Clone(v)
		}
		o.Script = s
	}
	return o
}

// seed initialises the deterministic state of asset id.
func (f *Fake) seed(a *asset, id int64, o Options) {
	f.seedLabels(a, id, o)
	a.lastSeen = uint16(hash(o.Seed, id, 0, saltSeen) % 121)
	a.created = uint16(hash(o.Seed, id, 0, saltCreated) % 400)
	a.internal = hash(o.Seed, id, 0, saltInternal)%4 == 0
}

func popcount(m uint64) int { return bits.OnesCount64(m) }

// lookup returns the state of a seeded asset, or nil.
func (f *Fake) lookup(id int64) *asset {
	if i := id - f.first; i >= 0 && i < int64(len(f.dense)) {
		return &f.dense[i]
	}
	return f.extra[id]
}

func (f *Fake) lock(id int64) *shard { return &f.locks[uint64(id)%shards] }

// Salts separate the independent random decisions.
const (
	saltLabels uint64 = iota + 1
	saltSeen
	saltCreated
	saltInternal
	saltInvalid
	saltFail
	saltThrottle
	saltReset
	saltTruncate
	saltJitter
	saltSpike
	saltLabelCount
	saltListFail
	saltEdit
	saltBulkSkip
)

// hash is splitmix64 over the inputs.
func hash(seed uint64, id int64, k, salt uint64) uint64 {
	x := seed ^ uint64(id)*0x9E3779B97F4A7C15 ^ k*0xBF58476D1CE4E5B9 ^ salt*0x94D049BB133111EB
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}

// chance reports whether the decision (id, k, salt) falls within p.
func chance(seed uint64, id int64, k, salt uint64, p float64) bool {
	if p <= 0 {
		return false
	}
	return float64(hash(seed, id, k, salt)>>11)*(1.0/(1<<53)) < p
}

// kind is the fixed per-asset behaviour under o.
func (f *Fake) kind(id int64, o *Options) string {
	if f.lookup(id) == nil {
		return KindNotFound
	}
	if chance(o.Seed, id, 0, saltInvalid, o.InvalidFraction) {
		return KindInvalid
	}
	if chance(o.Seed, id, 0, saltFail, o.FailFraction) {
		if o.FailTimes < 0 {
			return KindFailing
		}
		return KindFlaky
	}
	return KindOK
}

// Kind tells what the Fake does with a label call for assetID under the
// current options, ignoring per-request effects (Script, throttling, rate
// limit, resets, truncation, UnauthorizedAfter): "ok", "not_found",
// "invalid", "flaky" (fails FailTimes times, then succeeds) or "failing".
func (f *Fake) Kind(assetID int64) string { return f.kind(assetID, f.opts.Load()) }

// Update changes options at runtime, thread-safely; fn may run more than
// once. Seeded assets (Assets, FirstID, AssetIDs, LabelsPerAsset, Labels) are not
// re-seeded. To change the script, assign a new Script map (never mutate the
// old one): a new map starts every asset's script from its first reply.
func (f *Fake) Update(fn func(*Options)) {
	for {
		old := f.opts.Load()
		o := *old
		o.AssetIDs = slices.Clone(o.AssetIDs)
		fn(&o)
		newScript := reflect.ValueOf(o.Script).UnsafePointer() != reflect.ValueOf(old.Script).UnsafePointer()
		o = normalizeRuntime(o)
		if newScript {
			o.Script = normalize(Options{Script: o.Script}).Script
		}
		if f.opts.CompareAndSwap(old, &o) {
			if newScript {
				f.miscMu.Lock()
				clear(f.scriptPos)
				f.miscMu.Unlock()
			}
			return
		}
	}
}

func normalizeRuntime(o Options) Options {
	if o.BulkAsyncDelay <= 0 {
		o.BulkAsyncDelay = DefaultBulkAsyncDelay
	}
	if o.EditLabel == "" {
		o.EditLabel = defaultEditLabel
	}
	if o.APIKey == "" {
		o.APIKey = "test-key"
	}
	if o.FailStatus == 0 {
		o.FailStatus = 500
	}
	if o.FailTimes == 0 {
		o.FailTimes = 1
	}
	if o.RateBurst <= 0 {
		o.RateBurst = max(1, int(o.RateLimit/10))
	}
	return o
}

// Options returns a copy of the current options.
func (f *Fake) Options() Options { return *f.opts.Load() }

// AssetCount is the number of seeded assets.
func (f *Fake) AssetCount() int { return len(f.order) }

// AssetIDs returns every seeded ID in ascending order.
func (f *Fake) AssetIDs() []int64 { return slices.Clone(f.order) }

// Labels returns the current labels of a seeded asset.
func (f *Fake) Labels(assetID int64) ([]string, bool) {
	a := f.lookup(assetID)
	if a == nil {
		return nil, false
	}
	l := f.lock(assetID)
	l.Lock()
	defer l.Unlock()
	return a.labels(f.vocab), true
}

func (a *asset) labels(v *vocab) []string {
	out := make([]string, 0, popcount(a.mask)+len(a.extra))
	for m := a.mask; m != 0; m &= m - 1 {
		out = append(out, v.names[bits.TrailingZeros64(m)])
	}
	return append(out, a.extra...)
}

func (a *asset) has(v *vocab, label string) bool {
	if i, ok := v.idx[label]; ok {
		return a.mask&(1<<i) != 0
	}
	return slices.Contains(a.extra, label)
}

func (a *asset) add(v *vocab, labels []string) {
	for _, l := range labels {
		l = strings.TrimSpace(l)
		if l == "" || a.has(v, l) {
			continue
		}
		if i, ok := v.idx[l]; ok {
			a.mask |= 1 << i
		} else {
			a.extra = append(a.extra, l)
		}
	}
}

func (a *asset) remove(v *vocab, labels []string) {
	for _, l := range labels {
		l = strings.TrimSpace(l)
		if i, ok := v.idx[l]; ok {
			a.mask &^= 1 << i
		} else if j := slices.Index(a.extra, l); j >= 0 {
			a.extra = slices.Delete(a.extra, j, j+1)
		}
	}
}

func (a *asset) clear() { a.mask, a.extra = 0, nil }

// replace sets exactly labels.
func (a *asset) replace(v *vocab, labels []string) { a.clear(); a.add(v, labels) }

// Stats returns a snapshot of the counters.
func (f *Fake) Stats() Stats {
	s := Stats{
		Requests:     f.requests.Load(),
		ByStatus:     map[int]int64{},
		ByMethod:     map[string]int64{},
		LabelCalls:   f.labelCalls.Load(),
		ListCalls:    f.listCalls.Load(),
		BulkCalls:    f.bulkCalls.Load(),
		BulkPending:  f.bulkPending.Load(),
		Unauthorized: f.unauthorized.Load(),
		Throttled:    f.throttled.Load(),
		Resets:       f.resets.Load(),
		Truncated:    f.truncated.Load(),
		InFlight:     f.inFlight.Load(),
		MaxInFlight:  f.maxInFlight.Load(),
	}
	for i := range f.byStatus {
		if n := f.byStatus[i].Load(); n != 0 {
			s.ByStatus[i] = n
		}
	}
	for i, m := range methods {
		if n := f.byMethod[i].Load(); n != 0 {
			s.ByMethod[m] = n
		}
	}
	if n := f.byMethod[len(methods)].Load(); n != 0 {
		s.ByMethod["OTHER"] = n
	}
	return s
}

// Log returns a copy of every logged label and bulk call, in the order answered
// (Call.Time is the arrival: concurrent calls may be out of time order).
func (f *Fake) Log() []Call {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return slices.Clone(f.log)
}

// Calls returns every logged label call for assetID, in order (bulk
// calls name no asset: they are in Log only).
func (f *Fake) Calls(assetID int64) []Call {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	var out []Call
	for _, c := range f.log {
		if c.AssetID == assetID && !c.Bulk {
			out = append(out, c)
		}
	}
	return out
}

func (f *Fake) record(c Call) {
	f.logMu.Lock()
	f.log = append(f.log, c)
	f.logMu.Unlock()
}

// allow takes a token from the rate limiter.
func (f *Fake) allow(o *Options) bool {
	if o.RateLimit <= 0 {
		return true
	}
	f.rateMu.Lock()
	defer f.rateMu.Unlock()
	now := time.Now()
	f.tokens = math.Min(float64(o.RateBurst), f.tokens+now.Sub(f.lastRefill).Seconds()*o.RateLimit)
	f.lastRefill = now
	if f.tokens < 1 {
		return false
	}
	f.tokens--
	return true
}
