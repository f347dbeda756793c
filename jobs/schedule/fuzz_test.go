package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/schedule"
)

// FuzzParseConfig: ParseConfig never panics, every error names the file,
// and every accepted config is usable (valid campaign IDs, fire times).
// The seed corpus is in testdata/fuzz/FuzzParseConfig.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("schedules:\n  - {name: a, cron: \"@every 5s\", source: {pdcp_query: {labels: [x]}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := schedule.ParseConfig("fuzz.yaml", data)
		if err != nil {
			if msg := err.Error(); msg == "" || !strings.Contains(msg, "fuzz.yaml") {
				t.Fatalf("error %q: want a message naming the file", msg)
			}
			return
		}
		if len(cfg.Schedules) == 0 {
			t.Fatal("accepted a config without schedules")
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		seen := map[string]bool{}
		for _, sc := range cfg.Schedules {
			n := 0
			for _, set := range []bool{sc.Source.CSV != nil, sc.Source.URL != nil, sc.Source.PDCPQuery != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("schedule %q accepted with %d sources", sc.Name, n)
			}
			id := schedule.CampaignID(sc.Name, now)
			if err := jobs.ValidateCampaignID(id); err != nil {
				t.Fatalf("schedule %q: %v", sc.Name, err)
			}
			if seen[id] {
				t.Fatalf("two schedules share campaign ID %s", id)
			}
			seen[id] = true
			if sc.Mode != jobs.ModeDelete && sc.Mode != jobs.ModeRemove || sc.MaxAssets < 1 {
				t.Fatalf("schedule %q: mode %q, max_assets %d", sc.Name, sc.Mode, sc.MaxAssets)
			}
		}
	})
}
