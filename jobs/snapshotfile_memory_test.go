package jobs_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/labelreset/labelreset/jobs"
)

// snapshotFile is a snapshot file of n assets over 50 distinct label sets.
func snapshotFile(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"format":%q,"campaign":"m","mode":"delete","taken_at":"2026-01-01T00:00:00Z","assets":%d}`+"\n", jobs.SnapshotFormat, n)
	for i := 1; i <= n; i++ {
		k := i % 50
		fmt.Fprintf(&b, `{"asset_id":%d,"labels":["env-%d","team-%d","critical"],"reset":true}`+"\n", i, k, k%7)
	}
	return b.Bytes()
}

// TestReadSnapshotMemory: the lines ReadSnapshot holds share their label
// sets, so memory per line is the line itself (ID, slice header, reset
// flag) and not a copy of its labels. Measured as live heap after a GC
// while the lines are held.
func TestReadSnapshotMemory(t *testing.T) {
	const n = 200_000
	file := snapshotFile(n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, lines, err := jobs.ReadSnapshot(bytes.NewReader(file), "m.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perLine := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	runtime.KeepAlive(lines)
	runtime.KeepAlive(file)
	t.Logf("%d lines, 50 label sets: %.0f bytes/line held", len(lines), perLine)
	if perLine > 100 {
		t.Fatalf("%.0f bytes per line held, want at most 100 (label sets interned)", perLine)
	}
}
