// Verification: whether a campaign's assets now hold what the campaign
// intended, judged from a new listing of the inventory. The CLI's verify
// feeds it the pages it lists; the HTTP API can do the same.

package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/labelreset/labelreset/client"
)

// The verdicts of a verification, per asset.
const (
	// VerifyOK: the asset holds what the campaign intended.
	VerifyOK = "ok"
	// VerifyWrong: it does not (VerifyRow.Labels says which labels).
	VerifyWrong = "wrong"
	// VerifyMissing: a checked asset the listing did not return.
	VerifyMissing = "missing"
	// VerifySkipped: nothing to check (the asset was not reset, or not
	// restored, by the campaign).
	VerifySkipped = "skipped"
	// VerifyUnchecked: a delete campaign reset the asset, but its snapshot
	// holds no label for it (it had none, or the listing did not return
	// it and --reset-unlisted reset it anyway): no label is known to have
	// been removed, so an "ok" would claim what nothing checked. Counted
	// apart from skipped, which the campaign did not reset.
	VerifyUnchecked = "unchecked"
)

// VerifyResults lists the verdicts in report order.
var VerifyResults = []string{VerifyOK, VerifyWrong, VerifyMissing, VerifyUnchecked, VerifySkipped}

// What a verification checks on one asset.
const (
	checkNone    uint8 = iota // skipped
	checkAbsent               // none of the labels may remain
	checkPresent              // every label must be there
	checkExact                // exactly these labels
	checkUnknown              // reset, but no label known: unchecked
)

// Per-asset state of a verification.
const (
	seenNot uint8 = iota
	seenOK
	seenWrong
)

// Verification holds, per asset of a campaign in ID order, what to check
// and, once pages were added, what the listing showed. Label sets are
// interned (they repeat), so an asset costs ~16 bytes.
type Verification struct {
	campaign *Campaign
	ids      []int64
	outcome  []uint8 // index into outcomeNames
	check    []uint8
	set      []uint32 // index into sets
	seen     []uint8
	sets     [][]string
	wrong    map[int64][]string // the labels that make an asset wrong
}

// outcomeNames are the outcomes a verification row can carry.
var outcomeNames = append(append([]string{}, Outcomes...), OutcomePending)

// VerifyOptions are the knobs of a verification.
type VerifyOptions struct {
	// Exact checks that a restored asset holds exactly the restored
	// labels (as a restore with Campaign.Exact does by itself).
	Exact bool
}

// NewVerification loads what campaign c intended for each of its assets:
// after a reset (outcome reset), none of the labels it removed remain
// (delete mode: the snapshot's labels; remove mode: the campaign's
// list); after a restore (outcome restored), every label put back is
// present (exactly those with Exact). Every other asset is skipped.
// A delete campaign without a snapshot cannot be verified: nothing says
// which labels it removed.
func (s *Store) NewVerification(ctx context.Context, c *Campaign, opts VerifyOptions) (*Verification, error) {
	v := &Verification{campaign: c, wrong: map[int64][]string{}}
	index := map[string]uint32{}
	intern := func(labels []string) uint32 {
		set := slices.Clone(labels)
		slices.Sort(set)
		set = slices.Compact(set)
		key := strings.Join(set, "\x00")
		n, ok := index[key]
		if !ok {
			n = uint32(len(v.sets))
			index[key] = n
			v.sets = append(v.sets, set)
		}
		return n
	}
	removed := intern(c.Labels)
	exact, err := s.verifiesExact(ctx, c, opts)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", c.ID, err)
	}
	add := func(r Record, labels []string) {
		check, set := verifyCheck(c.Mode, r.Outcome, exact, labels), uint32(0)
		switch check {
		case checkAbsent:
			if c.Mode == ModeRemove {
				set = removed
			} else {
				set = intern(labels)
			}
		case checkPresent, checkExact:
			set = intern(labels)
		}
		v.ids = append(v.ids, r.AssetID)
		v.outcome = append(v.outcome, uint8(max(slices.Index(outcomeNames, r.Outcome), 0)))
		v.check = append(v.check, check)
		v.set = append(v.set, set)
	}
	err = s.EachAsset(ctx, c, func(st AssetState) error {
		add(st.Record, st.Labels)
		return nil
	})
	if errors.Is(err, ErrNoSnapshot) && c.Mode == ModeRemove {
		// The removal list says what must be gone; no snapshot needed.
		v.ids, v.outcome, v.check, v.set = nil, nil, nil, nil
		err = s.Records(ctx, c.ID, func(r Record) error {
			add(r, nil)
			return nil
		})
	}
	if errors.Is(err, ErrNoSnapshot) {
		return nil, fmt.Errorf("verify %s: %w: a campaign that deleted all labels without a snapshot (--no-snapshot) leaves no record of which labels to look for", c.ID, err)
	}
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", c.ID, err)
	}
	v.sortByID()
	v.seen = make([]uint8, len(v.ids))
	return v, nil
}

// verifiesExact reports whether restore campaign c's restored assets are
// checked for exactly their restored labels. A restore with Exact put
// back the whole snapshot set, so yes. A restore without it put back, for
// a source in delete mode, the whole snapshot set too (opts.Exact asks for
// the exact check), but for a source in remove mode only the removed
// labels: the asset's other labels were never touched and are not in the
// restore's data, so an exact check would call each of them wrong; those
// restores (and those from a snapshot file, whose source mode is not
// stored) are checked for the restored labels being present.
func (s *Store) verifiesExact(ctx context.Context, c *Campaign, opts VerifyOptions) (bool, error) {
	if c.Mode != ModeRestore || c.Exact || !opts.Exact {
		return c.Mode == ModeRestore && c.Exact, nil
	}
	if c.RestoreOf == "" {
		return false, nil
	}
	src, err := s.Get(ctx, c.RestoreOf)
	if err != nil {
		return false, fmt.Errorf("the campaign it restores, %s: %w", c.RestoreOf, err)
	}
	return src.Mode == ModeDelete, nil
}

// verifyCheck is what a verification checks on an asset with outcome
// of a campaign in mode whose snapshot (or restored) labels are labels.
func verifyCheck(mode Mode, outcome string, exact bool, labels []string) uint8 {
	switch {
	case mode == ModeRestore && outcome == OutcomeRestored:
		if exact {
			return checkExact
		}
		return checkPresent
	case mode == ModeRemove && outcome == OutcomeReset:
		return checkAbsent
	case mode == ModeDelete && outcome == OutcomeReset:
		if len(labels) == 0 {
			return checkUnknown
		}
		return checkAbsent
	}
	return checkNone
}

// sortByID orders the assets by ID (segments appended later hold IDs
// below earlier ones), so that Add can binary-search them.
func (v *Verification) sortByID() {
	if slices.IsSorted(v.ids) {
		return
	}
	order := make([]int, len(v.ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(v.ids[a], v.ids[b]) })
	ids, outcome, check, set := make([]int64, len(order)), make([]uint8, len(order)), make([]uint8, len(order)), make([]uint32, len(order))
	for i, j := range order {
		ids[i], outcome[i], check[i], set[i] = v.ids[j], v.outcome[j], v.check[j], v.set[j]
	}
	v.ids, v.outcome, v.check, v.set = ids, outcome, check, set
}

// Add judges the campaign's assets on one listing page and returns how
// many of the page's assets belong to the campaign. An asset listed twice
// (pages overlap) is judged by the labels seen last.
func (v *Verification) Add(page []client.Asset) int {
	n := 0
	for _, a := range page {
		i, ok := slices.BinarySearch(v.ids, a.ID)
		if !ok {
			continue
		}
		n++
		if v.check[i] == checkNone || v.check[i] == checkUnknown {
			continue
		}
		bad := v.judge(v.check[i], v.sets[v.set[i]], a.Labels)
		if len(bad) == 0 {
			v.seen[i] = seenOK
			delete(v.wrong, a.ID)
			continue
		}
		v.seen[i] = seenWrong
		v.wrong[a.ID] = bad
	}
	return n
}

// judge returns the labels that make an asset holding have wrong against
// want ("-l" a missing label, "+l" an unexpected one under checkExact),
// or nil when it is right.
func (v *Verification) judge(check uint8, want, have []string) []string {
	var bad []string
	switch check {
	case checkAbsent:
		for _, l := range want {
			if slices.Contains(have, l) {
				bad = append(bad, l)
			}
		}
	case checkPresent, checkExact:
		for _, l := range want {
			if !slices.Contains(have, l) {
				bad = append(bad, "-"+l)
			}
		}
		if check == checkExact {
			for _, l := range have {
				if !slices.Contains(want, l) && !slices.Contains(bad, "+"+l) {
					bad = append(bad, "+"+l)
				}
			}
		}
	}
	return bad
}

// VerifyRow is the verdict on one asset.
type VerifyRow struct {
	AssetID int64  `json:"asset_id"`
	Outcome string `json:"outcome"`
	Result  string `json:"result"`
	// Labels are the labels involved: for a wrong asset the ones at
	// fault (after a reset: those still there; after a restore: "-l"
	// missing, "+l" not expected with Exact), else the labels checked.
	Labels []string `json:"labels"`
}

// Each calls fn with the verdict on every asset, in ID order. Call it
// once every page was added: checked assets not seen are missing.
func (v *Verification) Each(fn func(VerifyRow) error) error {
	for i, id := range v.ids {
		row := VerifyRow{AssetID: id, Outcome: outcomeNames[v.outcome[i]], Labels: v.sets[v.set[i]]}
		switch {
		case v.check[i] == checkNone:
			row.Result, row.Labels = VerifySkipped, nil
		case v.check[i] == checkUnknown:
			row.Result, row.Labels = VerifyUnchecked, nil
		case v.seen[i] == seenOK:
			row.Result = VerifyOK
		case v.seen[i] == seenWrong:
			row.Result, row.Labels = VerifyWrong, v.wrong[id]
		default:
			row.Result = VerifyMissing
		}
		if row.Labels == nil {
			row.Labels = []string{}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return nil
}

// Counts returns the number of assets per verdict (every verdict
// present, zero or not).
func (v *Verification) Counts() map[string]int64 {
	out := make(map[string]int64, len(VerifyResults))
	for _, r := range VerifyResults {
		out[r] = 0
	}
	v.Each(func(r VerifyRow) error {
		out[r.Result]++
		return nil
	})
	return out
}
