package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
)

// addPreflightFlag adds --no-preflight. It is a safety switch, so it has
// no environment variable: skipping the check is decided per command line.
func addPreflightFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("no-preflight", false, "skip the one read-only PDCP call (GET /v1/asset/enumerate/contents?limit=1) that checks the API server, key and team before anything is enqueued")
}

// preflight checks the API server with one read-only call before a
// campaign is enqueued, so that a wrong address, certificate, key or team
// stops the command at once with the reason, instead of after every
// asset's retries with "failed N". A server error is only a warning: PDCP
// may recover, and the workers retry.
func (a *app) preflight(ctx context.Context, cfg client.Config) error {
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	err = c.Preflight(ctx)
	const skip = "nothing was enqueued; --no-preflight skips this check"
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrServerError):
		fmt.Fprintf(a.stderr, "preflight: warning: %v; continuing: the workers retry server errors\n", err)
		return nil
	case errors.Is(err, client.ErrUnauthorized):
		return usagef("preflight: %v: check the API key (--api-key, %s, credentials file) and the team ID (--team-id, %s); %s",
			err, client.EnvAPIKey, client.EnvTeamID, skip)
	case errors.Is(err, client.ErrUnexpected):
		return usagef("preflight: %v: is --api-server (%s) PDCP's API? %s", err, client.EnvServer, skip)
	case errors.Is(err, client.ErrUnreachable), errors.Is(err, client.ErrTLS):
		return fmt.Errorf("preflight: %w; %s", err, skip)
	}
	return fmt.Errorf("preflight: %w", err)
}

// submitPreflight is submit's preflight, with the team the campaign
// records. A producer need not hold the API key (workers bring theirs):
// without one here there is nothing to check, and submit goes on as
// before.
func (a *app) submitPreflight(ctx context.Context, af *apiFlags, def *jobs.Campaign) error {
	cfg, err := af.resolve(a.getenv, 1)
	if errors.Is(err, client.ErrNoAPIKey) {
		return nil
	}
	if err != nil {
		// The campaign records this API server: a configuration that
		// cannot call it (plain http:// to another host without
		// --insecure-http, a malformed URL) would enqueue a campaign
		// that no worker configured the same way can take.
		return usagef("preflight: %v; nothing was enqueued; --no-preflight skips this check", err)
	}
	cfg.TeamID = def.TeamID
	return a.preflight(ctx, cfg)
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
