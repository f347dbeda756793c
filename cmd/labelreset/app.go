package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
)

// Exit codes.
const (
	exitOK      = 0 // every asset ended reset or not_found
	exitFailed  = 1 // some ended invalid or failed (or a command failed)
	exitUsage   = 2 // usage or configuration error
	exitStopped = 3 // the campaign stopped before the end (blocked, stopped, cancelled)
)

// usageError marks errors that exit with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitError carries a specific exit code with a message already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// app is one invocation of the CLI, with its I/O injected so tests can run
// it in-process.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	log            *slog.Logger
	// live is stderr for the log and the progress bar: a log line written
	// while the bar is drawn goes above it.
	live *liveLine
	// stallAfter is status --watch's wait for an outcome before it looks
	// for a worker (tests shorten it).
	stallAfter time.Duration
	// dials holds the dial aborter of each Redis client connect made, for
	// closeRedis.
	dials map[redis.UniversalClient]*jobs.DialAborter
	// inflight holds the Redis reads that bounded gave up on; closeRedis
	// ends them by closing their connections and waits for them.
	inflight sync.WaitGroup
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, stallAfter: stallAfter}
}

type command struct {
	name, args, short string
	run               func(a *app, ctx context.Context, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"run", "[flags]", "submit, work and report a campaign in one process (embedded Redis by default)", (*app).cmdRun},
		{"submit", "[flags]", "validate input and enqueue a campaign", (*app).cmdSubmit},
		{"worker", "[flags]", "process batches until SIGINT/SIGTERM", (*app).cmdWorker},
		{"status", "CAMPAIGN [--json] [--watch]", "show a campaign's state and counts", (*app).cmdStatus},
		{"report", "CAMPAIGN [-o FILE] [--format csv|jsonl] [--only failed]", "write the per-asset report", (*app).cmdReport},
		{"campaigns", "[--json]", "list campaigns", (*app).cmdCampaigns},
		{"asset", "ID [--json]", "show an asset's outcome in every campaign that holds it", (*app).cmdAsset},
		{"events", "CAMPAIGN [--json]", "show who changed a campaign's state, when, from what to what", (*app).cmdEvents},
		{"approve", "CAMPAIGN", "release a pending campaign", controlCmd("approve")},
		{"pause", "CAMPAIGN", "stop new calls for a campaign, keep everything", controlCmd("pause")},
		{"resume", "CAMPAIGN", "continue a paused, blocked or stopped campaign", controlCmd("resume")},
		{"cancel", "CAMPAIGN", "stop a campaign for good; unfinished assets become cancelled", controlCmd("cancel")},
		{"retry", "CAMPAIGN [--outcome failed,invalid]", "re-drive assets with those outcomes", (*app).cmdRetry},
		{"snapshot", "CAMPAIGN [-o FILE] [--force]", "export the labels a campaign recorded before its resets (JSON lines)", (*app).cmdSnapshot},
		{"undo", "CAMPAIGN | --snapshot FILE [--yes] [--json] [--exact] [--dry-run]", "put back the labels a campaign removed (a restore campaign)", (*app).cmdUndo},
		{"verify", "CAMPAIGN [--report FILE] [--json] [--exact]", "list the inventory again and check each asset holds what the campaign intended", (*app).cmdVerify},
		{"serve", "[--addr :8080]", "run the HTTP API and the web console (/ui/)", (*app).cmdServe},
		{"scheduler", "--config FILE", "run scheduled cleanups", (*app).cmdScheduler},
		{"schedules", "--config FILE [--json]", "list schedules with next and last fire time", (*app).cmdSchedules},
		{"version", "", "print the version", func(a *app, _ context.Context, _ []string) error {
			fmt.Fprintln(a.stdout, "labelreset", client.Version)
			return nil
		}},
	}
}

const examples = `Examples:
  # See a whole campaign without a PDCP key (built-in fake PDCP, embedded Redis):
  labelreset run --demo

  # Reset the labels of the assets in a CSV, on one machine:
  export PDCP_API_KEY=...            # or ~/.pdcp/credentials.yaml
  labelreset run --csv retired.csv --rate 20 --report report.csv

  # Plan only: validate, de-duplicate, estimate; no call, nothing enqueued:
  labelreset submit --csv retired.csv --dry-run

  # Remove only some labels (PATCH ?update_type=delete):
  labelreset run --ids 101,102,103 --labels env:prod,critical

  # Scale out on a shared Redis:
  export REDIS_URL=redis://redis:6379/0
  labelreset submit --campaign q4-retire --csv retired.csv --yes
  labelreset worker --concurrency 64 --rate 50      # on as many machines as you like
  labelreset status q4-retire --watch
  labelreset report q4-retire --only failed -o failed.csv
  labelreset retry q4-retire --outcome failed

  # Take it back: the labels were recorded before the resets:
  labelreset undo q4-retire --dry-run
  labelreset undo q4-retire --yes
  labelreset verify q4-retire
`

func (a *app) usage() {
	fmt.Fprintf(a.stderr, "labelreset %s — reset PDCP asset labels in bulk\n\nUsage: labelreset COMMAND [flags]\n\nCommands:\n", client.Version)
	for _, c := range commands {
		fmt.Fprintf(a.stderr, "  %-10s %s\n", c.name, c.short)
	}
	fmt.Fprintf(a.stderr, "\nRun 'labelreset COMMAND --help' for a command's flags.\n\n%s", examples)
}

func (a *app) main(ctx context.Context, args []string) int {
	a.live = newLiveLine(a.stderr, isTerminal(a.stderr))
	a.log = newLogger(a.live, a.getenv("LABELRESET_LOG_LEVEL"), a.getenv("LABELRESET_LOG_FORMAT"))
	if len(args) == 0 {
		a.usage()
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		a.usage()
		return exitOK
	}
	if name == "--version" || name == "-version" {
		name = "version"
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(a, ctx, args[1:])
		return a.exitCode(err)
	}
	fmt.Fprintf(a.stderr, "labelreset: unknown command %q\n\n", name)
	a.usage()
	return exitUsage
}

func (a *app) exitCode(err error) int {
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue), errors.Is(err, client.ErrNoAPIKey), errors.Is(err, client.ErrConfig),
		errors.Is(err, jobs.ErrInvalidCampaignID), errors.Is(err, jobs.ErrInvalidCampaign), errors.Is(err, jobs.ErrUnknownOutcome),
		errors.Is(err, jobs.ErrStrict), errors.Is(err, jobs.ErrInputMismatch), errors.Is(err, jobs.ErrSourceRunning):
		fmt.Fprintln(a.stderr, "labelreset:", err)
		return exitUsage
	case errors.Is(err, jobs.ErrUndone):
		// A refusal, not a usage error: the same command was right before
		// the undo. The error names the restore campaign; say why.
		fmt.Fprintln(a.stderr, "labelreset:", err)
		fmt.Fprintln(a.stderr, "labelreset: its restore campaign puts the removed labels back; running this campaign again would remove them again")
		return exitFailed
	}
	fmt.Fprintln(a.stderr, "labelreset:", err)
	return exitFailed
}
