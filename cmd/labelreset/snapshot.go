package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/labelreset/labelreset/jobs"
)

// cmdSnapshot exports a campaign's snapshot as JSON lines (stdout, or a
// file that is never overwritten without --force).
func (a *app) cmdSnapshot(ctx context.Context, args []string) error {
	fs := a.newFlagSet("snapshot")
	rf := a.addRedisFlags(fs)
	out := fs.String("o", "-", "output file (- = stdout; a name ending in .gz is gzipped)")
	force := fs.Bool("force", false, "overwrite an existing -o file")
	id, store, closeFn, err := a.campaignArgs(ctx, fs, rf, args)
	if err != nil {
		return err
	}
	defer closeFn()
	if *out == "-" || *out == "" {
		bw := bufio.NewWriterSize(a.stdout, 64<<10)
		if _, err := store.ExportSnapshot(ctx, id, bw); err != nil {
			return fmt.Errorf("snapshot of %s: %w", id, err)
		}
		return bw.Flush()
	}
	n, err := writeSnapshotFile(ctx, store, id, *out, *force)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "snapshot of %s: %d assets written to %s\n", id, n, *out)
	return nil
}

// errFileExists marks an output file that exists and may not be
// overwritten.
var errFileExists = errors.New("file exists")

// writeSnapshotFile exports campaign id's snapshot to path, gzipped when
// path ends in .gz, readable by its owner only (labels may be sensitive).
// Without force an existing file is refused (O_EXCL: also one created
// meanwhile): a snapshot file may be the only copy of a campaign's
// labels. A failed export removes the file it created.
func writeSnapshotFile(ctx context.Context, store *jobs.Store, id, path string, force bool) (int64, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return 0, usageError{fmt.Errorf("snapshot file %s: %w: it is not overwritten (choose another name, or --force)", path, errFileExists)}
	}
	if err != nil {
		return 0, fmt.Errorf("snapshot file: %w", err)
	}
	n, err := exportTo(ctx, store, id, f, strings.HasSuffix(path, ".gz"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return n, fmt.Errorf("snapshot of %s to %s: %w", id, path, err)
	}
	return n, nil
}

// exportTo writes the export to f, gzipped or not, and syncs it: the file
// outlives the Redis that held the snapshot.
func exportTo(ctx context.Context, store *jobs.Store, id string, f *os.File, gz bool) (int64, error) {
	var w io.Writer = f
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(f)
		w = zw
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	n, err := store.ExportSnapshot(ctx, id, bw)
	if err == nil {
		err = bw.Flush()
	}
	if zw != nil {
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = f.Sync()
	}
	return n, err
}

// fileExists reports whether path names something already (a file run
// would refuse to overwrite).
func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
