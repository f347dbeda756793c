package main

import (
	"slices"
	"testing"
)

// TestSnapshotPhaseFlags: the snapshot phase runs only when asked for, and
// alone it needs neither the built binaries nor the fake process (nor
// FLUSHDB, which only the other phases run).
func TestSnapshotPhaseFlags(t *testing.T) {
	def, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.has("snapshot") || !def.needsProcesses() || def.snapshotAssets != 1_000_000 {
		t.Errorf("defaults: phases %v, needsProcesses %v, snapshot assets %d", def.phases, def.needsProcesses(), def.snapshotAssets)
	}
	snap, err := parseFlags([]string{"--phases", "snapshot", "--snapshot-assets", "5000"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(snap.phases, []string{"snapshot"}) || snap.needsProcesses() || snap.snapshotAssets != 5000 {
		t.Errorf("--phases snapshot: phases %v, needsProcesses %v, snapshot assets %d", snap.phases, snap.needsProcesses(), snap.snapshotAssets)
	}
	both, err := parseFlags([]string{"--phases", "enqueue,snapshot"})
	if err != nil || !both.needsProcesses() {
		t.Errorf("--phases enqueue,snapshot: needsProcesses %v, %v", both != nil && both.needsProcesses(), err)
	}
	if _, err := parseFlags([]string{"--snapshot-assets", "0"}); err == nil {
		t.Error("--snapshot-assets 0 accepted")
	}
}
