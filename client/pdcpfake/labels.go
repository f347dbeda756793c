package pdcpfake

import (
	"slices"
	"strconv"
)

// Label seeding modes of Options.Labels.
const (
	// LabelsDefault seeds LabelsPerAsset labels from Vocabulary.
	LabelsDefault = ""
	// LabelsVaried seeds 0–5 labels per asset from VariedVocabulary, whose
	// labels carry spaces, commas, slashes, colons, quotes and non-ASCII:
	// what a snapshot and restore must carry back byte for byte.
	LabelsVaried = "varied"
	// LabelsBench seeds the benchmark distribution: 80% of assets carry 1–4
	// labels drawn Zipf-like from the 50 BenchVocabulary labels, 20% none.
	LabelsBench = "bench"
)

// VariedVocabulary is the vocabulary of LabelsVaried: Vocabulary plus
// labels that a careless encoding (CSV, a comma-joined query, a
// colon-separated key) would break.
var VariedVocabulary = append(slices.Clone(Vocabulary),
	"owner: Zoë", "a,b", "path/to/x", `say "hi"`, "it's", "Ünïcødé 标签", "two  spaces", "x:y/z,w", "emoji 🚀")

// BenchVocabulary is the vocabulary of LabelsBench: 50 distinct labels,
// the first drawn most often.
var BenchVocabulary = func() []string {
	v := make([]string, 50)
	for i := range v {
		v[i] = "bench:label-" + strconv.Itoa(i)
	}
	return v
}()

// vocab is the set of labels an asset's mask indexes (at most 64); labels
// outside it live in asset.extra.
type vocab struct {
	names []string
	idx   map[string]int
}

func newVocab(names []string) *vocab {
	v := &vocab{names: names, idx: make(map[string]int, len(names))}
	for i, n := range names {
		v.idx[n] = i
	}
	return v
}

// vocabFor returns the vocabulary of a seeding mode. The bench vocabulary
// also holds Vocabulary, so that labels tests add stay in the mask.
func vocabFor(mode string) *vocab {
	switch mode {
	case LabelsVaried:
		return newVocab(VariedVocabulary)
	case LabelsBench:
		return newVocab(append(slices.Clone(BenchVocabulary), Vocabulary...))
	}
	return newVocab(Vocabulary)
}

// zipfCDF is the cumulative distribution of ranks 1..50 with weight 1/rank.
var zipfCDF = func() []float64 {
	c := make([]float64, len(BenchVocabulary))
	sum := 0.0
	for i := range c {
		sum += 1 / float64(i+1)
		c[i] = sum
	}
	for i := range c {
		c[i] /= sum
	}
	return c
}()

// unit maps a hash to [0,1).
func unit(h uint64) float64 { return float64(h>>11) * (1.0 / (1 << 53)) }

// seedLabels sets the labels of a fresh asset id under o.
func (f *Fake) seedLabels(a *asset, id int64, o Options) {
	switch o.Labels {
	case LabelsVaried:
		n := int(hash(o.Seed, id, 0, saltLabelCount) % 6)
		for k := uint64(0); popcount(a.mask) < n; k++ {
			a.mask |= 1 << (hash(o.Seed, id, k, saltLabels) % uint64(len(VariedVocabulary)))
		}
	case LabelsBench:
		if hash(o.Seed, id, 0, saltLabelCount)%5 == 0 {
			return // 20% carry no label
		}
		n := 1 + int(hash(o.Seed, id, 1, saltLabelCount)%4)
		for k := uint64(0); popcount(a.mask) < n; k++ {
			r, _ := slices.BinarySearch(zipfCDF, unit(hash(o.Seed, id, k, saltLabels)))
			a.mask |= 1 << min(r, len(zipfCDF)-1)
		}
	default:
		for k := uint64(0); popcount(a.mask) < o.LabelsPerAsset; k++ {
			a.mask |= 1 << (hash(o.Seed, id, k, saltLabels) % uint64(len(Vocabulary)))
		}
	}
}

// LabelSets are the label sets of assets by ID, as Snapshot captures them.
type LabelSets map[int64][]string

// AllLabels returns the current labels of every seeded asset (assets
// without labels map to an empty, non-nil slice).
func (f *Fake) AllLabels() map[int64][]string {
	out := make(map[int64][]string, len(f.order))
	for _, id := range f.order {
		a := f.lookup(id)
		l := f.lock(id)
		l.Lock()
		out[id] = a.labels(f.vocab)
		l.Unlock()
	}
	return out
}

// Snapshot captures every asset's labels, so that a test can compare the
// state after an undo with the state before the reset (LabelSets.Diff).
func (f *Fake) Snapshot() LabelSets { return LabelSets(f.AllLabels()) }

// Diff returns, in ascending order, the IDs whose label set (order
// ignored) differs between s and other, including IDs present in only one.
func (s LabelSets) Diff(other LabelSets) []int64 {
	var ids []int64
	for id, a := range s {
		b, ok := other[id]
		if !ok || !sameSet(a, b) {
			ids = append(ids, id)
		}
	}
	for id := range other {
		if _, ok := s[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
