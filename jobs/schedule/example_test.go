package schedule_test

import (
	"fmt"
	"time"

	"github.com/labelreset/labelreset/jobs/schedule"
)

func ExampleParseConfig() {
	cfg, err := schedule.ParseConfig("schedules.yaml", []byte(`
schedules:
  - name: stale-assets
    cron: "0 3 * * *"
    timezone: Europe/Berlin
    mode: remove
    labels: [decommissioned]
    source:
      pdcp_query: {labels: [decommissioned], not_seen_for_days: 30}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	sc := cfg.Schedules[0]
	fmt.Println(sc.Name, sc.Mode, sc.MaxAssets, sc.Source.PDCPQuery.PageSize)

	_, err = schedule.ParseConfig("schedules.yaml", []byte(`
schedules:
  - name: nightly
    cron: "0 3 * * *"
    timezone: Europe/Berlinn
    source: {pdcp_query: {labels: [stale]}}
`))
	fmt.Println(err)
	// Output:
	// stale-assets remove 10000 100
	// schedules.yaml:5: schedule "nightly": timezone: unknown time zone "Europe/Berlinn": want an IANA name such as "Europe/Berlin"
}

func ExampleCampaignID() {
	at := time.Date(2026, 11, 27, 3, 0, 0, 0, time.FixedZone("CET", 3600))
	fmt.Println(schedule.CampaignID("stale assets (EU)", at))
	// Output: stale_assets__EU_-20261127T020000Z
}
