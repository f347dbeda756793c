// The preview of a campaign's snapshot: what it would find, computed from
// a listing the caller makes, before anything is stored (dry-run
// --preview in the CLI).

package jobs

import (
	"cmp"
	"slices"
	"time"

	"github.com/labelreset/labelreset/client"
)

// SnapshotPreview accumulates listed assets against a plan's IDs and
// summarises them as a campaign's complete snapshot would. It keeps one
// bit per found asset and a count per label, never the labels of each
// asset: a preview of a million assets stays small.
type SnapshotPreview struct {
	plan    *Plan
	found   *IDSet
	with    int64
	listed  int64
	labels  map[string]int64
	started time.Time
}

// NewSnapshotPreview starts the preview of plan's IDs at start.
func NewSnapshotPreview(plan *Plan, start time.Time) *SnapshotPreview {
	return &SnapshotPreview{plan: plan, found: NewIDSet(), labels: map[string]int64{}, started: start}
}

// Add takes one listing page. An asset listed twice (pages overlap when
// the inventory shifts) counts once, with the labels first seen.
func (p *SnapshotPreview) Add(page []client.Asset) {
	p.listed += int64(len(page))
	for _, a := range page {
		if p.plan.ids == nil || !p.plan.ids.Contains(a.ID) || !p.found.Add(a.ID) {
			continue
		}
		set := previewLabelSet(a.Labels)
		if len(set) > 0 {
			p.with++
		}
		for _, l := range set {
			p.labels[l]++
		}
	}
}

// Info is the summary so far, as SnapshotInfo reports a complete
// snapshot: pages is the number of listing requests made, end the time.
func (p *SnapshotPreview) Info(pages int64, end time.Time) *SnapshotInfo {
	found := p.found.Len()
	return &SnapshotInfo{
		Enabled: true, Complete: true, Segments: 1, SegmentsDone: 1,
		Pages: pages, Listed: p.listed, Found: found,
		WithLabels: p.with, WithoutLabels: found - p.with, NotInInventory: p.plan.Valid - found,
		TopLabels: previewTopLabels(p.labels, 10), StartedAt: p.started, FinishedAt: end, Elapsed: end.Sub(p.started),
	}
}

// previewLabelSet is labels without repeats (PDCP does not promise a set).
func previewLabelSet(labels []string) []string {
	if len(labels) < 2 {
		return labels
	}
	s := slices.Clone(labels)
	slices.Sort(s)
	return slices.Compact(s)
}

// previewTopLabels are the n most common labels of counts, most common first,
// ties by name.
func previewTopLabels(counts map[string]int64, n int) []LabelCount {
	out := make([]LabelCount, 0, len(counts))
	for l, c := range counts {
		out = append(out, LabelCount{Label: l, Assets: c})
	}
	slices.SortFunc(out, func(a, b LabelCount) int {
		if c := cmp.Compare(b.Assets, a.Assets); c != 0 {
			return c
		}
		return cmp.Compare(a.Label, b.Label)
	})
	return out[:min(len(out), n)]
}
