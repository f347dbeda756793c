package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// config holds the command-line settings of one bench run.
type config struct {
	redisURL      string
	concurrency   int
	rounds        int
	ceilingGC     int
	assets        int           // pipeline and peer campaign size
	enqueueIDs    int           // IDs of the enqueue phase's CSV
	ceilingFor    time.Duration // length of the ceiling loop
	rssConc       int           // worker concurrency of the RSS phase
	workerMode    string        // subprocess or inprocess
	phases        []string
	jsonOut       bool
	cpuProfile    string
	keepWorkerLog bool
	labelresetBin string // prebuilt labelreset, instead of building this tree's
	// snapshotAssets is the inventory and campaign size of the snapshot
	// phase.
	snapshotAssets int
}

var allPhases = []string{"ceiling", "pipeline", "peer", "enqueue", "rss", "snapshot"}

// defaultPhases leaves out snapshot: it seeds a million-asset inventory
// in this process and takes minutes, and it answers a question of its own
// (--phases snapshot).
var defaultPhases = allPhases[:5]

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.redisURL, "redis", "redis://127.0.0.1:6379/9", "Redis URL; its DB is FLUSHDB'd before each phase but snapshot (which uses a namespace of its own and deletes it)")
	fs.IntVar(&c.concurrency, "concurrency", 64, "PDCP calls in flight, the same in every phase")
	fs.IntVar(&c.assets, "assets", 200_000, "assets of the pipeline and per-asset-task campaigns")
	fs.IntVar(&c.enqueueIDs, "enqueue-ids", 1_000_000, "IDs in the CSV of the enqueue phase")
	fs.DurationVar(&c.ceilingFor, "ceiling-for", 5*time.Second, "duration of the plain client loop")
	fs.IntVar(&c.rssConc, "rss-concurrency", 256, "worker --concurrency of the peak-RSS phase")
	fs.IntVar(&c.rounds, "rounds", 5, "ceiling/pipeline rounds (C P C P … C); the figures come from the round with the median ratio")
	fs.IntVar(&c.ceilingGC, "ceiling-gc-percent", 0, "GC target (GOGC) of this process, whose client loop is the ceiling; 0 leaves Go's default. "+
		"labelreset worker runs at 400 unless GOGC is set: pass 400 to compare like with like")
	fs.StringVar(&c.workerMode, "worker", "subprocess", "pipeline worker: subprocess (`labelreset worker`) or inprocess (worker.New + Run, for --cpuprofile)")
	phases := fs.String("phases", strings.Join(defaultPhases, ","), "phases to run, of "+strings.Join(allPhases, ","))
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON object instead of the table")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of this process per phase to FILE.<phase> (use --worker inprocess to profile the worker)")
	fs.BoolVar(&c.keepWorkerLog, "worker-log", false, "copy worker subprocess logs to stderr")
	fs.StringVar(&c.labelresetBin, "labelreset", "", "run this labelreset binary as the worker subprocess instead of building this tree's (to compare two builds on the same host)")
	fs.IntVar(&c.snapshotAssets, "snapshot-assets", 1_000_000, "inventory (and campaign) size of the snapshot phase")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, p := range strings.Split(*phases, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allPhases, p) {
			return nil, fmt.Errorf("phase %q: want some of %s", p, strings.Join(allPhases, ","))
		}
		c.phases = append(c.phases, p)
	}
	if c.workerMode != "subprocess" && c.workerMode != "inprocess" {
		return nil, fmt.Errorf("--worker %q: want subprocess or inprocess", c.workerMode)
	}
	if c.concurrency < 1 || c.assets < 1 || c.enqueueIDs < 1 || c.rounds < 1 || c.snapshotAssets < 1 {
		return nil, fmt.Errorf("--concurrency, --assets, --enqueue-ids, --rounds and --snapshot-assets must be positive")
	}
	return c, nil
}

func (c *config) has(phase string) bool { return slices.Contains(c.phases, phase) }

// needsProcesses reports whether a phase uses the built binaries and the
// fake PDCP process (every phase but snapshot).
func (c *config) needsProcesses() bool {
	return slices.ContainsFunc(c.phases, func(p string) bool { return p != "snapshot" })
}

// run builds the binaries, starts the fake PDCP and runs the phases in
// order, then prints the results.
func run(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }
	if cfg.ceilingGC != 0 {
		debug.SetGCPercent(cfg.ceilingGC)
	}
	env, err := newEnv(ctx, cfg, logf)
	if err != nil {
		return err
	}
	defer env.close()
	res := &results{
		Machine: machineInfo(ctx, env), Concurrency: cfg.concurrency, Assets: cfg.assets,
		EnqueueIDs: cfg.enqueueIDs, WorkerMode: cfg.workerMode, CeilingGCPercent: cfg.ceilingGC, Started: time.Now().UTC().Format(time.RFC3339),
	}
	for _, p := range cfg.phases {
		if err := ctx.Err(); err != nil {
			return err
		}
		logf("phase %s", p)
		start := time.Now()
		err = withProfile(cfg.cpuProfile, p, func() error {
			switch p {
			case "ceiling":
				if cfg.has("pipeline") {
					return env.ratioRounds(ctx, res)
				}
				s, err := env.ceiling(ctx)
				if err != nil {
					return err
				}
				res.addCeiling(s)
				res.CeilingRPS = s.RPS
				return nil
			case "pipeline":
				if cfg.has("ceiling") {
					return nil // measured in the ceiling phase's rounds
				}
				return env.pipeline(ctx, res)
			case "peer":
				return env.peer(ctx, res)
			case "enqueue":
				return env.enqueue(ctx, res)
			case "snapshot":
				return env.snapshot(ctx, res)
			default:
				return env.rss(ctx, res)
			}
		})
		if err != nil {
			return fmt.Errorf("phase %s: %w", p, err)
		}
		logf("phase %s took %v", p, time.Since(start).Round(time.Millisecond))
	}
	res.derive()
	if cfg.jsonOut {
		return res.writeJSON(stdout)
	}
	res.writeTable(stdout)
	return nil
}

// withProfile runs fn under a CPU profile written to path.phase (no
// profile when path is empty).
func withProfile(path, phase string, fn func() error) error {
	if path == "" {
		return fn()
	}
	f, err := os.Create(path + "." + phase)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return fn()
}
