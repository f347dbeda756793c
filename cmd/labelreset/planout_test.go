package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestDryRunOutput: a dry run lists each bad row once (in the plan), names
// the campaign after its input, shows the API server of the credentials
// file when that is where it comes from, and its JSON keeps < and >.
func TestDryRunOutput(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{})
	path := filepath.Join(e.dir, "retired<q4>.csv")
	if err := os.WriteFile(path, []byte("asset_id\n1\nabc\n2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := e.run("submit", "--csv", path, "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, errs)
	}
	if n := strings.Count(out+errs, `"abc": not a decimal integer`); n != 1 {
		t.Errorf("the bad row is printed %d times, want once:\nstdout:\n%s\nstderr:\n%s", n, out, errs)
	}
	if !strings.Contains(out, "(retired<q4>.csv)") {
		t.Errorf("plan does not name the campaign after the file:\n%s", out)
	}
	if out, _, _ := e.run("submit", "--ids", "1,2,3", "--dry-run"); !strings.Contains(out, "(3 IDs from --ids)") {
		t.Errorf("plan does not name the campaign after --ids:\n%s", out)
	}
	out, _, _ = e.run("submit", "--csv", path, "--dry-run", "--json")
	if !strings.Contains(out, `retired<q4>.csv`) {
		t.Errorf("JSON plan escapes < and >:\n%s", out)
	}

	cred := filepath.Join(e.dir, "cred.yaml")
	if err := os.WriteFile(cred, []byte("- api-key: test-key\n  server: https://pdcp.example.test/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range e.env {
		if !strings.HasPrefix(kv, "PDCP_API_SERVER=") {
			env = append(env, kv)
		}
	}
	e.env = env
	out, errs, _ = e.run("submit", "--ids", "1", "--dry-run", "--credentials", cred)
	if !strings.Contains(out, "API server:     https://pdcp.example.test\n") {
		t.Errorf("plan does not show the credentials file's server:\n%s%s", out, errs)
	}
}

// TestCampaignsShowNames: the campaigns table ends each row with the
// campaign's name (given or made from its source), on one line.
func TestCampaignsShowNames(t *testing.T) {
	t.Parallel()
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	if _, errs, code := e.run("submit", "--campaign", "named", "--name", "Q4 retirement\nwave 2", "--ids", "1,2", "--yes"); code != 0 {
		t.Fatalf("submit: exit %d: %s", code, errs)
	}
	if _, errs, code := e.run("submit", "--campaign", "unnamed", "--ids", "3,4,5", "--yes"); code != 0 {
		t.Fatalf("submit: exit %d: %s", code, errs)
	}
	out, errs, code := e.run("campaigns")
	if code != 0 {
		t.Fatalf("campaigns: exit %d: %s", code, errs)
	}
	want := map[string]string{"named": "Q4 retirement wave 2", "unnamed": "3 IDs from --ids"}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if w, ok := want[f[0]]; ok {
			if !strings.HasSuffix(line, w) {
				t.Errorf("campaigns row of %s does not end with its name %q:\n%s", f[0], w, line)
			}
			delete(want, f[0])
		}
	}
	if len(want) > 0 {
		t.Errorf("campaigns lists no row for %v:\n%s", want, out)
	}
}

// TestRunReportHint: run's summary points at every asset's error where it
// still is: the --report file, a report command with the namespace, or,
// with the embedded Redis gone, how to keep them next time.
func TestRunReportHint(t *testing.T) {
	for _, tc := range []struct {
		report, ns string
		embedded   bool
		want       string
	}{
		{"out.csv", "lr", true, "the report out.csv"},
		{"", "lr", true, "rerun with --report FILE"},
		{"", "lr", false, "labelreset report c1 --only failed,invalid"},
		{"", "team-a", false, "labelreset report c1 --namespace team-a --only failed,invalid"},
	} {
		f := &runFlags{report: tc.report, rf: &redisFlags{namespace: tc.ns}}
		if got := runReportHint(f, tc.embedded, "c1"); !strings.HasPrefix(got, tc.want) {
			t.Errorf("report %q namespace %q embedded %v: %q, want %q", tc.report, tc.ns, tc.embedded, got, tc.want)
		}
	}
}
