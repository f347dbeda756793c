// Package schedule creates label-reset campaigns on a timetable: it is
// `labelreset scheduler --config schedules.yaml` and `labelreset schedules`.
//
// # Configuration
//
// A YAML file with one list (deploy/schedules.example.yaml is an example):
//
//	schedules:
//	  - name: stale-assets          # required, unique
//	    cron: "0 3 * * *"           # 5 fields, or @daily, @every 10m, ...
//	    timezone: Europe/Berlin     # IANA zone, default UTC
//	    mode: remove                # delete (default) | remove
//	    labels: [decommissioned]    # remove mode only, required there
//	    team_id: ""                 # "" = the process default team
//	    priority: low               # high | normal (default) | low
//	    max_assets: 50000           # default 10000, see below
//	    batch_size: 100             # default Options.Defaults.BatchSize
//	    source:                     # exactly one of:
//	      csv: {path: /data/ids.csv}                        # read at each firing
//	      url: {url: https://host/ids.csv, max_bytes: 1048576, timeout: 30s}
//	      pdcp_query: {labels: [decommissioned], not_seen_for_days: 30, page_size: 100}
//	    select_all: false           # true admits a pdcp_query that narrows nothing
//	    snapshot: true              # default: record the labels first (undo); false opts out
//	    reset_unlisted: false       # true also calls assets the snapshot did not find
//
// ParseConfig is strict: unknown fields, wrong types, duplicate keys,
// invalid cron expressions or zones, missing or several sources, missing or
// duplicate names, remove mode without labels (or labels in delete mode),
// CSV files that are not readable when the file is loaded, URLs that are not
// https (http only on loopback hosts), and pdcp_query filters that narrow
// nothing (which would select every asset) are errors naming the file and
// line. A pdcp_query takes the query parameters of GET
// /v1/asset/enumerate/contents; its values are trimmed and must narrow the
// assets by an attribute as client.Narrowing decides: time: all_time,
// booleans (is_internal, is_new, only_dns, only_ip, ...), sorting and blank
// values do not. A schedule that means every asset says select_all: true,
// and each of its campaigns is created pending, whatever max_assets says. The cron
// zone is set with timezone only (a "CRON_TZ=" prefix is refused), and
// "Local" is refused because replicas could disagree about it. The time
// zone database is embedded (time/tzdata).
//
// # Firing
//
// Each fire time of a schedule creates at most one campaign, whose ID and
// name are CampaignID(name, fire time), e.g. "stale-assets-20261127T020000Z".
// Replicas may run the same file against one Redis: before firing, each sets
// "<ns>:sched:<slug>:<fire Unix time>" with SET NX (expiring after 24h) and
// only the one that set it fires; the deterministic campaign ID is a second
// guard (a re-submit of the same IDs is a no-op, of other IDs is refused).
// The outcome of the last firing is kept in the hash "<ns>:sched:<slug>"
// (slug = Slug(name)) and shown by List. A replica that dies during a
// firing loses that fire time; the next one is unaffected.
//
// A fire time is skipped (result "skipped", logged with the campaign and
// its state) while the campaign the schedule created last is pending,
// running, paused, blocked or stopped: a second campaign over the same
// assets would call each of them again once approved. That campaign is
// named in the state hash (prev_campaign, with its creation time and owner,
// set before the campaign is created) so restarts and replicas agree; once
// it is done or cancelled, deleted, or its ID names another campaign, the
// schedule fires again. A campaign named but not yet in the store counts
// as being created (the fire is skipped) for Options.CreationLease
// (default 15 minutes) after it was named, unless the firing that named
// it recorded that it ended without it: a replica that lists slowly is
// not taken for one whose campaign was deleted.
//
// Fire times are computed with robfig/cron's Schedule.Next in the
// schedule's zone; "@every d" times are multiples of d (so replicas started
// at different moments agree). Fire times that pass while the scheduler is
// down, or while the previous firing of the same schedule is still running,
// are skipped, not back-filled.
//
// Sources are read at fire time: a csv file through jobs/idfile (bad rows
// are skipped and counted), a url downloaded with a size limit (default
// 64 MiB; a larger body fails the firing and creates nothing) and a timeout
// (default 2m), a pdcp_query by paging through ListAssets.
//
// # max_assets
//
// A query stops after max_assets+1 distinct assets; if it got that far, the
// campaign is created pending with those max_assets+1 assets and the reason
// "schedule would touch more than max_assets ...": an operator approves it
// (`labelreset approve`) or cancels it, and later firings pick up what is
// left. A csv or url source is read completely (up to HardMaxAssets distinct
// IDs; more fails the firing) and its campaign is created pending when it
// holds more than max_assets IDs. Otherwise the campaign runs at once.
// Options.Defaults.ConfirmAbove applies to schedules only when it is lower
// than max_assets. A firing with no valid asset ID creates nothing and
// records the error "no assets matched".
//
// # Metrics
//
//	labelreset_schedule_fires_total{schedule,result}   result: created, skipped_duplicate, skipped, empty, error
//	labelreset_schedule_last_fire_timestamp_seconds{schedule}
package schedule
