package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/worker"
)

// runFlagsFrom parses run's flags with args and environment env, in
// process.
func runFlagsFrom(t *testing.T, env map[string]string, args ...string) (*runFlags, error) {
	t.Helper()
	a := newApp(strings.NewReader(""), io.Discard, io.Discard, func(k string) string { return env[k] })
	return a.runConfig(args)
}

// TestEnvBinding: a setting flag takes its LABELRESET_<FLAG> (or PDCP's)
// variable when not given, the command line beats the variable, a value
// that does not parse names the variable, and safety switches and the
// target of a run ignore the environment.
func TestEnvBinding(t *testing.T) {
	f, err := runFlagsFrom(t, map[string]string{
		"LABELRESET_RATE": "12.5", "LABELRESET_CONCURRENCY": "8", "LABELRESET_SHUTDOWN_TIMEOUT": "3s",
		"LABELRESET_ADAPTIVE": "off", "LABELRESET_BATCH_SIZE": "7", "REDIS_URL": "redis://r:6379/2",
		"LABELRESET_NAMESPACE": "ns1", "PDCP_API_SERVER": "https://pdcp.example", "PDCP_TEAM_ID": "t1",
		"LABELRESET_REPORT_FORMAT": "jsonl",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := []any{f.wf.rate, f.wf.concurrency, f.wf.shutdownTimeout, f.wf.aimd, f.cf.batchSize, f.rf.url, f.rf.namespace,
		f.af.server, f.af.team, string(f.reportFormat)}
	want := []any{12.5, 8, 3 * time.Second, false, 7, "redis://r:6379/2", "ns1", "https://pdcp.example", "t1", "jsonl"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("from the environment: got %v, want %v (all: %v)", got[i], want[i], got)
		}
	}

	f, err = runFlagsFrom(t, map[string]string{"LABELRESET_RATE": "12.5", "LABELRESET_CONCURRENCY": "bogus"},
		"--rate", "3", "--concurrency", "4")
	if err != nil {
		t.Fatalf("a bad variable of a flag given on the command line: %v, want it ignored", err)
	}
	if f.wf.rate != 3 || f.wf.concurrency != 4 {
		t.Errorf("flag and environment: rate %v concurrency %d, want the flags' 3 and 4", f.wf.rate, f.wf.concurrency)
	}

	f, err = runFlagsFrom(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.wf.concurrency != worker.DefaultConcurrency || f.wf.shutdownTimeout != worker.DefaultShutdownTimeout || !f.wf.aimd {
		t.Errorf("defaults: concurrency %d shutdown %v adaptive %v, want worker's %d %v and true",
			f.wf.concurrency, f.wf.shutdownTimeout, f.wf.aimd, worker.DefaultConcurrency, worker.DefaultShutdownTimeout)
	}

	for _, tc := range []struct{ env, val, want string }{
		{"LABELRESET_RATE", "fast", `LABELRESET_RATE="fast": not a valid float for --rate`},
		{"LABELRESET_SHUTDOWN_TIMEOUT", "25", `LABELRESET_SHUTDOWN_TIMEOUT="25": not a valid duration for --shutdown-timeout`},
		{"LABELRESET_STRICT", "maybe", `LABELRESET_STRICT="maybe": not a valid boolean`},
	} {
		_, err := runFlagsFrom(t, map[string]string{tc.env: tc.val})
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: got %v, want a usage error containing %q", tc.env, tc.val, err, tc.want)
		}
	}

	f, err = runFlagsFrom(t, map[string]string{
		"LABELRESET_YES": "1", "LABELRESET_DRY_RUN": "true", "LABELRESET_DEMO": "1", "LABELRESET_INSECURE_NO_AUTH": "1", "LABELRESET_INSECURE_HTTP": "1",
		"LABELRESET_IDS": "1,2", "LABELRESET_LABELS": "a", "LABELRESET_CAMPAIGN": "c", "LABELRESET_APPEND": "1",
		"LABELRESET_CSV": "x.csv", "LABELRESET_COLUMN": "2", "LABELRESET_REPORT": "stale.csv",
		"LABELRESET_NO_SNAPSHOT": "1", "LABELRESET_RESET_UNLISTED": "1", "LABELRESET_PREVIEW": "1", "LABELRESET_SNAPSHOT_FILE": "stale.jsonl",
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.cf.yes || f.cf.dryRun || f.af.insecureHTTP || f.demo || f.cf.ids != "" || f.cf.labelsSet || f.cf.id != "" || f.cf.appendIDs || f.cf.csv != "" || f.cf.column != "" || f.report != "" ||
		f.cf.noSnapshot || f.cf.resetUnlisted || f.cf.preview || f.snapshotFile != "" {
		t.Errorf("safety switches or targets taken from the environment: %+v demo %v", *f.cf, f.demo)
	}
}

// TestEnvNames: the variable of each flag, and that every flag of every
// command's help names its variable unless it deliberately has none.
func TestEnvNames(t *testing.T) {
	for flagName, want := range map[string]string{
		"rate": "LABELRESET_RATE", "max-failure-ratio": "LABELRESET_MAX_FAILURE_RATIO", "redis": "REDIS_URL",
		"api-key": "PDCP_API_KEY", "api-server": "PDCP_API_SERVER", "team-id": "PDCP_TEAM_ID",
		"tokens-file": "LABELRESET_API_TOKENS_FILE", "config": "LABELRESET_SCHEDULES",
		"insecure-http": "",
		"yes":           "", "dry-run": "", "insecure-no-auth": "", "insecure-anything": "", "no-snapshot": "", "express": "",
		"reset-unlisted": "", "preview": "", "snapshot-file": "", "snapshot": "", "exact": "", "use-configured-target": "", "force": "",
	} {
		if got := envName(flagName); got != want {
			t.Errorf("envName(%q) = %q, want %q", flagName, got, want)
		}
	}
	for _, c := range commands {
		help := commandHelp(t, c.name)
		if len(help) == 0 && c.name != "version" {
			t.Errorf("labelreset %s --help lists no flag", c.name)
		}
		for name, usage := range help {
			if env := envName(name); env != "" && !strings.Contains(usage, "env "+env) {
				t.Errorf("labelreset %s --help: --%s does not name %s: %q", c.name, name, env, usage)
			}
		}
	}
}

// TestHelpDefaultsOnce: no flag's help states its default twice (its text
// and the "(default X)" that the flag package adds).
func TestHelpDefaultsOnce(t *testing.T) {
	for _, c := range commands {
		for name, usage := range commandHelp(t, c.name) {
			if n := strings.Count(usage, "(default"); n > 1 {
				t.Errorf("labelreset %s --help: --%s states its default %d times: %q", c.name, name, n, usage)
			}
		}
	}
}

// commandHelp runs `labelreset CMD --help` in-process and returns the help
// text of each flag it lists, by flag name.
func commandHelp(t *testing.T, cmd string) map[string]string {
	t.Helper()
	var stderr strings.Builder
	a := newApp(strings.NewReader(""), io.Discard, &stderr, func(string) string { return "" })
	if code := a.main(context.Background(), []string{cmd, "--help"}); code != exitOK {
		t.Fatalf("labelreset %s --help: exit %d\n%s", cmd, code, stderr.String())
	}
	help := map[string]string{}
	var last string
	for line := range strings.Lines(stderr.String()) {
		switch {
		case strings.HasPrefix(line, "  -"):
			last = strings.TrimPrefix(strings.Fields(line)[0], "-")
			help[last] = ""
		case strings.HasPrefix(line, "    \t") && last != "":
			help[last] += strings.TrimSpace(line) + " "
		default:
			last = ""
		}
	}
	return help
}

// TestSecretEnvNotEchoed: a variable holding a secret is never shown in
// the error of a value that does not parse.
func TestSecretEnvNotEchoed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Func("api-key", "", func(string) error { return errors.New("refused") })
	err := bindEnv(fs, func(k string) string {
		if k == "PDCP_API_KEY" {
			return "s3cret-key"
		}
		return ""
	})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "PDCP_API_KEY") {
		t.Errorf("got %v, want an error naming PDCP_API_KEY without its value", err)
	}
}
