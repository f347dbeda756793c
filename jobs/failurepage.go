// Reading the failures table: a page of a campaign's failed, invalid,
// not found, not in inventory or cancelled assets, from the failure index.

package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Limits of a failures page.
const (
	// DefaultFailureLimit is the page size of a FailureQuery without one.
	DefaultFailureLimit = 50
	// MaxFailureLimit bounds a page.
	MaxFailureLimit = 500
	// FailureScanMax bounds the records one page examines when it cannot
	// take them straight from the index: a reason filter (the index is by
	// outcome; the reason is read from each record), or a campaign stored
	// before the index existed (its ledger is read in asset ID order). A
	// page that reaches it ends early, with Next set to where the scan
	// stopped: it may hold fewer than Limit records, or none, and still
	// have a next page.
	FailureScanMax = 10_000
)

// ErrFailureQuery is returned for a FailureQuery that cannot be answered
// (an outcome the failures table does not list, a negative limit).
var ErrFailureQuery = errors.New("invalid failures query")

// FailureQuery selects a page of a campaign's failures.
type FailureQuery struct {
	// Outcomes keeps the assets with one of these outcomes (each one of
	// FailureOutcomes); empty keeps all of them.
	Outcomes []string
	// Reason keeps the failed and invalid assets whose error has this
	// reason, as FailureReasons returns it (exact match; see
	// FailureReasonOf). OtherFailureReason keeps those whose reason is not
	// one FailureReasons lists on its own. "" keeps any.
	Reason string
	// Asset keeps only this asset (0 = any).
	Asset int64
	// After is the cursor: only assets with a greater ID (a previous
	// page's Next; 0 = from the start).
	After int64
	// Limit is the page size: default DefaultFailureLimit, at most
	// MaxFailureLimit.
	Limit int
}

// FailurePage is one page of failures, by ascending asset ID.
type FailurePage struct {
	Records []Record `json:"records"`
	// Next is the After of the next page; 0 on the last page.
	Next int64 `json:"next"`
	// Total is the number of assets matching the query (not only this
	// page) when it is cheap to know: outcome filters alone (the
	// campaign's counters), an asset search, a reason over failed and
	// invalid assets (FailureReasons' count, while it is exact). -1 when
	// unknown.
	Total int64 `json:"total"`
}

// failRef is an asset and the ledger batch holding its record.
type failRef struct {
	asset int64
	batch int
}

// Failures returns a page of the campaign's assets whose outcome is one of
// FailureOutcomes, by ascending asset ID. A campaign with a failure index
// (every campaign created by this version) answers an outcome filter or an
// asset search from the index: a page reads about Limit records however
// large the campaign. A reason filter reads the index of failed and
// invalid assets and each record's error, at most FailureScanMax of them
// per page. A campaign without an index (stored by an earlier version), or
// whose index does not match its outcome counters (records written by an
// earlier version's workers since), is read from its ledger in asset ID
// order, at most FailureScanMax records per page.
func (s *Store) Failures(ctx context.Context, id string, q FailureQuery) (FailurePage, error) {
	if err := ValidateCampaignID(id); err != nil {
		return FailurePage{}, err
	}
	outcomes, err := q.outcomes()
	if err != nil {
		return FailurePage{}, err
	}
	switch {
	case q.Limit < 0:
		return FailurePage{}, fmt.Errorf("%w: limit %d: want 1..%d", ErrFailureQuery, q.Limit, MaxFailureLimit)
	case q.Limit == 0:
		q.Limit = DefaultFailureLimit
	case q.Limit > MaxFailureLimit:
		q.Limit = MaxFailureLimit
	}
	if q.Asset < 0 || q.After < 0 {
		return FailurePage{}, fmt.Errorf("%w: asset %d, after %d: want >= 0", ErrFailureQuery, q.Asset, q.After)
	}
	r, err := s.failureRead(ctx, id, q.Reason != "")
	if err != nil {
		return FailurePage{}, err
	}
	keep := r.filter(outcomes, q.Reason)
	if q.Asset != 0 {
		return s.failureAsset(ctx, r, outcomes, q.Asset, q.After, keep)
	}
	page := FailurePage{Total: r.total(outcomes, q.Reason)}
	var src failSource
	chunk := q.Limit + 1
	if q.Reason != "" {
		// Only failed and invalid assets have a reason.
		outcomes = slices.DeleteFunc(slices.Clone(outcomes), func(o string) bool {
			return o != OutcomeFailed && o != OutcomeInvalid
		})
	}
	if r.useIndex(outcomes) {
		if q.Reason != "" {
			chunk = max(chunk, 1000)
		}
		src = &indexSource{s: s, id: id, outcomes: outcomes}
	} else {
		src = &ledgerSource{s: s, c: r.c}
		chunk = max(chunk, 1000)
	}
	if len(outcomes) == 0 {
		return page, nil
	}
	page.Records, page.Next, err = s.scanFailures(ctx, id, src, keep, q.After, q.Limit, chunk)
	if err != nil {
		return FailurePage{}, fmt.Errorf("failures of campaign %s: %w", id, err)
	}
	if page.Records == nil {
		page.Records = []Record{}
	}
	return page, nil
}

// outcomes validates q.Outcomes (empty: every FailureOutcomes).
func (q FailureQuery) outcomes() ([]string, error) {
	if len(q.Outcomes) == 0 {
		return FailureOutcomes, nil
	}
	var out []string
	for _, o := range q.Outcomes {
		if !slices.Contains(FailureOutcomes, o) {
			return nil, fmt.Errorf("%w: outcome %q: want one of %s", ErrFailureQuery, o, strings.Join(FailureOutcomes, ", "))
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// failureState is what one page needs to know of its campaign, read in
// one transaction: the campaign, whether its index can be used, and (for
// a reason filter) its failure counts.
type failureState struct {
	c       *Campaign
	indexed bool
	// over are the outcomes past FailureIndexMax, which have no index.
	over    map[string]bool
	reasons map[string]string
}

// useIndex reports whether a query of outcomes can read the index: the
// campaign keeps one, and none of the outcomes went past its bound.
func (r *failureState) useIndex(outcomes []string) bool {
	if !r.indexed {
		return false
	}
	for _, o := range outcomes {
		if r.over[o] {
			return false
		}
	}
	return true
}

func (s *Store) failureRead(ctx context.Context, id string, reasons bool) (*failureState, error) {
	var meta *redis.MapStringStringCmd
	var hash *redis.MapStringStringCmd
	cards := make([]*redis.IntCmd, len(FailureOutcomes))
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		meta = p.HGetAll(ctx, s.keys.meta(id))
		for i, k := range s.keys.failIndexes(id) {
			cards[i] = p.ZCard(ctx, k)
		}
		if reasons {
			hash = p.HGetAll(ctx, s.keys.failures(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failures of campaign %s: %w", id, err)
	}
	m := meta.Val()
	c, err := decodeStored(id, m)
	if err != nil {
		return nil, err
	}
	r := &failureState{c: c, indexed: m[failIndexField] == "1", over: map[string]bool{}}
	// The index and the counters change in the same scripts: read in one
	// transaction they agree, unless a worker of an earlier version (which
	// keeps no index) recorded outcomes since the campaign was created.
	// An outcome past FailureIndexMax has no index to agree.
	for i, o := range FailureOutcomes {
		if strings.IndexByte(m[failIndexOverField], outcomeCode(o)) >= 0 {
			r.over[o] = true
			continue
		}
		if cards[i].Val() != c.Counts[o] {
			r.indexed = false
		}
	}
	if reasons {
		r.reasons = hash.Val()
	}
	return r, nil
}

// total is FailurePage.Total for an outcome and reason filter.
func (r *failureState) total(outcomes []string, reason string) int64 {
	if reason == "" {
		var n int64
		for _, o := range outcomes {
			n += r.c.Counts[o]
		}
		return n
	}
	// Only failed and invalid assets have a reason. The reason counts
	// cover both together, and are exact while no reason went to "other".
	failed, invalid := slices.Contains(outcomes, OutcomeFailed), slices.Contains(outcomes, OutcomeInvalid)
	if !failed && !invalid {
		return 0
	}
	if _, other := r.reasons[OtherFailureReason]; other || !failed || !invalid {
		return -1
	}
	n, _ := strconv.ParseInt(r.reasons[reason], 10, 64)
	return n
}

// filter returns whether a record read for the page belongs on it: its
// outcome may have changed since the index was read, and a reason filter
// is applied to the record itself.
func (r *failureState) filter(outcomes []string, reason string) func(Record) bool {
	return func(rec Record) bool {
		if !slices.Contains(outcomes, rec.Outcome) {
			return false
		}
		if reason == "" {
			return true
		}
		if rec.Outcome != OutcomeFailed && rec.Outcome != OutcomeInvalid {
			return false
		}
		got := FailureReasonOf(rec)
		if reason != OtherFailureReason {
			return got == reason
		}
		// A reason counted under "other" is one without a field of its own.
		if got == OtherFailureReason {
			return true
		}
		_, own := r.reasons[got]
		return !own
	}
}

// failureAsset answers an asset search: a page of one record at most.
// Total counts the match whatever the cursor.
func (s *Store) failureAsset(ctx context.Context, r *failureState, outcomes []string, a, after int64, keep func(Record) bool) (FailurePage, error) {
	page := FailurePage{Records: []Record{}}
	var ref *failRef
	if r.useIndex(outcomes) {
		pad := fmt.Sprintf("%019d", a)
		cmds := make([]*redis.StringSliceCmd, len(outcomes))
		pipe := s.rdb.Pipeline()
		for i, o := range outcomes {
			cmds[i] = pipe.ZRangeByLex(ctx, s.keys.failIndex(r.c.ID, o), &redis.ZRangeBy{Min: "[" + pad + ":", Max: "(" + pad + ";"})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return FailurePage{}, fmt.Errorf("failures of campaign %s: read the failure index: %w", r.c.ID, err)
		}
		for _, c := range cmds {
			for _, m := range c.Val() {
				f, err := parseIndexMember(m)
				if err != nil {
					return FailurePage{}, fmt.Errorf("failures of campaign %s: %w", r.c.ID, err)
				}
				ref = &f
			}
		}
	} else {
		b, ok, err := (&ledgerSource{s: s, c: r.c}).batchOf(ctx, a)
		if err != nil {
			return FailurePage{}, fmt.Errorf("failures of campaign %s: %w", r.c.ID, err)
		}
		if ok {
			ref = &failRef{a, b}
		}
	}
	if ref == nil {
		return page, nil
	}
	recs, err := s.ledger.loadRefs(ctx, r.c.ID, []failRef{*ref})
	if err != nil {
		return FailurePage{}, fmt.Errorf("failures of campaign %s: %w", r.c.ID, err)
	}
	rec := recs[0]
	if !rec.Terminal() {
		rec.Outcome = OutcomePending
	}
	if !keep(rec) {
		return page, nil
	}
	page.Total = 1
	if a > after {
		page.Records = append(page.Records, rec)
	}
	return page, nil
}

// failSource yields a campaign's candidate assets in ascending ID order.
type failSource interface {
	// next returns up to about n assets with an ID greater than after, in
	// ascending order; done when none are left beyond them.
	next(ctx context.Context, after int64, n int) (refs []failRef, done bool, err error)
}

// scanFailures reads candidates from src after the cursor and keeps those
// keep accepts, until it has limit of them (and knows whether more follow)
// or has examined FailureScanMax records.
func (s *Store) scanFailures(ctx context.Context, id string, src failSource, keep func(Record) bool,
	after int64, limit, chunk int) ([]Record, int64, error) {
	var out []Record
	examined := 0
	for {
		refs, done, err := src.next(ctx, after, chunk)
		if err != nil {
			return nil, 0, err
		}
		recs, err := s.ledger.loadRefs(ctx, id, refs)
		if err != nil {
			return nil, 0, err
		}
		for _, rec := range recs {
			if !rec.Terminal() {
				rec.Outcome = OutcomePending
			}
			if keep(rec) {
				if len(out) == limit {
					return out, out[limit-1].AssetID, nil
				}
				out = append(out, rec)
			}
		}
		examined += len(refs)
		if done || len(refs) == 0 {
			return out, 0, nil
		}
		after = refs[len(refs)-1].asset
		if examined >= FailureScanMax {
			return out, after, nil
		}
	}
}

// loadRefs is Load for assets of several batches, in the order given, in
// one round trip (two when some errors are in the error hash).
func (l *Ledger) loadRefs(ctx context.Context, campaign string, refs []failRef) ([]Record, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	type group struct {
		fields []string
		at     []int
		cmd    *redis.SliceCmd
	}
	groups := map[int]*group{}
	var order []int
	for i, r := range refs {
		g := groups[r.batch]
		if g == nil {
			g = &group{}
			groups[r.batch] = g
			order = append(order, r.batch)
		}
		g.fields = append(g.fields, strconv.FormatInt(r.asset, 10))
		g.at = append(g.at, i)
	}
	pipe := l.rdb.Pipeline()
	for _, b := range order {
		groups[b].cmd = pipe.HMGet(ctx, l.keys.ledger(campaign, b), groups[b].fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("load ledger of campaign %s: %w", campaign, err)
	}
	out := make([]Record, len(refs))
	var elsewhere []int
	for _, b := range order {
		g := groups[b]
		for j, v := range g.cmd.Val() {
			i := g.at[j]
			out[i].AssetID = refs[i].asset
			str, ok := v.(string)
			if !ok {
				continue
			}
			rec, err := decodeRecord(refs[i].asset, str)
			if err != nil {
				return nil, fmt.Errorf("campaign %s batch %d: %w", campaign, b, err)
			}
			out[i] = rec
			if rec.Error == errorElsewhere {
				elsewhere = append(elsewhere, i)
			}
		}
	}
	if len(elsewhere) == 0 {
		return out, nil
	}
	fields := make([]string, len(elsewhere))
	for j, i := range elsewhere {
		fields[j] = strconv.FormatInt(refs[i].asset, 10)
	}
	vals, err := l.rdb.HMGet(ctx, l.keys.errors(campaign), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("load errors of campaign %s: %w", campaign, err)
	}
	for j, v := range vals {
		r := &out[elsewhere[j]]
		r.Error = ""
		if str, ok := v.(string); ok {
			decodeSide(r, str)
		}
	}
	return out, nil
}

// parseIndexMember reads a failure index member.
func parseIndexMember(m string) (failRef, error) {
	a, b, ok := strings.Cut(m, ":")
	asset, err1 := strconv.ParseInt(a, 10, 64)
	batch, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return failRef{}, fmt.Errorf("corrupt failure index member %q", m)
	}
	return failRef{asset, batch}, nil
}

// indexSource reads candidates from the failure index of some outcomes.
type indexSource struct {
	s        *Store
	id       string
	outcomes []string
}

func (x *indexSource) next(ctx context.Context, after int64, n int) ([]failRef, bool, error) {
	if after == math.MaxInt64 {
		return nil, true, nil
	}
	min := "[" + fmt.Sprintf("%019d", after+1)
	cmds := make([]*redis.StringSliceCmd, len(x.outcomes))
	pipe := x.s.rdb.Pipeline()
	for i, o := range x.outcomes {
		cmds[i] = pipe.ZRangeByLex(ctx, x.s.keys.failIndex(x.id, o), &redis.ZRangeBy{Min: min, Max: "+", Count: int64(n)})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, false, fmt.Errorf("read the failure index: %w", err)
	}
	return mergeRefs(cmds, n, func(c *redis.StringSliceCmd) ([]failRef, error) {
		refs := make([]failRef, 0, len(c.Val()))
		for _, m := range c.Val() {
			r, err := parseIndexMember(m)
			if err != nil {
				return nil, err
			}
			refs = append(refs, r)
		}
		return refs, nil
	})
}

// mergeRefs merges the ascending lists of several sources, each cut at n
// entries: the merge is complete only up to the smallest last entry of a
// list that was cut (beyond it, a cut list may hold entries not read).
func mergeRefs[T any](lists []T, n int, refsOf func(T) ([]failRef, error)) ([]failRef, bool, error) {
	var all []failRef
	bound, done := int64(math.MaxInt64), true
	for _, l := range lists {
		refs, err := refsOf(l)
		if err != nil {
			return nil, false, err
		}
		all = append(all, refs...)
		if len(refs) >= n {
			done = false
			bound = min(bound, refs[len(refs)-1].asset)
		}
	}
	slices.SortFunc(all, func(a, b failRef) int { return cmp.Compare(a.asset, b.asset) })
	if !done {
		i, _ := slices.BinarySearchFunc(all, bound, func(r failRef, t int64) int { return cmp.Compare(r.asset, t) })
		all = all[:i+1]
	}
	return all, done, nil
}

// ledgerSource reads every asset of a campaign in ascending ID order from
// its segments, for a campaign without a usable failure index.
type ledgerSource struct {
	s    *Store
	c    *Campaign
	segs []ledgerSegment
}

type ledgerSegment struct {
	info segmentInfo
	set  *IDSet
}

func (x *ledgerSource) load(ctx context.Context) error {
	if x.segs != nil || x.c.Segments == 0 {
		return nil
	}
	for seg := 0; seg < x.c.Segments; seg++ {
		info, err := x.s.segmentInfo(ctx, x.c.ID, seg)
		if err != nil {
			return err
		}
		set, err := x.s.segmentIDs(ctx, x.c, seg)
		if err != nil {
			return err
		}
		x.segs = append(x.segs, ledgerSegment{info, set})
	}
	return nil
}

func (x *ledgerSource) next(ctx context.Context, after int64, n int) ([]failRef, bool, error) {
	if err := x.load(ctx); err != nil {
		return nil, false, err
	}
	return mergeRefs(x.segs, n, func(sg ledgerSegment) ([]failRef, error) {
		ids, rank := sg.set.after(after, n)
		refs := make([]failRef, len(ids))
		for i, a := range ids {
			refs[i] = failRef{a, sg.info.FirstBatch + int((rank+int64(i))/int64(sg.info.BatchSize))}
		}
		return refs, nil
	})
}

// batchOf returns the batch of the campaign holding asset a, false when
// the campaign does not hold it.
func (x *ledgerSource) batchOf(ctx context.Context, a int64) (int, bool, error) {
	if err := x.load(ctx); err != nil {
		return 0, false, err
	}
	for _, sg := range x.segs {
		if sg.set.Contains(a) {
			rank := sg.set.rank(a) - 1
			return sg.info.FirstBatch + int(rank/int64(sg.info.BatchSize)), true, nil
		}
	}
	return 0, false, nil
}
