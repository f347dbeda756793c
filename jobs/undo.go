// Undo: a restore campaign that puts back the labels a campaign removed.

package jobs

import (
	"context"
	"errors"
)

// UndoOptions are the knobs of an undo.
type UndoOptions struct {
	// Exact sets each asset's labels to exactly the snapshot's
	// (PATCH update_type=replace) instead of adding them back (POST),
	// which keeps labels added after the reset.
	Exact bool
	// Name names the restore campaign ("" = "undo of <source>").
	Name string
	// Submit carries the confirmation threshold and --yes.
	Submit SubmitOptions
}

// UndoPlan is what an undo will do.
type UndoPlan struct {
	Source string `json:"source"`
	// Restore is the number of assets that get labels back; Unchanged
	// those that need no call (no labels removed, or never called).
	Restore   int64 `json:"restore"`
	Unchanged int64 `json:"unchanged"`
	// Labels are the labels put back, most common first.
	Labels []LabelCount `json:"labels,omitempty"`
	// Cancels is true when the source is still running, paused, pending
	// or blocked: undo cancels it first, so that a later resume can never
	// delete the restored labels again.
	Cancels bool `json:"cancels_source"`
	// Existing is the restore campaign of an earlier undo, if any: undo
	// is idempotent and returns it.
	Existing string `json:"existing,omitempty"`
}

// ErrNoSnapshot is returned for the undo of a campaign that has no
// complete snapshot (created with --no-snapshot, or a restore campaign).
var ErrNoSnapshot = errors.New("campaign has no snapshot")

// PlanUndo computes the undo of campaign source without changing anything.
func (s *Store) PlanUndo(ctx context.Context, source string, exact bool) (*UndoPlan, error) {
	panic("not implemented")
}

// Undo creates the restore campaign of campaign source (mode restore, one
// asset per asset of source, same batches), cancelling source first if it
// can still run. It is idempotent: a second undo returns the first
// restore campaign (SubmitResult.Existing).
func (s *Store) Undo(ctx context.Context, source string, opts UndoOptions) (*SubmitResult, *UndoPlan, error) {
	panic("not implemented")
}

// UndoFromSnapshot creates a restore campaign from an exported snapshot:
// every asset in it gets its labels back. def carries the campaign's
// definition (ID, team, server, priority, batch size, policy) as for
// Submit; mode and labels are set here.
func (s *Store) UndoFromSnapshot(ctx context.Context, hdr *SnapshotHeader, lines []SnapshotLine, def *Campaign, opts UndoOptions) (*SubmitResult, error) {
	panic("not implemented")
}
