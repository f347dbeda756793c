package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// namespaceKeys counts the keys of the test's namespace (its campaigns and
// its asynq queues), so tests sharing a real Redis do not disturb it.
func (e *e2e) namespaceKeys() int {
	e.t.Helper()
	ctx := context.Background()
	n := 0
	for _, pat := range []string{e.redis.Namespace + ":*", "asynq:{" + e.redis.Namespace + "-*"} {
		keys, err := e.redis.Client.Keys(ctx, pat).Result()
		if err != nil {
			e.t.Fatal(err)
		}
		n += len(keys)
	}
	return n
}

// TestDryRun: the plan is printed, no PDCP call is made and nothing is
// written to Redis.
func TestDryRun(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	path := filepath.Join(e.dir, "in.csv")
	os.WriteFile(path, []byte("asset_id\n1\n2\n2\nabc\n3\n-4\n"), 0o600)
	before := e.namespaceKeys()
	for _, cmd := range []string{"submit", "run"} {
		out, errs, code := e.run(cmd, "--csv", path, "--dry-run", "--rate", "2")
		if code != 0 {
			t.Fatalf("%s --dry-run: exit %d: %s", cmd, code, errs)
		}
		for _, want := range []string{"valid IDs:      3", "duplicates:     1", "bad rows:       2",
			`in.csv:5: "abc": not a decimal integer`, `in.csv:7: "-4": must be > 0`, "delete ALL labels", "about 2s"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s --dry-run output lacks %q:\n%s", cmd, want, out)
			}
		}
	}
	if got := e.fake.Fake().Stats().Requests; got != 0 {
		t.Errorf("dry run made %d requests to PDCP", got)
	}
	if after := e.namespaceKeys(); after != before {
		t.Errorf("dry run changed the Redis keys of the namespace: %d -> %d", before, after)
	}
}

// TestRunExitCodes: run on a real Redis returns 0 when every asset ended
// reset or not_found, 1 when some are invalid, 2 for usage errors.
func TestRunExitCodes(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 50, Script: map[int64][]pdcpfake.Reply{
		7: {{Status: 400, Body: `{"message":"Invalid asset ID format","code":"INVALID_ID"}`}},
	}})
	if _, errs, code := e.run("run", "--ids", "1,2,3,60", "--campaign", "ok"); code != 0 {
		t.Errorf("all reset/not_found: exit %d, want 0: %s", code, errs)
	}
	report := filepath.Join(e.dir, "r.csv")
	if _, errs, code := e.run("run", "--ids", "5,6,7", "--campaign", "bad", "--report", report); code != 1 {
		t.Errorf("one invalid: exit %d, want 1: %s", code, errs)
	}
	b, _ := os.ReadFile(report)
	if !strings.Contains(string(b), "7,invalid,400,1,HTTP 400 INVALID_ID") {
		t.Errorf("report lacks the invalid row:\n%s", b)
	}
	if _, _, code := e.run("run", "--ids", "0,-1"); code != 2 {
		t.Errorf("no valid IDs: exit %d, want 2", code)
	}
	if _, _, code := e.run("status"); code != 2 {
		t.Errorf("status without campaign: exit %d, want 2", code)
	}
	if _, errs, code := e.run("run", "--ids", "1", "--campaign", "bad id"); code != 2 || !strings.Contains(errs, "campaign ID") {
		t.Errorf("bad campaign ID: exit %d (%s), want 2", code, errs)
	}
	// Every invalid definition or name is a usage error.
	for _, args := range [][]string{
		{"submit", "--ids", "1", "--batch-size", "0"},
		{"submit", "--ids", "1", "--labels", ","},
		{"run", "--ids", "1", "--labels", ""}, // an unset "$LABELS" must not mean "remove all"
		{"submit", "--ids", "1", "--team-id", "tm 1"},
		{"submit", "--ids", "1", "--max-throttled", "-1"},
		{"retry", "ok", "--outcome", "bogus"},
	} {
		if _, errs, code := e.run(args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errs)
		}
	}
}

// TestRunDemoEmbedded runs the README's first command: the demo on the
// embedded Redis, with no Redis and no key configured.
func TestRunDemoEmbedded(t *testing.T) {
	t.Parallel()
	e := newE2E(t, pdcpfake.Options{})
	env := []string{}
	for _, kv := range e.env {
		if !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "PDCP_") {
			env = append(env, kv)
		}
	}
	e.env = env
	out, errs, code := e.run("run", "--demo", "--demo-assets", "1000")
	if code != 0 {
		t.Fatalf("run --demo: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "embedded Redis") || !strings.Contains(out, "done: 1030 assets — reset 1000, not_found 0, invalid 0, failed 0, cancelled 0, not_in_inventory 30, pending 0") {
		t.Errorf("run --demo output:\n%s\n%s", out, errs)
	}
}

// TestPendingSubmitWithoutTerminal: above --confirm-above and without a
// terminal, submit stages the campaign pending and says how to approve.
func TestPendingSubmitWithoutTerminal(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	out, errs, code := e.run("submit", "--campaign", "big", "--ids", "1,2,3,4,5", "--confirm-above", "3")
	if code != 0 || !strings.Contains(out, "labelreset approve big") {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	if s := e.status("big"); s.State != "pending" {
		t.Errorf("state %s, want pending", s.State)
	}
	if out, _, code := e.run("approve", "big"); code != 0 || !strings.Contains(out, "running") {
		t.Errorf("approve: exit %d: %s", code, out)
	}
}

// TestCampaignCarriesItsTeam: a campaign records its team when it is
// created (--team-id, else PDCP_TEAM_ID, else the credentials file), and
// workers send that team, never their own: a campaign made without one
// carries no X-Team-Id even from a worker whose environment names a team,
// and the plan shows the team the calls will carry.
func TestCampaignCarriesItsTeam(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 40})
	e.startWorker("--team-id", "worker-team")
	if out, errs, code := e.run("submit", "--campaign", "none", "--ids", "1,2,3", "--yes"); code != 0 {
		t.Fatalf("submit: exit %d: %s %s", code, out, errs)
	}
	envTeam := append(slices.Clone(e.env), "PDCP_TEAM_ID=env-team")
	cmd := exec.Command(binary, "submit", "--campaign", "env", "--ids", "11,12,13", "--yes")
	cmd.Env = envTeam
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("submit with PDCP_TEAM_ID: %v: %s", err, out)
	}
	if out, errs, code := e.run("submit", "--campaign", "flag", "--ids", "21,22,23", "--team-id", "flag-team", "--yes"); code != 0 {
		t.Fatalf("submit --team-id: exit %d: %s %s", code, out, errs)
	}
	cred := filepath.Join(e.dir, "cred.yaml")
	if err := os.WriteFile(cred, []byte("- api-key: test-key\n  team-id: file-team\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := e.run("submit", "--campaign", "file", "--ids", "31,32,33", "--credentials", cred, "--yes"); code != 0 {
		t.Fatalf("submit with a credentials file: exit %d: %s %s", code, out, errs)
	}
	for _, id := range []string{"none", "env", "flag", "file"} {
		e.waitState(id, 30*time.Second, "done")
	}
	want := map[int64]string{1: "", 11: "env-team", 21: "flag-team", 31: "file-team"}
	f := e.fake.Fake()
	for first, team := range want {
		for id := first; id < first+3; id++ {
			calls := f.Calls(id)
			if len(calls) != 1 || calls[0].Team != team {
				t.Errorf("asset %d: calls %+v, want one with X-Team-Id %q", id, calls, team)
			}
		}
	}
	if s := e.status("file"); s.TeamID != "file-team" {
		t.Errorf("status of campaign file: team %q, want file-team", s.TeamID)
	}
	if out, _, _ := e.run("submit", "--ids", "1", "--dry-run", "--team-id", "shown-team"); !strings.Contains(out, "shown-team") {
		t.Errorf("plan does not show the team:\n%s", out)
	}
}
