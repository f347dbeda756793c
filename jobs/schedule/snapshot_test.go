package schedule_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs/schedule"
)

// TestScheduleSnapshotFields: snapshot defaults to true, false and
// reset_unlisted reach the campaigns, and a pdcp_query schedule's
// campaigns carry the query's filter, so that their snapshot lists what
// the query selects and no more.
func TestScheduleSnapshotFields(t *testing.T) {
	_, c := pdcp(t, 300)
	h := newHarness(t)
	h.file("ids.csv", "1\n2\n3\n")
	cfg := h.config(`
schedules:
  - name: default
    cron: "0 3 * * *"
    source: {csv: {path: ids.csv}}
  - name: off
    cron: "0 3 * * *"
    snapshot: false
    source: {csv: {path: ids.csv}}
  - name: unlisted
    cron: "0 3 * * *"
    reset_unlisted: true
    source: {csv: {path: ids.csv}}
  - name: query
    cron: "0 3 * * *"
    source:
      pdcp_query: {labels: [critical], sort_desc: created_at}
`)
	s, _ := h.scheduler(cfg, func(o *schedule.Options) { o.Lister = c })
	ctx := context.Background()
	for _, tc := range []struct {
		name                    string
		snapshot, resetUnlisted bool
		query                   url.Values
	}{
		{"default", true, false, nil},
		{"off", false, false, nil},
		{"unlisted", true, true, nil},
		{"query", true, false, url.Values{"labels": {"critical"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			camp, err := s.Fire(ctx, tc.name, fireTime)
			if err != nil {
				t.Fatal(err)
			}
			got, err := h.store.Get(ctx, camp.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Snapshot != tc.snapshot || got.ResetUnlisted != tc.resetUnlisted {
				t.Errorf("campaign snapshot=%v reset_unlisted=%v, want %v %v", got.Snapshot, got.ResetUnlisted, tc.snapshot, tc.resetUnlisted)
			}
			q, err := url.ParseQuery(got.Query)
			if err != nil {
				t.Fatalf("Query %q: %v", got.Query, err)
			}
			// Sorting selects nothing: the snapshot pages in its own order.
			if len(q) != len(tc.query) || q.Encode() != tc.query.Encode() {
				t.Errorf("Query %q, want %q", got.Query, tc.query.Encode())
			}
		})
	}
}

func TestScheduleSnapshotErrors(t *testing.T) {
	h := newHarness(t)
	h.file("ids.csv", "1\n")
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"not a boolean", `schedules:
  - name: a
    cron: "0 3 * * *"
    snapshot: maybe
    source: {csv: {path: ids.csv}}
`, []string{"schedules.yaml:4:", "maybe"}},
		{"reset_unlisted without snapshot", `schedules:
  - name: a
    cron: "0 3 * * *"
    snapshot: false
    reset_unlisted: true
    source: {csv: {path: ids.csv}}
`, []string{"schedules.yaml:5:", `schedule "a"`, "reset_unlisted", "needs snapshot: true"}},
		{"reset_unlisted not a boolean", `schedules:
  - name: a
    cron: "0 3 * * *"
    reset_unlisted: [yes]
    source: {csv: {path: ids.csv}}
`, []string{"schedules.yaml:4:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schedule.ParseConfig(h.dir+"/schedules.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("ParseConfig accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var ce *schedule.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *ConfigError", err)
			}
		})
	}
}
