// Command bench measures labelreset's throughput and costs on this machine
// against the fake PDCP (in a separate process) and a real Redis, and
// prints one table (or, with --json, one JSON object).
//
//	go run ./cmd/bench                          # every phase, defaults
//	go run ./cmd/bench --phases ceiling,pipeline --rounds 5   # the ratio alone, 5 rounds
//	go run ./cmd/bench --json > bench.json
//	go run ./cmd/bench --phases pipeline --worker inprocess --cpuprofile cpu.out
//	go run ./cmd/bench --phases snapshot        # a 1M-asset snapshot (not a default phase)
//
// See BENCHMARKS.md for what each figure means and how it is measured.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		stop()
		os.Exit(0)
	}
	if err == nil {
		err = run(ctx, cfg, os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
