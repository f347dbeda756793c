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
	"errors"
	"time"

	"github.com/labelreset/labelreset/client"
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
// segment: enqueueing it twice conflicts instead of listing twice.
func (t *SnapshotTask) TaskID() string {
	panic("not implemented")
}

// EncodeSnapshotTask and DecodeSnapshotTask convert the task payload.
func EncodeSnapshotTask(t *SnapshotTask) ([]byte, error) { panic("not implemented") }

// DecodeSnapshotTask decodes a TypeSnapshot payload.
func DecodeSnapshotTask(p []byte) (*SnapshotTask, error) { panic("not implemented") }

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
}

// Snapshot returns the snapshot progress of campaign c.
func (s *Store) Snapshot(ctx context.Context, c *Campaign) (*SnapshotInfo, error) {
	panic("not implemented")
}

// ErrSnapshotTakenOver is returned by SnapshotRun.Checkpoint when another
// run (a worker that took over the task after this one was thought dead)
// owns the segment's snapshot now: this run must stop without writing.
var ErrSnapshotTakenOver = errors.New("snapshot taken over by another run")

// SnapshotRun is one run of the snapshot of one segment, in memory, while
// a worker lists the inventory. It starts from the last checkpoint, so a
// restarted worker continues and never starts over.
type SnapshotRun struct {
}

// BeginSnapshot starts (or continues from its checkpoint) the snapshot of
// segment seg of campaign c, as run token (random, per run): the run owns
// the segment's snapshot from now on, and an earlier run's checkpoints are
// refused.
func (s *Store) BeginSnapshot(ctx context.Context, c *Campaign, seg int, token string) (*SnapshotRun, error) {
	panic("not implemented")
}

// Done reports whether the segment's snapshot is complete already.
func (r *SnapshotRun) Done() bool { panic("not implemented") }

// Offset is the listing offset to continue from.
func (r *SnapshotRun) Offset() int { panic("not implemented") }

// Filter is the listing filter: the campaign's own query when it has one
// (it narrows the listing), else the whole inventory.
func (r *SnapshotRun) Filter() client.AssetFilter { panic("not implemented") }

// Add keeps the labels of the page's assets that belong to the segment
// and returns how many did. An asset seen twice (pages overlap) keeps the
// labels seen last.
func (r *SnapshotRun) Add(page []client.Asset) int { panic("not implemented") }

// Checkpoint writes what Add kept since the last checkpoint and the offset
// to continue from, atomically.
func (r *SnapshotRun) Checkpoint(ctx context.Context, next int) error { panic("not implemented") }

// Complete writes the rest and marks the segment's snapshot complete,
// with its summary; then its batches may be enqueued (EnsureEnqueued).
func (r *SnapshotRun) Complete(ctx context.Context) error { panic("not implemented") }

// BatchLabels returns, for the IDs of batch b of campaign c (in the
// batch's order), the labels the snapshot found (listed[i] false: the
// asset was not in the inventory), or for a restore campaign the labels
// to put back (empty: nothing to restore). ready is false while the
// snapshot of the batch's segment is not complete.
func (s *Store) BatchLabels(ctx context.Context, c *Campaign, batch int, ids []int64) (labels [][]string, listed []bool, ready bool, err error) {
	panic("not implemented")
}

// AssetState is one asset of a campaign as EachAsset sees it.
type AssetState struct {
	Batch  int
	Record Record // Outcome "pending" while it has none
	// Listed and Labels are BatchLabels' answer for the asset: what the
	// snapshot found, or for a restore campaign the labels to put back.
	Listed bool
	Labels []string
}

// EachAsset calls fn for every asset of campaign c, batch by batch in ID
// order, with its ledger record and its snapshot. It fails with
// ErrNoSnapshot when a segment's snapshot is not complete (or was never
// taken) and c is not a restore campaign.
func (s *Store) EachAsset(ctx context.Context, c *Campaign, fn func(AssetState) error) error {
	panic("not implemented")
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
}

// SnapshotFormat names the export format in its header.
const SnapshotFormat = "labelreset-snapshot/1"

// SnapshotLine is one asset of an exported snapshot.
type SnapshotLine struct {
	AssetID int64    `json:"asset_id"`
	Labels  []string `json:"labels"`
}
