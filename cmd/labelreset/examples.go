package main

// commandExamples are the examples "labelreset COMMAND --help" ends with:
// the command's own, so that the help of one command answers how to use
// that command. The overview (labelreset --help) shows examples.
var commandExamples = map[string]string{
	"run": `  # A whole campaign without a PDCP key (built-in fake PDCP, embedded Redis):
  labelreset run --demo
  # The assets of a CSV, on one machine, with a per-asset report:
  labelreset run --csv retired.csv --rate 20 --report report.csv
  # Remove only some labels; print the summary as JSON:
  labelreset run --ids 101,102,103 --labels env:prod,critical --json
  # Plan only: no call, nothing enqueued:
  labelreset run --csv retired.csv --dry-run
  # Plan plus what the snapshot would find (lists the inventory, GET only):
  labelreset run --csv retired.csv --dry-run --preview
  # Choose where the snapshot file goes (default labelreset-CAMPAIGN.snapshot.jsonl.gz):
  labelreset run --csv retired.csv --snapshot-file /safe/q4.snapshot.jsonl.gz
  # The assets a PDCP query selects (listed now, GET only), one call each:
  labelreset run --query 'labels=stale&not_seen_for_days=30' --labels stale
  # The same in one bulk call, verified asset by asset (the plan first):
  labelreset run --query 'labels=stale&not_seen_for_days=30' --labels stale --express --dry-run
`,
	"submit": `  # Plan only: validate, de-duplicate, estimate at 20/s; nothing enqueued:
  labelreset submit --csv retired.csv --dry-run --rate 20
  # Enqueue on a shared Redis for the workers:
  REDIS_URL=redis://redis:6379/0 labelreset submit --campaign q4-retire --csv retired.csv --yes
  # Without a snapshot: faster to start, but it cannot be undone:
  labelreset submit --campaign q4-retire --csv retired.csv --no-snapshot
  # IDs from stdin; add the new ones to an existing campaign:
  cut -d, -f1 more.csv | labelreset submit --campaign q4-retire --csv - --append
  # A query-defined cleanup in express mode (one bulk call; verification up to 20m):
  labelreset submit --query 'labels=stale&not_seen_for_days=30' --labels stale --express --express-deadline 20m
`,
	"snapshot": `  # The labels q4-retire recorded before its resets, gzipped:
  labelreset snapshot q4-retire -o q4-retire.snapshot.jsonl.gz
  # As JSON lines on stdout:
  labelreset snapshot q4-retire | head
`,
	"undo": `  # What an undo would put back; nothing changes:
  labelreset undo q4-retire --dry-run
  # Put the removed labels back (a restore campaign for the workers); print its ID as JSON:
  labelreset undo q4-retire --yes --json
  # From the file run wrote on the embedded Redis, worked in this process:
  labelreset undo --snapshot labelreset-q4-retire.snapshot.jsonl.gz --yes
  # Exactly the snapshot's labels (labels added since the reset are deleted):
  labelreset undo q4-retire --exact
`,
	"verify": `  # Check that none of the removed labels remain on the reset assets:
  labelreset verify q4-retire
  # After an undo: every restored label is back; one verdict per asset in a CSV:
  labelreset verify undo-of-q4-retire --report verify.csv
`,
	"worker": `  # One worker of many, all sharing 50 requests/s through Redis:
  labelreset worker --redis redis://redis:6379/0 --concurrency 64 --rate 50
  # The same, configured from the environment:
  REDIS_URL=redis://redis:6379/0 LABELRESET_RATE=50 labelreset worker
`,
	"status": `  labelreset status q4-retire
  labelreset status q4-retire --watch
  labelreset status q4-retire --json
`,
	"asset": `  # What every campaign did to asset 1234567890, newest first:
  labelreset asset 1234567890
  labelreset asset 1234567890 --json
`,
	"report": `  labelreset report q4-retire -o report.csv
  labelreset report q4-retire --only failed,invalid --format jsonl
`,
	"campaigns": `  labelreset campaigns
  labelreset campaigns --json --limit 10
`,
	"events": `  labelreset events q4-retire
`,
	"approve": `  labelreset approve q4-retire
`,
	"pause": `  labelreset pause q4-retire     # later: labelreset resume q4-retire
`,
	"resume": `  labelreset resume q4-retire
`,
	"cancel": `  labelreset cancel q4-retire
`,
	"retry": `  labelreset retry q4-retire                 # failed assets
  labelreset retry q4-retire --outcome failed,invalid
`,
	"serve": `  # Tokens with names, roles and teams, reloaded when the file changes:
  labelreset serve --addr :8080 --tokens-file tokens.yaml
  # Local testing only:
  labelreset serve --addr 127.0.0.1:8080 --insecure-no-auth
`,
	"scheduler": `  labelreset scheduler --config deploy/schedules.example.yaml
`,
	"schedules": `  labelreset schedules --config deploy/schedules.example.yaml
`,
}
