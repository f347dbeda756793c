package schedule_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelreset/labelreset/jobs/schedule"
)

// TestExpressScheduleFires: a schedule with express: true and
// express_deadline parses, and its firing's campaign is express, with the
// deadline, over the query's assets.
func TestExpressScheduleFires(t *testing.T) {
	fake, c := pdcp(t, 60)
	h := newHarness(t)
	cfg := h.config(querySchedule("express-stale", "{labels: [stale]}",
		"    mode: remove\n    labels: [stale]\n    express: true\n    express_deadline: 2m\n"))
	if sc := cfg.Schedules[0]; !sc.Express || sc.ExpressDeadline != 2*time.Minute {
		t.Fatalf("schedule: express %t, deadline %v, want true and 2m", sc.Express, sc.ExpressDeadline)
	}
	s, _ := h.scheduler(cfg, func(o *schedule.Options) { o.Lister = c })
	camp, err := s.Fire(context.Background(), "express-stale", fireTime)
	if err != nil {
		t.Fatal(err)
	}
	if !camp.Express || camp.ExpressDeadline != 2*time.Minute || camp.Query != "labels=stale" {
		t.Errorf("campaign: express %t, deadline %v, query %q, want true, 2m and labels=stale", camp.Express, camp.ExpressDeadline, camp.Query)
	}
	if diff := cmp.Diff(matching(fake, "stale"), h.assetIDs(camp.ID)); diff != "" {
		t.Errorf("assets (-want +got):\n%s", diff)
	}
}

// TestExpressScheduleRefusals: express is checked when the file is loaded,
// each refusal on its field.
func TestExpressScheduleRefusals(t *testing.T) {
	name := filepath.Join(t.TempDir(), "schedules.yaml")
	h := newHarness(t)
	h.file("ids.csv", "1\n")
	for _, tc := range []struct {
		name, yaml, field, want string
	}{
		{"csv source", "schedules:\n  - name: x\n    cron: \"@daily\"\n    mode: remove\n    labels: [stale]\n    express: true\n    source: {csv: {path: " +
			filepath.Join(h.dir, "ids.csv") + "}}\n", "express", "needs a pdcp_query source"},
		{"delete mode", querySchedule("x", "{labels: [stale]}", "    express: true\n"), "express", "mode: remove"},
		{"no snapshot", querySchedule("x", "{labels: [stale]}", "    mode: remove\n    labels: [stale]\n    snapshot: false\n    express: true\n"),
			"express", "needs the snapshot"},
		{"select all", querySchedule("x", "{is_internal: false}", "    mode: remove\n    labels: [stale]\n    select_all: true\n    express: true\n"),
			"express", "select_all"},
		{"deadline without express", querySchedule("x", "{labels: [stale]}", "    mode: remove\n    labels: [stale]\n    express_deadline: 5m\n"),
			"express_deadline", "only used with express"},
		{"deadline too long", querySchedule("x", "{labels: [stale]}", "    mode: remove\n    labels: [stale]\n    express: true\n    express_deadline: 48h\n"),
			"express_deadline", "want 1s..24h"},
		{"domain", querySchedule("x", "{labels: [stale], domain: example.com}", "    mode: remove\n    labels: [stale]\n    express: true\n"),
			"source.pdcp_query", "domain"},
		{"is_internal", querySchedule("x", "{labels: [stale], is_internal: true}", "    mode: remove\n    labels: [stale]\n    express: true\n"),
			"source.pdcp_query", "is_internal"},
		{"custom_filter", querySchedule("x", "{labels: [stale], custom_filter: abc}", "    mode: remove\n    labels: [stale]\n    express: true\n"),
			"source.pdcp_query", "custom_filter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schedule.ParseConfig(name, []byte(tc.yaml))
			var ce *schedule.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConfig: %v, want a ConfigError", err)
			}
			found := false
			for _, e := range unjoin(err) {
				if errors.As(e, &ce) && ce.Field == tc.field && strings.Contains(ce.Msg, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("ParseConfig: %v, want an error on field %s containing %q", err, tc.field, tc.want)
			}
		})
	}
}

// unjoin lists the errors of an errors.Join.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
