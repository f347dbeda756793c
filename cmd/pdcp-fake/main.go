// Command pdcp-fake serves the fake PDCP asset-label API of package
// pdcpfake on a TCP address, for demos and out-of-process tests.
//
//	pdcp-fake --addr 127.0.0.1:8085 --assets 100000 --fail-fraction 0.01
//
// Admin endpoints (/_fake/stats, /_fake/calls, /_fake/labels, /_fake/config) are described
// in the pdcpfake package documentation.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "pdcp-fake:", err)
		os.Exit(2)
	}
}

// run parses args, serves until ctx ends and shuts down gracefully.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("pdcp-fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o       pdcpfake.Options
		addr    = fs.String("addr", "127.0.0.1:8085", "listen address (port 0 picks a free port)")
		idsFile = fs.String("ids-file", "", "file with additional asset IDs, one per line (# comments allowed)")
	)
	fs.IntVar(&o.Assets, "assets", 1000, "number of seeded assets")
	fs.Int64Var(&o.FirstID, "first-id", 1, "first seeded asset ID")
	fs.StringVar(&o.APIKey, "api-key", "test-key", "required X-Api-Key value")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of all random decisions")
	fs.IntVar(&o.LabelsPerAsset, "labels-per-asset", 3, "seeded labels per asset")
	fs.Float64Var(&o.FailFraction, "fail-fraction", 0, "fraction of assets answering --fail-status")
	fs.IntVar(&o.FailTimes, "fail-times", 1, "failures per failing asset before success (<0: always)")
	fs.IntVar(&o.FailStatus, "fail-status", 500, "status of failing assets")
	fs.Float64Var(&o.InvalidFraction, "invalid-fraction", 0, "fraction of assets answering 400 INVALID_ID")
	fs.Float64Var(&o.ThrottleFraction, "throttle-fraction", 0, "fraction of label calls answering 429")
	fs.StringVar(&o.RetryAfter, "retry-after", "", "Retry-After value of 429 answers")
	fs.Float64Var(&o.RateLimit, "rate-limit", 0, "server-wide label calls per second before 429 (0 = off)")
	fs.IntVar(&o.RateBurst, "rate-burst", 0, "token bucket burst (default rate/10)")
	fs.DurationVar(&o.Latency, "latency", 0, "added latency per label call")
	fs.DurationVar(&o.LatencyJitter, "latency-jitter", 0, "uniform extra latency 0..jitter")
	fs.Float64Var(&o.ResetFraction, "reset-fraction", 0, "fraction of label calls whose connection is reset")
	fs.Float64Var(&o.TruncateFraction, "truncate-fraction", 0, "fraction of label calls answering a truncated 500")
	fs.IntVar(&o.UnauthorizedAfter, "unauthorized-after", 0, "answer 401 after this many label calls (0 = off)")
	fs.StringVar(&o.Labels, "labels", "", `seeded labels: "" (--labels-per-asset from the default vocabulary), "varied" (0-5 labels with spaces, commas, quotes, non-ASCII) or "bench" (80% of assets 1-4 Zipf-drawn of 50 labels)`)
	fs.IntVar(&o.ListLimitCap, "list-limit-cap", 0, "silently cap a listing's limit to this many rows (0 = 1000)")
	fs.Float64Var(&o.ListFailFraction, "list-fail-fraction", 0, "fraction of listing requests answering 500 (429 with --list-throttle)")
	fs.BoolVar(&o.ListThrottle, "list-throttle", false, "failing listing requests answer 429 with Retry-After instead of 500")
	fs.Float64Var(&o.EditAfterReset, "edit-after-reset", 0, "fraction of successful resets after which --edit-label is added to the asset")
	fs.StringVar(&o.EditLabel, "edit-label", "edited-later", "label added by --edit-after-reset")
	fs.BoolVar(&o.NoLog, "no-log", false, "do not keep the per-call log")
	fs.IntVar(&o.BulkAsyncAbove, "bulk-async-above", 0, `a bulk call matching more assets than this answers "async": true and applies after --bulk-async-delay (0 = never)`)
	fs.DurationVar(&o.BulkAsyncDelay, "bulk-async-delay", pdcpfake.DefaultBulkAsyncDelay, "when an async bulk change is applied")
	fs.Float64Var(&o.BulkSkipFraction, "bulk-skip-fraction", 0, "fraction of matching assets every bulk call leaves unchanged (by hash of seed and asset ID)")
	fs.DurationVar(&o.BulkLateDelay, "bulk-late-delay", 0, "a bulk call that is not async answers at once but applies its change after this delay (0 = at once)")
	fs.IntVar(&o.BulkFailStatus, "bulk-fail-status", 0, "answer this status to every bulk call and change nothing (0 = off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch o.Labels {
	case pdcpfake.LabelsDefault, pdcpfake.LabelsVaried, pdcpfake.LabelsBench:
	default:
		return fmt.Errorf("--labels %q: use varied, bench or leave it empty", o.Labels)
	}
	if *idsFile != "" {
		ids, err := readIDs(*idsFile)
		if err != nil {
			return err
		}
		o.AssetIDs = ids
	}
	fake := pdcpfake.New(o)
	defer fake.Close() // after the server's shutdown: no bulk call can defer a change then
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "pdcp-fake listening on http://%s (%d assets)\n", ln.Addr(), fake.AssetCount())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// readIDs reads one int64 per line; blank lines and # comments are skipped.
func readIDs(path string) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []int64
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not an asset ID", path, line)
		}
		ids = append(ids, id)
	}
	return ids, sc.Err()
}
