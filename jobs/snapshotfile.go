// The snapshot file: a campaign's snapshot exported as JSON lines (a
// header, then one line per asset found in the inventory), and read back
// by `undo --snapshot FILE` when the Redis that held the campaign is gone
// (the embedded one of `run`).

package jobs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/labelreset/labelreset/jobs/idfile"
)

// maxSnapshotLine bounds one line of a snapshot file: an asset's labels
// are far below it (PDCP labels are short and few), so a longer line is a
// wrong file, and the bound keeps a reader's memory per line small.
const maxSnapshotLine = 1 << 20

// ExportSnapshot writes campaign id's snapshot as JSON lines: the header,
// then one line per asset found in the inventory, in ID order. It returns
// the number of asset lines. A campaign whose appended segments' snapshots
// never completed (an append cancelled before its snapshot ran) exports
// its complete segments, the header counting the others
// (IncompleteSegments): none of their assets was ever called.
//
// It streams (EachAsset): memory does not grow with the campaign. The
// header's asset count comes from the snapshot's summary, which is
// written with the snapshot and never changes once it is complete; a
// campaign whose lines do not add up to it (its data changed under the
// export) is an error after the last line.
func (s *Store) ExportSnapshot(ctx context.Context, id string, w io.Writer) (int64, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	info, err := s.snapshotReady(ctx, c)
	if err != nil {
		return 0, err
	}
	hdr := SnapshotHeader{
		Format: SnapshotFormat, Campaign: c.ID, Mode: c.Mode, TeamID: c.TeamID, Server: c.Server,
		TakenAt: info.FinishedAt, Assets: info.WithLabels + info.WithoutLabels,
		IncompleteSegments: info.Segments - info.SegmentsDone,
	}
	if !info.Complete {
		if hdr.TakenAt, err = s.lastSegmentDone(ctx, c); err != nil {
			return 0, err
		}
	}
	if c.Mode == ModeRemove {
		hdr.Labels = c.Labels
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	// Labels are written as they are: "<", ">" and "&" need no escaping
	// in a file that no browser renders.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&hdr); err != nil {
		return 0, fmt.Errorf("export snapshot of campaign %s: %w", id, err)
	}
	// After an express campaign's bulk call every listed asset may have
	// been changed (collectRestore): its line says reset whatever its
	// outcome.
	bulk, err := s.bulkMayHaveChanged(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("export snapshot of campaign %s: %w", id, err)
	}
	var n int64
	line := SnapshotLine{}
	err = s.eachAsset(ctx, c, true, func(a AssetState) error {
		if !a.Listed {
			return nil
		}
		line.AssetID, line.Labels, line.Reset = a.Record.AssetID, a.Labels, nil
		if a.Record.Outcome != OutcomePending || bulk {
			called := bulk || mayHaveBeenCalled(a.Record, false)
			line.Reset = &called
		}
		if line.Labels == nil {
			line.Labels = []string{}
		}
		n++
		return enc.Encode(&line)
	})
	if err != nil {
		return n, fmt.Errorf("export snapshot of campaign %s: %w", id, err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export snapshot of campaign %s: %w", id, err)
	}
	if n != hdr.Assets {
		return n, fmt.Errorf("export snapshot of campaign %s: wrote %d assets but its header says %d: the campaign's data changed during the export",
			id, n, hdr.Assets)
	}
	return n, nil
}

// snapshotReady returns the snapshot summary of campaign c, or
// ErrNoSnapshot (wrapped, saying why) when c has no complete snapshot of
// any segment. Segments whose snapshot is not complete may remain (an
// append whose snapshot is running, or stopped for good because the
// campaign was cancelled): none of their batches was ever enqueued (a
// batch waits for its segment's snapshot), so PDCP changed nothing of
// their assets, and undo and export work on the complete segments
// (eachAsset with partial).
func (s *Store) snapshotReady(ctx context.Context, c *Campaign) (*SnapshotInfo, error) {
	switch {
	case c.Mode == ModeRestore:
		return nil, noSnapshotf("campaign %s is a restore campaign: it puts labels back and takes no snapshot, so it has none to undo or export", c.ID)
	case !c.Snapshot:
		return nil, noSnapshotf("campaign %s was created with --no-snapshot: it has no snapshot, so it cannot be undone", c.ID)
	}
	info, err := s.Snapshot(ctx, c)
	if err != nil {
		return nil, err
	}
	if info.SegmentsDone == 0 {
		// No batch of a segment is enqueued before its snapshot is
		// complete: nothing of the campaign was called.
		return nil, noSnapshotf("campaign %s has nothing to undo yet: its snapshot is still being taken (%d of %d segments done), "+
			"and no asset is reset before it completes; to stop the campaign, run: labelreset cancel %s",
			c.ID, info.SegmentsDone, info.Segments, c.ID)
	}
	return info, nil
}

// lastSegmentDone is when the last complete segment of c's snapshot
// completed: the time of a partial snapshot.
func (s *Store) lastSegmentDone(ctx context.Context, c *Campaign) (time.Time, error) {
	metas, err := s.snapMetas(ctx, c)
	if err != nil {
		return time.Time{}, err
	}
	var last time.Time
	for _, m := range metas {
		if m.done.After(last) {
			last = m.done
		}
	}
	return last, nil
}

// labelSets interns the label sets of a snapshot file while it is read,
// by their JSON text: lines with the same set share one []string (callers
// only read Labels). A campaign's assets hold few distinct sets, so a
// file of a million lines holds a million slice headers and a few sets,
// not a million copies.
type labelSets map[string][]string

// resetValues are the shared targets of SnapshotLine.Reset in lines read
// from files: false and true. Callers only read them.
var resetValues = [2]bool{false, true}

// maxInternedSets bounds the interning map: a file of mostly distinct
// sets (nothing to share) must not hold a second copy of each.
const maxInternedSets = 1 << 16

// ReadSnapshot reads an exported snapshot (gzip or plain) named name,
// for messages: a bad line is an error naming the file, line and value.
//
// The header must be the first line and name SnapshotFormat; every other
// non-blank line must be an object with an integer asset_id > 0 and a
// labels array, and no asset may appear twice. A bad line is an
// *idfile.BadRow (`file:line: "value": reason`). Lines longer than 1 MiB
// are refused, so a wrong file cannot make the reader hold it whole in one
// line.
func ReadSnapshot(r io.Reader, name string) (*SnapshotHeader, []SnapshotLine, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	src := io.Reader(br)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: reading gzip data: %w", name, err)
		}
		defer gz.Close()
		src = gz
	}
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 0, 64<<10), maxSnapshotLine)
	bad := func(line int, value, reason string) error {
		return &idfile.BadRow{File: name, Line: line, Value: value, Reason: reason}
	}
	var hdr *SnapshotHeader
	var lines []SnapshotLine
	// A bitmap, not a map of line numbers: a few bits per asset instead
	// of tens of bytes. A duplicate (rare: a wrong file) finds its first
	// line again by scanning lines.
	seen := NewIDSet()
	var blanks []int // file lines of blank lines after the header, ascending
	lineNo := func(id int64) int {
		for i, l := range lines {
			if l.AssetID == id {
				line := i + 2 // the header is line 1
				for _, b := range blanks {
					if b <= line {
						line++
					}
				}
				return line
			}
		}
		return 0
	}
	sets := labelSets{}
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSpace(sc.Bytes())
		if n == 1 {
			h, err := parseSnapshotHeader(b)
			if err != nil {
				return nil, nil, bad(n, string(b), err.Error())
			}
			hdr = h
			continue
		}
		if len(b) == 0 {
			blanks = append(blanks, n)
			continue
		}
		l, err := parseSnapshotLine(b, sets)
		if err != nil {
			return nil, nil, bad(n, err.value(string(b)), err.reason)
		}
		if !seen.Add(l.AssetID) {
			return nil, nil, bad(n, strconv.FormatInt(l.AssetID, 10), fmt.Sprintf("asset ID also on line %d: an asset appears once", lineNo(l.AssetID)))
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, fmt.Errorf("%s:%d: line longer than %d bytes: not a snapshot line", name, n+1, maxSnapshotLine)
		}
		return nil, nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	if hdr == nil {
		return nil, nil, fmt.Errorf("%s: empty file: want a %s header line", name, SnapshotFormat)
	}
	if hdr.Assets != int64(len(lines)) {
		return nil, nil, fmt.Errorf("%s: the header says %d assets, the file has %d: the file is truncated or was edited",
			name, hdr.Assets, len(lines))
	}
	return hdr, lines, nil
}

// parseSnapshotHeader checks the first line of a snapshot file.
func parseSnapshotHeader(b []byte) (*SnapshotHeader, error) {
	var h SnapshotHeader
	if err := json.Unmarshal(b, &h); err != nil || h.Format == "" {
		return nil, fmt.Errorf("not a snapshot header: the first line must be the %s header", SnapshotFormat)
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	return &h, nil
}

// validate checks what a restore needs of a header: the format, and a
// mode that says which labels the campaign removed.
func (h *SnapshotHeader) validate() error {
	if h.Format != SnapshotFormat {
		return fmt.Errorf("snapshot format %q: this version reads %s", h.Format, SnapshotFormat)
	}
	switch h.Mode {
	case ModeDelete, ModeRemove:
	default:
		return fmt.Errorf("mode %q: want delete or remove", h.Mode)
	}
	if h.Mode == ModeRemove && len(h.Labels) == 0 {
		return errors.New("remove mode without the removed labels")
	}
	if h.Assets < 0 {
		return fmt.Errorf("assets %d: want >= 0", h.Assets)
	}
	return nil
}

// lineError is why a snapshot line is bad; field, when set, is the
// offending value to show instead of the whole line.
type lineError struct {
	field  string
	reason string
}

func (e *lineError) value(line string) string {
	if e.field != "" {
		return e.field
	}
	return line
}

// parseSnapshotLine decodes one asset line.
func parseSnapshotLine(b []byte, sets labelSets) (SnapshotLine, *lineError) {
	var raw struct {
		AssetID json.RawMessage `json:"asset_id"`
		Labels  json.RawMessage `json:"labels"`
		Reset   *bool           `json:"reset"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return SnapshotLine{}, &lineError{reason: "not a JSON object {\"asset_id\":N,\"labels\":[...]}: " + err.Error()}
	}
	if raw.AssetID == nil {
		return SnapshotLine{}, &lineError{reason: "no asset_id"}
	}
	id, err := strconv.ParseInt(string(raw.AssetID), 10, 64)
	if err != nil || id <= 0 {
		return SnapshotLine{}, &lineError{field: string(raw.AssetID), reason: "asset_id must be an integer > 0"}
	}
	noLabels := &lineError{reason: "no labels array (an asset without labels has \"labels\":[])"}
	if raw.Labels == nil || string(raw.Labels) == "null" {
		return SnapshotLine{}, noLabels
	}
	labels, ok := sets[string(raw.Labels)]
	if !ok {
		if err := json.Unmarshal(raw.Labels, &labels); err != nil {
			return SnapshotLine{}, &lineError{reason: "labels: want an array of strings: " + err.Error()}
		}
		if labels == nil {
			return SnapshotLine{}, noLabels
		}
		if len(sets) < maxInternedSets {
			sets[string(raw.Labels)] = labels
		}
	}
	reset := raw.Reset
	if reset != nil {
		// Shared: one allocation per line less.
		reset = &resetValues[0]
		if *raw.Reset {
			reset = &resetValues[1]
		}
	}
	return SnapshotLine{AssetID: id, Labels: labels, Reset: reset}, nil
}

// noSnapshotError is an ErrNoSnapshot whose text is the whole reason,
// without the sentinel's words tacked on.
type noSnapshotError struct{ msg string }

func (e *noSnapshotError) Error() string        { return e.msg }
func (e *noSnapshotError) Is(target error) bool { return target == ErrNoSnapshot }

func noSnapshotf(format string, args ...any) error {
	return &noSnapshotError{fmt.Sprintf(format, args...)}
}
