package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSnapshotRewriteLeavesOtherFiles: run rewrites its snapshot file only
// while it is the file run wrote: one replaced or edited since is left as
// it is, and no temporary file stays behind.
func TestSnapshotRewriteLeavesOtherFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, path string)
	}{
		{"replaced", func(t *testing.T, path string) {
			other := path + ".new"
			if err := os.WriteFile(other, []byte("someone else's"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"edited", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
				t.Fatal(err)
			}
			later := time.Now().Add(time.Minute)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s.jsonl")
			if err := os.WriteFile(path, []byte("run's"), 0o600); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			s := &snapshotFileWriter{path: path, written: true, file: fi}
			tc.change(t, path)
			if err := s.rewrite(context.Background(), nil); !errors.Is(err, errSnapshotFileChanged) {
				t.Errorf("rewrite of a %s file: %v, want errSnapshotFileChanged", tc.name, err)
			}
			if b, _ := os.ReadFile(path); string(b) != "someone else's" {
				t.Errorf("the %s file now holds %q", tc.name, b)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("%d files in the directory, want only the snapshot file", len(ents))
			}
		})
	}
}
