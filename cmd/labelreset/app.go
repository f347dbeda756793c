package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
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
	// dials holds the dial aborter of each Redis client connect made, for
	// closeRedis.
	dials map[redis.UniversalClient]*jobs.DialAborter
	// inflight holds the Redis reads that bounded gave up on; closeRedis
	// ends them by closing their connections and waits for them.
	inflight sync.WaitGroup
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
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
		{"events", "CAMPAIGN [--json]", "show who changed a campaign's state, when, from what to what", (*app).cmdEvents},
		{"approve", "CAMPAIGN", "release a pending campaign", controlCmd("approve")},
		{"pause", "CAMPAIGN", "stop new calls for a campaign, keep everything", controlCmd("pause")},
		{"resume", "CAMPAIGN", "continue a paused, blocked or stopped campaign", controlCmd("resume")},
		{"cancel", "CAMPAIGN", "stop a campaign for good; unfinished assets become cancelled", controlCmd("cancel")},
		{"retry", "CAMPAIGN [--outcome failed,invalid]", "re-drive assets with those outcomes", (*app).cmdRetry},
		{"serve", "[--addr :8080]", "run the HTTP trigger API (CSV import, campaign control)", (*app).cmdServe},
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
`

func (a *app) usage() {
	fmt.Fprintf(a.stderr, "labelreset %s — reset PDCP asset labels in bulk\n\nUsage: labelreset COMMAND [flags]\n\nCommands:\n", client.Version)
	for _, c := range commands {
		fmt.Fprintf(a.stderr, "  %-10s %s\n", c.name, c.short)
	}
	fmt.Fprintf(a.stderr, "\nRun 'labelreset COMMAND --help' for a command's flags.\n\n%s", examples)
}

func (a *app) main(ctx context.Context, args []string) int {
	a.log = newLogger(a.stderr, a.getenv("LABELRESET_LOG_LEVEL"), a.getenv("LABELRESET_LOG_FORMAT"))
	if len(args) == 0 {
		a.usage()
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		a.usage()
		return exitOK
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
		errors.Is(err, jobs.ErrStrict), errors.Is(err, jobs.ErrInputMismatch):
		fmt.Fprintln(a.stderr, "labelreset:", err)
		return exitUsage
	}
	fmt.Fprintln(a.stderr, "labelreset:", err)
	return exitFailed
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil || level == "" {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if strings.EqualFold(format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parseFlags parses flags that may come before or after positional
// arguments ("status CAMPAIGN --json").
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// newFlagSet returns a FlagSet that prints its usage with the command's
// synopsis.
func (a *app) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		for _, c := range commands {
			if c.name == name {
				fmt.Fprintf(a.stderr, "Usage: labelreset %s %s\n\n%s.\n\nFlags:\n", c.name, c.args, c.short)
			}
		}
		fs.PrintDefaults()
		fmt.Fprintf(a.stderr, "\n%s", examples)
	}
	return fs
}

// redisFlags are the connection flags every Redis-using command has.
type redisFlags struct {
	url       string
	namespace string
}

func (a *app) addRedisFlags(fs *flag.FlagSet) *redisFlags {
	r := &redisFlags{}
	fs.StringVar(&r.url, "redis", a.getenv("REDIS_URL"), "Redis URL: redis://, rediss://, redis-sentinel://host:26379/master, redis-cluster://h1,h2 (env REDIS_URL)")
	fs.StringVar(&r.namespace, "namespace", envOr(a.getenv, "LABELRESET_NAMESPACE", jobs.DefaultNamespace), "key and queue namespace (env LABELRESET_NAMESPACE)")
	return r
}

// connect opens the configured Redis; without a URL it fails with a
// message saying how to configure one.
func (a *app) connect(ctx context.Context, r *redisFlags) (*redis.UniversalOptions, redis.UniversalClient, error) {
	if r.url == "" {
		return nil, nil, usagef("no Redis configured: pass --redis URL or set REDIS_URL (only 'run' has an embedded Redis)")
	}
	opts, err := jobs.ParseRedisURL(r.url)
	if err != nil {
		return nil, nil, usageError{err}
	}
	rdb := redis.NewUniversalClient(opts)
	dials := jobs.NewDialAborter()
	rdb.AddHook(dials)
	if err := rdb.Ping(ctx).Err(); err != nil {
		dials.Abort()
		rdb.Close()
		return nil, nil, fmt.Errorf("redis %s: %w", jobs.RedactURL(r.url), err)
	}
	if a.dials == nil {
		a.dials = map[redis.UniversalClient]*jobs.DialAborter{}
	}
	a.dials[rdb] = dials
	return opts, rdb, nil
}

// closeRedis closes a client made by connect without waiting for its
// dials in flight: with Redis (or every sentinel) down, Close would wait
// for each queued dial in turn, and a stop would outlast
// --shutdown-timeout by minutes.
func (a *app) closeRedis(rdb redis.UniversalClient) {
	if d := a.dials[rdb]; d != nil {
		d.Abort()
	}
	rdb.Close()
	// Reads abandoned by bounded fail once their connections are closed.
	if !waitGroupFor(&a.inflight, time.Second) {
		a.log.Warn("Redis reads abandoned at the stop did not end within 1s of closing the connection")
	}
}

// apiFlags are the PDCP client flags.
type apiFlags struct {
	server, key, team, credentials string
	insecureHTTP                   bool
}

func (a *app) addAPIFlags(fs *flag.FlagSet) *apiFlags {
	f := &apiFlags{}
	fs.StringVar(&f.server, "api-server", "", "PDCP API server (env PDCP_API_SERVER, default "+client.DefaultServer+")")
	fs.StringVar(&f.key, "api-key", "", "PDCP API key (env PDCP_API_KEY or ~/.pdcp/credentials.yaml; prefer those: flags show in ps)")
	fs.StringVar(&f.team, "team-id", "", "PDCP team ID sent as X-Team-Id (env PDCP_TEAM_ID)")
	fs.StringVar(&f.credentials, "credentials", client.DefaultCredentialsPath(), "ProjectDiscovery credentials file")
	fs.BoolVar(&f.insecureHTTP, "insecure-http", envBool(a.getenv, "LABELRESET_INSECURE_HTTP"), "allow a plain http:// API server that is not loopback (env LABELRESET_INSECURE_HTTP)")
	return f
}

func (f *apiFlags) resolve(getenv func(string) string, conc int) (client.Config, error) {
	return client.ResolveConfig(client.Config{
		APIKey: f.key, Server: f.server, TeamID: f.team, AllowInsecureHTTP: f.insecureHTTP, MaxConns: conc,
	}, getenv, f.credentials)
}

// defaultTeam is the team a producer records in campaigns that name none:
// flag, PDCP_TEAM_ID, then the credentials file, as for the PDCP client.
// Workers send the recorded team, never their own.
func (a *app) defaultTeam(flag, credentials string) (string, error) {
	team, err := client.ResolveTeamID(flag, a.getenv, credentials)
	if err == nil {
		err = jobs.CheckTeamID(team)
	}
	if err != nil {
		return "", usageError{err}
	}
	return team, nil
}

// apiServer is the PDCP API server a producer records in its campaigns:
// flag, PDCP_API_SERVER, then the credentials file, else the default, in
// client.NormalizeServer's form. Workers for another server leave those
// campaigns alone.
func (a *app) apiServer(flag, credentials string) (string, error) {
	s, err := client.ResolveServer(flag, a.getenv, credentials)
	if err != nil {
		return "", usageError{err}
	}
	return s, nil
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

func envBool(getenv func(string) string, k string) bool {
	switch strings.ToLower(getenv(k)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// quietRedisLog routes go-redis' internal logging (pool and dial trouble,
// printed with the standard logger ahead of, and repeating, the one clear
// error a command reports) to a debug-level logger. It sets a process
// global, so only main calls it, before anything else runs.
func quietRedisLog(stderr io.Writer, getenv func(string) string) {
	redis.SetLogger(redisLog{newLogger(stderr, getenv("LABELRESET_LOG_LEVEL"), getenv("LABELRESET_LOG_FORMAT"))})
}

// redisLog is go-redis' internal logger, at debug level.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}
