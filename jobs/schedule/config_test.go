package schedule_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/schedule"
)

func TestParseConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ids.csv"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked.csv")
	if err := os.WriteFile(locked, []byte("1\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		yaml string
		line int
		want []string // substrings of the message (the offending value)
	}{
		{"empty file", "", 0, []string{"empty file"}},
		{"no schedules", "schedules: []\n", 1, []string{"no schedules"}},
		{"syntax error", "schedules:\n  - name: a\n    cron: x: y\n", 3, []string{"mapping values"}},
		{"two documents", "schedules:\n  - {name: a, cron: '@daily', source: {csv: {path: ids.csv}}}\n---\nschedules: []\n", 3, []string{"more than one YAML document"}},
		{"unknown top-level field", "schedules:\n  - {name: a, cron: '@daily', source: {csv: {path: ids.csv}}}\nschedule: x\n", 3, []string{`unknown field "schedule"`, "top level"}},
		{"unknown schedule field", `schedules:
  - name: a
    cron: "0 3 * * *"
    colour: blue
    source:
      csv: {path: ids.csv}
`, 4, []string{`unknown field "colour"`, "max_assets"}},
		{"unknown query field", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      pdcp_query:
        labels: [x]
        not_seen_days: 30
`, 7, []string{`unknown field "not_seen_days"`, "not_seen_for_days"}},
		{"duplicate key", `schedules:
  - name: a
    name: b
    cron: "0 3 * * *"
    source: {csv: {path: ids.csv}}
`, 3, []string{`"name" already defined at line 2`}},
		{"wrong type", `schedules:
  - name: a
    cron: "0 3 * * *"
    max_assets: lots
    source: {csv: {path: ids.csv}}
`, 4, []string{"lots", "an integer"}},
		{"bad cron", `schedules:
  - name: a
    cron: "61 * * * *"
    source: {csv: {path: ids.csv}}
`, 3, []string{`"61 * * * *"`, "above maximum"}},
		{"cron with seconds", `schedules:
  - name: a
    cron: "0 0 3 * * *"
    source: {csv: {path: ids.csv}}
`, 3, []string{`"0 0 3 * * *"`, "exactly 5 fields"}},
		{"missing cron", `schedules:
  - name: a
    source: {csv: {path: ids.csv}}
`, 2, []string{"missing cron"}},
		{"cron zone prefix", `schedules:
  - name: a
    cron: "CRON_TZ=Europe/Berlin 0 3 * * *"
    source: {csv: {path: ids.csv}}
`, 3, []string{`"CRON_TZ=Europe/Berlin 0 3 * * *"`, "timezone field"}},
		{"cron never fires", `schedules:
  - name: a
    cron: "0 0 30 2 *"
    source: {csv: {path: ids.csv}}
`, 3, []string{`"0 0 30 2 *"`, "never fires"}},
		{"unknown time zone", `schedules:
  - name: a
    cron: "0 3 * * *"
    timezone: Mars/Olympus_Mons
    source: {csv: {path: ids.csv}}
`, 4, []string{`"Mars/Olympus_Mons"`, "unknown time zone"}},
		{"local time zone", `schedules:
  - name: a
    cron: "0 3 * * *"
    timezone: Local
    source: {csv: {path: ids.csv}}
`, 4, []string{`"Local"`}},
		{"no source", `schedules:
  - name: a
    cron: "0 3 * * *"
`, 2, []string{"no source"}},
		{"empty source", `schedules:
  - name: a
    cron: "0 3 * * *"
    source: {}
`, 4, []string{"no source"}},
		{"two sources", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      csv: {path: ids.csv}
      pdcp_query: {labels: [x]}
`, 4, []string{"2 sources (csv, pdcp_query)"}},
		{"missing name", `schedules:
  - cron: "0 3 * * *"
    source: {csv: {path: ids.csv}}
`, 2, []string{"missing name"}},
		{"blank name", `schedules:
  - name: "  "
    cron: "0 3 * * *"
    source: {csv: {path: ids.csv}}
`, 2, []string{"missing name"}},
		{"duplicate names", `schedules:
  - name: nightly
    cron: "0 3 * * *"
    source: {csv: {path: ids.csv}}
  - name: nightly
    cron: "0 4 * * *"
    source: {csv: {path: ids.csv}}
`, 5, []string{`duplicate name "nightly"`, "line 2"}},
		{"names with one campaign prefix", `schedules:
  - name: "a b"
    cron: "0 3 * * *"
    source: {csv: {path: ids.csv}}
  - name: "a/b"
    cron: "0 4 * * *"
    source: {csv: {path: ids.csv}}
`, 5, []string{`"a/b"`, `"a b" (line 2)`, `"a_b"`}},
		{"remove mode without labels", `schedules:
  - name: a
    cron: "0 3 * * *"
    mode: remove
    source: {csv: {path: ids.csv}}
`, 4, []string{"mode remove needs the labels"}},
		{"delete mode with labels", `schedules:
  - name: a
    cron: "0 3 * * *"
    labels: [stale]
    source: {csv: {path: ids.csv}}
`, 4, []string{`["stale"]`, "mode remove"}},
		{"blank label", `schedules:
  - name: a
    cron: "0 3 * * *"
    mode: remove
    labels: [" "]
    source: {csv: {path: ids.csv}}
`, 5, []string{`label " "`}},
		{"too many labels", `schedules:
  - name: a
    cron: "0 3 * * *"
    mode: remove
    labels: [` + strings.TrimSuffix(strings.Repeat("l, ", 101), ", ") + `]
    source: {csv: {path: ids.csv}}
`, 5, []string{"101 labels: want at most 100"}},
		{"bad mode", `schedules:
  - name: a
    cron: "0 3 * * *"
    mode: purge
    source: {csv: {path: ids.csv}}
`, 4, []string{`"purge"`}},
		{"bad priority", `schedules:
  - name: a
    cron: "0 3 * * *"
    priority: urgent
    source: {csv: {path: ids.csv}}
`, 4, []string{`"urgent"`}},
		{"negative max_assets", `schedules:
  - name: a
    cron: "0 3 * * *"
    max_assets: -5
    source: {csv: {path: ids.csv}}
`, 4, []string{"max_assets -5"}},
		{"batch size too large", `schedules:
  - name: a
    cron: "0 3 * * *"
    batch_size: 20000
    source: {csv: {path: ids.csv}}
`, 4, []string{"batch_size 20000"}},
		{"csv path does not exist", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      csv:
        path: /nonexistent/retire.csv
`, 6, []string{`"/nonexistent/retire.csv"`, "no such file"}},
		{"csv path is a directory", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      csv: {path: adir}
`, 5, []string{`"adir"`, "not a regular file"}},
		{"csv path is stdin", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      csv: {path: "-"}
`, 5, []string{`"-"`, "stdin"}},
		{"csv path missing", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      csv: {}
`, 5, []string{"missing path"}},
		{"url scheme ftp", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      url:
        url: ftp://files.example.com/ids.csv
`, 6, []string{`"ftp"`, "bad URL scheme"}},
		{"url http on a public host", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      url: {url: "http://files.example.com/ids.csv"}
`, 5, []string{`"http://files.example.com/ids.csv"`, "loopback"}},
		{"url password redacted", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      url: {url: "ftp://user:hunter2@files.example.com/ids.csv"}
`, 5, []string{`user:xxxxx@`}},
		{"url max_bytes negative", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      url: {url: "https://files.example.com/ids.csv", max_bytes: -1}
`, 5, []string{"max_bytes -1"}},
		{"url bad timeout", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      url: {url: "https://files.example.com/ids.csv", timeout: soon}
`, 5, []string{"soon", "duration"}},
		{"empty query", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      pdcp_query: {page_size: 100}
`, 5, []string{"every asset"}},
		{"query page size", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      pdcp_query:
        labels: [x]
        page_size: 5000
`, 7, []string{"page_size 5000"}},
		{"query label with a comma", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      pdcp_query:
        labels: ["a,b"]
`, 6, []string{`label "a,b" contains a comma`}},
		{"query custom filter not encoded", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      pdcp_query:
        custom_filter: "status_code=200&host=a.com"
`, 6, []string{`"status_code%3D200%26host%3Da.com"`}},
		{"query time range", `schedules:
  - name: a
    cron: "0 3 * * *"
    source:
      pdcp_query:
        time: yesterday
`, 6, []string{`"yesterday"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(dir, "test.yaml")
			cfg, err := schedule.ParseConfig(name, []byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseConfig: no error, config %+v", cfg)
			}
			msg := err.Error()
			prefix := name + ":"
			if tc.line > 0 {
				prefix += strconv.Itoa(tc.line) + ":"
			}
			if !strings.Contains(msg, prefix) {
				t.Errorf("error %q does not contain %q", msg, prefix)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			var ce *schedule.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *ConfigError", err)
			}
		})
	}

	t.Run("unreadable csv", func(t *testing.T) {
		if f, err := os.Open(locked); err == nil {
			f.Close()
			t.Skip("running as a user who can read mode 000 files")
		}
		yaml := "schedules:\n  - name: a\n    cron: \"@daily\"\n    source: {csv: {path: locked.csv}}\n"
		_, err := schedule.ParseConfig(filepath.Join(dir, "test.yaml"), []byte(yaml))
		if err == nil || !strings.Contains(err.Error(), ":4:") || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("ParseConfig: %v, want line 4 and permission denied", err)
		}
	})

	t.Run("all problems reported", func(t *testing.T) {
		yaml := "schedules:\n  - name: a\n    cron: bad\n    timezone: Nowhere/Town\n    source: {}\n"
		_, err := schedule.ParseConfig("x.yaml", []byte(yaml))
		for _, w := range []string{"x.yaml:3:", "x.yaml:4:", "x.yaml:5:"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("error %v does not contain %q", err, w)
			}
		}
	})
}

func TestParseConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ids.csv"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := schedule.ParseConfig(filepath.Join(dir, "s.yaml"), []byte(`
schedules:
  - name: csv
    cron: "30 2 * * *"
    source: {csv: {path: ids.csv}}
  - name: url
    cron: "@every 10m"
    timezone: America/New_York
    mode: remove
    labels: [a, b]
    team_id: t1
    priority: high
    max_assets: 5
    batch_size: 7
    source: {url: {url: "https://example.com/ids.csv?sig=secret"}}
  - name: query
    cron: "@daily"
    source: {pdcp_query: {not_seen_for_days: 30, is_internal: false}}
`))
	if err != nil {
		t.Fatal(err)
	}
	no := false
	want := []schedule.Schedule{
		{Name: "csv", Cron: "30 2 * * *", Timezone: "UTC", Mode: jobs.ModeDelete, MaxAssets: schedule.DefaultMaxAssets,
			Source: schedule.Source{CSV: &schedule.CSVSource{Path: filepath.Join(dir, "ids.csv")}}},
		{Name: "url", Cron: "@every 10m", Timezone: "America/New_York", Mode: jobs.ModeRemove, Labels: []string{"a", "b"},
			TeamID: "t1", Priority: "high", MaxAssets: 5, BatchSize: 7,
			Source: schedule.Source{URL: &schedule.URLSource{URL: "https://example.com/ids.csv?sig=secret",
				MaxBytes: schedule.DefaultURLMaxBytes, Timeout: schedule.DefaultURLTimeout}}},
		{Name: "query", Cron: "@daily", Timezone: "UTC", Mode: jobs.ModeDelete, MaxAssets: schedule.DefaultMaxAssets,
			Source: schedule.Source{PDCPQuery: &schedule.QuerySource{NotSeenForDays: 30, IsInternal: &no, PageSize: 100}}},
	}
	if diff := cmp.Diff(want, cfg.Schedules, cmp.AllowUnexported(schedule.Schedule{}), cmp.FilterPath(func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		return ok && !sf.Type().Comparable() || ok && strings.ToLower(sf.Name()[:1]) == sf.Name()[:1]
	}, cmp.Ignore())); diff != "" {
		t.Errorf("schedules (-want +got):\n%s", diff)
	}

	st, err := schedule.List(t.Context(), newHarness(t).store, cfg, time.Date(2026, 3, 8, 6, 55, 1, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	// @every 10m is aligned to multiples of 10 minutes, in any zone.
	if got, want := st[1].Next.UTC(), time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next fire of @every 10m at 06:55:01: %v, want %v", got, want)
	}
	if got, want := st[0].Next, time.Date(2026, 3, 9, 2, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next fire of \"30 2 * * *\": %v, want %v", got, want)
	}
}

// TestTimezone checks that cron fields are read in the schedule's zone,
// across a daylight saving change.
func TestTimezone(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ids.csv"), []byte("1\n"), 0o644)
	cfg, err := schedule.ParseConfig(filepath.Join(dir, "s.yaml"), []byte(
		"schedules:\n  - {name: b, cron: \"0 3 * * *\", timezone: Europe/Berlin, source: {csv: {path: ids.csv}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	for _, tc := range []struct{ now, want time.Time }{
		{time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 28, 2, 0, 0, 0, time.UTC)}, // CET: 03:00 = 02:00Z
		{time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)}, // CEST from 29 March
	} {
		st, err := schedule.List(t.Context(), h.store, cfg, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		if !st[0].Next.Equal(tc.want) {
			t.Errorf("next after %v: %v, want %v", tc.now, st[0].Next.UTC(), tc.want)
		}
	}
}

// TestDeployExamples keeps the shipped configuration files valid.
func TestDeployExamples(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "retire.csv")
	os.WriteFile(csv, []byte("1\n"), 0o644)
	for _, f := range []string{"../../deploy/schedules.example.yaml", "../../deploy/kubernetes/base/schedules.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The example's CSV lives in the container; point it at a real file.
		data = []byte(strings.ReplaceAll(string(data), "/data/retire.csv", csv))
		cfg, err := schedule.ParseConfig(f, data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(cfg.Schedules) == 0 {
			t.Errorf("%s: no schedules", f)
		}
	}
}

func TestCampaignID(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct{ name, want string }{
		{"stale-assets", "stale-assets-20261127T020405Z"},
		{"Nächtlich: EU/US", "N_chtlich__EU_US-20261127T020405Z"},
		{strings.Repeat("x", 100), strings.Repeat("x", 47) + "-20261127T020405Z"},
	} {
		got := schedule.CampaignID(tc.name, at)
		if got != tc.want {
			t.Errorf("CampaignID(%q) = %q, want %q", tc.name, got, tc.want)
		}
		if err := jobs.ValidateCampaignID(got); err != nil {
			t.Errorf("CampaignID(%q): %v", tc.name, err)
		}
	}
}
