package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/jobs"
	"github.com/redis/go-redis/v9"
	"golang.org/x/term"
)

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
// arguments ("status CAMPAIGN --json"), then fills the flags not given
// from their environment variables (bindEnv).
func (a *app) parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
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
			return pos, bindEnv(fs, a.getenv)
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
		annotateEnv(fs)
		fs.PrintDefaults()
		if ex := commandExamples[name]; ex != "" {
			fmt.Fprintf(a.stderr, "\nExamples:\n%s", ex)
		}
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
	fs.StringVar(&r.url, "redis", "", "Redis URL: redis://, rediss://, redis-sentinel://host:26379/master, redis-cluster://h1,h2 (rediss-sentinel://, rediss-cluster:// for TLS)")
	fs.StringVar(&r.namespace, "namespace", jobs.DefaultNamespace, "key and queue namespace")
	return r
}

// connect opens the configured Redis; without a URL it fails with a
// message saying how to configure one.
func (a *app) connect(ctx context.Context, r *redisFlags) (*redis.UniversalOptions, redis.UniversalClient, error) {
	if r.url == "" {
		return nil, nil, usagef("no Redis configured: pass --redis URL or set REDIS_URL (only 'run' has an embedded Redis)")
	}
	if !strings.Contains(r.url, "://") {
		// "127.0.0.1:6379" is how redis-cli and most configs spell it.
		fixed := jobs.RedactURL("redis://" + r.url)
		return nil, nil, usagef("--redis %s (or REDIS_URL) is not a URL: did you mean %s? (rediss:// for TLS)",
			strings.TrimPrefix(fixed, "redis://"), fixed)
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
	fs.StringVar(&f.server, "api-server", "", "PDCP API server (env PDCP_API_SERVER, then the credentials file, default "+client.DefaultServer+")")
	fs.StringVar(&f.key, "api-key", "", "PDCP API key (env PDCP_API_KEY or ~/.pdcp/credentials.yaml; prefer those: flags show in ps)")
	fs.StringVar(&f.team, "team-id", "", "PDCP team ID sent as X-Team-Id (env PDCP_TEAM_ID, then the credentials file)")
	fs.StringVar(&f.credentials, "credentials", client.DefaultCredentialsPath(), "ProjectDiscovery credentials file")
	fs.BoolVar(&f.insecureHTTP, "insecure-http", false, "allow a plain http:// API server that is not loopback")
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

// isTerminal reports whether w is a terminal (a character device alone
// may be /dev/null, which draws no bar and answers no prompt).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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

// connectRetry is connect for long-running processes: Redis may come up
// after them (compose, Kubernetes), so an unreachable Redis is retried
// until ctx ends instead of failing at once.
func (a *app) connectRetry(ctx context.Context, rf *redisFlags) (*redis.UniversalOptions, redis.UniversalClient, error) {
	retries := backoff.New(backoff.Policy{Base: 500 * time.Millisecond, Cap: 10 * time.Second})
	for {
		opts, rdb, err := a.connect(ctx, rf)
		var ue usageError
		if err == nil || errors.As(err, &ue) {
			return opts, rdb, err
		}
		delay := retries.Next()
		a.log.Warn("Redis not reachable yet; retrying", "err", err, "retry_in", delay)
		if backoff.Sleep(ctx, delay) != nil {
			return nil, nil, err
		}
	}
}

func (a *app) writeJSON(v any) error { return writeJSONTo(a.stdout, v) }

// writeJSONTo writes v as indented JSON. It keeps <, > and & as they are:
// the output is read by people and programs, never embedded in HTML, and
// "\u003c" in an error message or a file name only hides what it says.
func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// storeFor connects and returns a store plus its closer.
func (a *app) storeFor(ctx context.Context, rf *redisFlags) (*jobs.Store, func(), error) {
	_, rdb, err := a.connect(ctx, rf)
	if err != nil {
		return nil, nil, err
	}
	return jobs.NewStore(rdb, jobs.StoreOptions{Namespace: rf.namespace, Actor: jobs.CLIActor()}), func() { rdb.Close() }, nil
}

// campaignArgs parses the flags of a command that takes one CAMPAIGN
// argument and connects to its store.
func (a *app) campaignArgs(ctx context.Context, fs *flag.FlagSet, rf *redisFlags, args []string) (string, *jobs.Store, func(), error) {
	pos, err := a.parseFlags(fs, args)
	if err != nil {
		return "", nil, nil, err
	}
	id, err := oneCampaign(pos)
	if err != nil {
		return "", nil, nil, err
	}
	store, closeFn, err := a.storeFor(ctx, rf)
	if err != nil {
		return "", nil, nil, err
	}
	return id, store, closeFn, nil
}

func oneCampaign(pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("want exactly one CAMPAIGN argument, got %d", len(pos))
	}
	if err := jobs.ValidateCampaignID(pos[0]); err != nil {
		return "", usageError{err}
	}
	return pos[0], nil
}
