package main

import (
	"errors"
	"testing"

	"github.com/labelreset/labelreset/jobs"
)

// TestSnapshotUndoPlan: the dry run of undo --snapshot counts as the undo
// does: an asset whose line says it was not reset, or (remove mode) held
// none of the removed labels, is unchanged; --exact refuses a file that
// does not say which assets were reset.
func TestSnapshotUndoPlan(t *testing.T) {
	yes, no := true, false
	hdr := &jobs.SnapshotHeader{Campaign: "c", Mode: jobs.ModeRemove, Labels: []string{"a"}}
	lines := []jobs.SnapshotLine{
		{AssetID: 1, Labels: []string{"a", "b"}, Reset: &yes},
		{AssetID: 2, Labels: []string{"a"}, Reset: &no},
		{AssetID: 3, Labels: []string{"b"}, Reset: &yes},
		{AssetID: 4, Labels: []string{"a"}},
	}
	p, err := snapshotUndoPlan(hdr, lines, false)
	if err != nil || p.Restore != 2 || p.Unchanged != 2 {
		t.Errorf("plan %+v (err %v), want restore 2 (assets 1, 4), unchanged 2", p, err)
	}
	if err == nil && (len(p.Labels) != 1 || p.Labels[0] != (jobs.LabelCount{Label: "a", Assets: 2})) {
		t.Errorf("plan labels %v, want only a on 2 assets", p.Labels)
	}
	if _, err := snapshotUndoPlan(hdr, lines, true); !errors.Is(err, jobs.ErrSnapshotNoOutcomes) {
		t.Errorf("exact plan of a line without reset: %v, want ErrSnapshotNoOutcomes", err)
	}
	p, err = snapshotUndoPlan(hdr, lines[:3], true)
	if err != nil || p.Restore != 1 || p.Unchanged != 2 || len(p.Labels) != 2 {
		t.Errorf("exact plan %+v (err %v), want restore 1 with both its labels, unchanged 2", p, err)
	}
}
