package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestSchedulesRefuseWideQuery: a schedules file whose pdcp_query narrows
// nothing stops `schedules` and `scheduler` with exit 2, naming the
// schedule, before anything fires.
func TestSchedulesRefuseWideQuery(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10, Seed: 3})
	cfg := filepath.Join(e.dir, "schedules.yaml")
	for _, query := range []string{
		`{time: all_time, host: " ", is_internal: false}`,
		// Catch-all values of narrowing keys (review finding 7b).
		`{search: "HTTPS://", domain: "com, org, internal", host: "*"}`,
	} {
		refuseWideQuery(t, e, cfg, query)
	}
	if out, _, _ := e.run("campaigns", "--json"); strings.Contains(out, "nightly-wipe") {
		t.Errorf("a campaign of the refused schedule exists: %s", out)
	}
}

// refuseWideQuery checks that `schedules` and `scheduler` refuse a file
// whose one schedule has pdcp_query query.
func refuseWideQuery(t *testing.T, e *e2e, cfg, query string) {
	t.Helper()
	yaml := "schedules:\n  - name: nightly-wipe\n    cron: \"@every 1s\"\n    source:\n" +
		"      pdcp_query: " + query + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"schedules", "--config", cfg},
		{"scheduler", "--config", cfg, "--metrics-addr", ""},
	} {
		// A refused file ends the command at once; a scheduler that
		// accepted it would run until killed.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = e.env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		timedOut := ctx.Err() != nil
		cancel()
		code, errs := 0, stderr.String()
		var ee *exec.ExitError
		switch {
		case timedOut:
			t.Fatalf("%v still running after 30s: the file was not refused at load; stderr:\n%s", args, tail(errs, 2000))
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		if code != 2 || !strings.Contains(errs, `schedule "nightly-wipe"`) || !strings.Contains(errs, "narrows nothing") {
			t.Errorf("%v with %s: exit %d, stderr %q; want exit 2 naming schedule \"nightly-wipe\" and why", args[0], query, code, errs)
		}
	}
}

// TestSchedulerSelectAllPending runs the scheduler binary with a
// select_all schedule firing every second: its first campaign waits for
// approval although it is far below max_assets, and later fire times are
// skipped while it waits (counted in the metric), instead of piling up.
func TestSchedulerSelectAllPending(t *testing.T) {
	t.Parallel()
	e := newE2E(t, pdcpfake.Options{Assets: 200, Seed: 3})
	cfg := filepath.Join(e.dir, "schedules.yaml")
	yaml := "schedules:\n  - name: all-external\n    cron: \"@every 1s\"\n    select_all: true\n    source:\n" +
		"      pdcp_query: {is_internal: false}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	e.start("scheduler", "--config", cfg, "--metrics-addr", addr)
	waitHTTP(t, "http://"+addr+"/readyz", 200)

	skippedRe := regexp.MustCompile(`labelreset_schedule_fires_total\{result="skipped",schedule="all-external"\} (\d+)`)
	var campaigns []statusOut
	skipped := 0
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, errs, code := e.run("campaigns", "--json")
		if code != 0 {
			t.Fatalf("campaigns: exit %d: %s", code, errs)
		}
		campaigns = campaigns[:0]
		var all []statusOut
		if err := json.Unmarshal([]byte(out), &all); err != nil {
			t.Fatalf("campaigns --json %q: %v", out, err)
		}
		for _, c := range all {
			if strings.HasPrefix(c.ID, "all-external-") {
				campaigns = append(campaigns, c)
			}
		}
		if m := skippedRe.FindStringSubmatch(scrape(t, "http://"+addr+"/metrics")); m != nil {
			skipped, _ = strconv.Atoi(m[1])
		}
		if len(campaigns) > 1 || len(campaigns) == 1 && skipped >= 2 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(campaigns) != 1 {
		t.Fatalf("%d campaigns of the select_all schedule, want exactly one (later fires skipped while it is pending): %+v", len(campaigns), campaigns)
	}
	st := e.status(campaigns[0].ID)
	if st.State != "pending" || st.Total == 0 || st.Total >= 200 || !strings.Contains(st.Reason, "select_all") {
		t.Errorf("campaign %s: state %s, %d assets, reason %q; want pending because of select_all, with the external assets", st.ID, st.State, st.Total, st.Reason)
	}
	if skipped < 2 {
		t.Errorf(`labelreset_schedule_fires_total{result="skipped"} = %d, want >= 2`, skipped)
	}
}
