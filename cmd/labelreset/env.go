package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/labelreset/labelreset/client"
)

// Every setting flag can also be given as an environment variable, so that
// a deployment (compose, Kubernetes, systemd) configures each command the
// same way. Precedence: the flag on the command line, then the variable,
// then (for the PDCP key, server and team) the credentials file, then the
// flag's default. bindEnv is the one place that reads them.

// envNames are the variables whose names do not follow LABELRESET_<FLAG>:
// PDCP's own names, which ProjectDiscovery's tools and users' shells
// already set, and names deployments used before the rule existed.
var envNames = map[string]string{
	"redis":       "REDIS_URL",
	"api-key":     client.EnvAPIKey,
	"api-server":  client.EnvServer,
	"team-id":     client.EnvTeamID,
	"tokens-file": "LABELRESET_API_TOKENS_FILE",
	"config":      "LABELRESET_SCHEDULES",
	"notifiers":   "LABELRESET_NOTIFIERS_FILE",
}

// noEnv are the flags that have no environment variable.
//
// Acknowledgements and safety switches: a variable left in a shell or a
// deployment would answer every future confirmation, or drop a protection,
// without anyone typing it for the campaign at hand.
//
// What to act on: the input, the campaign and its labels name this one
// invocation's target; a stale LABELRESET_IDS or LABELRESET_LABELS would
// silently act on other assets.
var noEnv = map[string]bool{
	// acknowledgements and safety switches
	"yes": true, "no-snapshot": true, "express": true, "dry-run": true, "demo": true,
	"no-preflight": true, "insecure-no-auth": true,
	// a stale LABELRESET_NO_SNAPSHOT would make campaigns impossible to
	// undo, LABELRESET_RESET_UNLISTED would call IDs nobody listed,
	// LABELRESET_EXACT would delete labels added since a reset, and
	// LABELRESET_USE_CONFIGURED_TARGET would restore a snapshot into
	// another team or server
	"reset-unlisted": true, "exact": true, "use-configured-target": true, "force": true,
	// LABELRESET_SELECT_ALL would admit queries over every asset
	"select-all": true,
	// what to act on
	"campaign": true, "append": true, "name": true, "csv": true, "ids": true, "labels": true, "column": true,
	"o": true, "only": true, "outcome": true, "snapshot": true, "notify": true, "query": true,
	// what this one invocation writes or waits for: a stale
	// LABELRESET_REPORT would overwrite a file nobody named, a stale
	// LABELRESET_WATCH would make every status block until its campaign ends
	"report": true, "watch": true, "snapshot-file": true, "preview": true,
}

// envName is the environment variable of flag name, or "" when it has none.
func envName(name string) string {
	if n, ok := envNames[name]; ok {
		return n
	}
	if noEnv[name] || strings.HasPrefix(name, "insecure-") {
		return ""
	}
	return "LABELRESET_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// secretFlags are flags whose values are never echoed in an error.
var secretFlags = map[string]bool{"api-key": true}

// bindEnv sets each flag of fs not given on the command line from its
// environment variable, if that is set and not empty. A value that does
// not parse is a usage error naming the variable and the value.
func bindEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if err != nil || given[f.Name] || env == "" {
			return
		}
		v := getenv(env)
		if v == "" {
			return
		}
		if isBoolFlag(f) {
			v = boolWord(v)
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			shown := fmt.Sprintf("%q", v)
			if secretFlags[f.Name] {
				shown = "(value not shown)"
			}
			kind, _ := flag.UnquoteUsage(f)
			if isBoolFlag(f) {
				kind = "boolean (true, false, 1, 0, yes, no)"
			}
			err = usagef("environment variable %s=%s: not a valid %s for --%s: %v", env, shown, kind, f.Name, serr)
		}
	})
	return err
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// boolWord maps the words people write in environment files (yes, on,
// off) to the ones flag's bool parser takes; anything else is left for
// it to accept or refuse.
func boolWord(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "on":
		return "true"
	case "no", "off":
		return "false"
	}
	return v
}

// annotateEnv appends "(env NAME)" to the help of every flag of fs that
// has a variable, unless its help already names it.
func annotateEnv(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if env := envName(f.Name); env != "" && !strings.Contains(f.Usage, env) {
			f.Usage += " (env " + env + ")"
		}
	})
}
