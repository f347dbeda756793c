package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/labelreset/labelreset/jobs"
)

func (a *app) cmdReport(ctx context.Context, args []string) error {
	fs := a.newFlagSet("report")
	rf := a.addRedisFlags(fs)
	out := fs.String("o", "-", "output file (- = stdout)")
	format := fs.String("format", "csv", "csv or jsonl")
	only := fs.String("only", "", "only these outcomes (comma-separated: reset,not_found,invalid,failed,cancelled,not_in_inventory,restored,unchanged,pending)")
	id, store, closeFn, err := a.campaignArgs(ctx, fs, rf, args)
	if err != nil {
		return err
	}
	defer closeFn()
	f, err := jobs.ParseReportFormat(*format)
	if err != nil {
		return usageError{err}
	}
	n, err := a.writeReport(ctx, store, id, *out, f, splitList(*only))
	if err != nil {
		return err
	}
	if *out != "-" {
		fmt.Fprintf(a.stderr, "report of %s: %d rows written to %s\n", id, n, *out)
	}
	return nil
}

// writeReport writes atomically to a file (temp + rename) or to stdout.
func (a *app) writeReport(ctx context.Context, store *jobs.Store, id, path string, f jobs.ReportFormat, only []string) (int64, error) {
	if path == "-" || path == "" {
		return store.WriteReport(ctx, id, a.stdout, f, only)
	}
	tmp, err := os.CreateTemp(dirOf(path), ".labelreset-report-*")
	if err != nil {
		return 0, fmt.Errorf("report %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	n, err := store.WriteReport(ctx, id, tmp, f, only)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("report %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("report %s: %w", path, err)
	}
	return n, nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
