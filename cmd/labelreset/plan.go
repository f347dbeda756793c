package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
	"github.com/labelreset/labelreset/jobs/notify"
)

// campaignFlags define a campaign and its input; shared by submit and run.
type campaignFlags struct {
	id, name, csv, ids, labels, priority string
	column                               string
	batchSize                            int
	maxAttempts, maxThrottled            int
	backoffBase, backoffCap, retention   time.Duration
	maxFailureRatio                      float64
	minSample                            int64
	strict, appendIDs, dryRun, yes, json bool
	// noSnapshot opts out of the snapshot (the campaign cannot be
	// undone); resetUnlisted calls assets the snapshot did not find;
	// preview lists the inventory for a --dry-run plan (GET only).
	noSnapshot, resetUnlisted, preview bool
	labelsSet                          bool // --labels given, even empty
	confirmAbove                       int64
	rate                               float64
	// notify names the campaign's notifiers, checked against the
	// notifiers file (names only: this process sends nothing).
	notify, notifiers string
	// qf define a campaign by a PDCP query (query.go).
	qf queryFlags
}

func (a *app) addCampaignFlags(fs *flag.FlagSet) *campaignFlags {
	f := &campaignFlags{}
	p := jobs.DefaultPolicy()
	fs.StringVar(&f.id, "campaign", "", "campaign ID [A-Za-z0-9._-]{1,64} (default: generated); the same ID and input again is a no-op")
	fs.StringVar(&f.name, "name", "", "campaign name (default: the input's name)")
	fs.StringVar(&f.csv, "csv", "", "CSV/TSV/one-ID-per-line file of asset IDs, - for stdin (gzip accepted)")
	fs.StringVar(&f.column, "column", "", "the --csv column holding the asset IDs: a header name or a 1-based number (default: detected; the plan says which and why)")
	fs.StringVar(&f.ids, "ids", "", "comma-separated asset IDs")
	fs.Func("labels", "remove only these labels (comma-separated; PATCH update_type=delete) instead of all labels", func(v string) error {
		f.labels, f.labelsSet = v, true
		return nil
	})
	fs.StringVar(&f.priority, "priority", "normal", "queue priority: high, normal or low")
	fs.IntVar(&f.batchSize, "batch-size", jobs.DefaultBatchSize, "asset IDs per queued task")
	fs.IntVar(&f.maxAttempts, "max-attempts", p.MaxAttempts, "failed calls (5xx, network errors) per asset before it ends failed")
	fs.IntVar(&f.maxThrottled, "max-throttled", p.MaxThrottled, "throttled answers (429, 503 with Retry-After) per asset before it ends failed; they do not count against --max-attempts")
	fs.DurationVar(&f.backoffBase, "backoff-base", p.BackoffBase, "first retry backoff (doubling up to --backoff-cap, equal jitter)")
	fs.DurationVar(&f.backoffCap, "backoff-cap", p.BackoffCap, "longest retry backoff")
	fs.Float64Var(&f.maxFailureRatio, "max-failure-ratio", p.MaxFailureRatio, "stop the campaign when failed+invalid exceed this share of finished assets (1 = never)")
	fs.Int64Var(&f.minSample, "min-sample", p.MinSample, "finished assets before the failure ratio is checked")
	fs.DurationVar(&f.retention, "retention", p.Retention, "keep campaign data this long after it finished")
	fs.BoolVar(&f.strict, "strict", false, "refuse the whole input if any row is bad")
	fs.BoolVar(&f.appendIDs, "append", false, "add the input's new IDs to an existing campaign")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan only: nothing enqueued, no PDCP call (with --query or --preview: the listing, GET only)")
	fs.BoolVar(&f.yes, "yes", false, "confirm a campaign above --confirm-above without asking")
	fs.Int64Var(&f.confirmAbove, "confirm-above", jobs.DefaultConfirmAbove, "campaigns with more assets wait for confirmation (or 'labelreset approve')")
	fs.BoolVar(&f.json, "json", false, "machine-readable output")
	fs.BoolVar(&f.noSnapshot, "no-snapshot", false, "do not record the assets' labels before resetting them: the campaign cannot be undone")
	fs.BoolVar(&f.resetUnlisted, "reset-unlisted", false, "also call assets the snapshot did not find in the inventory (default: they end not_in_inventory, uncalled)")
	fs.StringVar(&f.notify, "notify", "", "comma-separated notifier names to tell when the campaign needs approval, is blocked, stopped, cancelled, done or undone (checked against --notifiers)")
	fs.StringVar(&f.notifiers, "notifiers", "", notifiersUsage)
	fs.BoolVar(&f.preview, "preview", false, "with --dry-run: list the inventory (GET requests only) and show what the snapshot would find")
	f.qf.add(fs)
	return f
}

// definition builds the campaign definition from the flags.
func (f *campaignFlags) definition() (*jobs.Campaign, error) {
	prio, err := jobs.ParsePriority(f.priority)
	if err != nil {
		return nil, usageError{err}
	}
	def := &jobs.Campaign{
		ID: f.id, Name: f.name, Mode: jobs.ModeDelete, Priority: prio, BatchSize: f.batchSize,
		// Every campaign records its assets' labels first unless told
		// not to: that is what makes it undoable.
		Snapshot: !f.noSnapshot, ResetUnlisted: f.resetUnlisted,
		Policy: jobs.Policy{
			MaxAttempts: f.maxAttempts, MaxThrottled: f.maxThrottled, BackoffBase: f.backoffBase, BackoffCap: f.backoffCap,
			MaxFailureRatio: f.maxFailureRatio, MinSample: f.minSample, Retention: f.retention,
		},
	}
	// An empty --labels "$UNSET" must not fall back to removing every
	// label: given at all, the flag means remove mode.
	if f.labelsSet {
		def.Mode = jobs.ModeRemove
		if def.Labels, err = jobs.ParseLabelList(f.labels); err != nil {
			return nil, usageError{err}
		}
		if len(def.Labels) == 0 {
			return nil, usagef("--labels %q names no label: give the labels to remove, or leave --labels out to remove all labels", f.labels)
		}
	}
	if err := f.qf.apply(def, f.resetUnlisted); err != nil {
		return nil, err
	}
	if def.ID != "" {
		if err := jobs.ValidateCampaignID(def.ID); err != nil {
			return nil, usageError{err}
		}
	}
	if def.Notify, err = jobs.ParseNotifyList(f.notify); err != nil {
		return nil, usageError{fmt.Errorf("--notify: %w", err)}
	}
	if len(def.Notify) > 0 {
		var known *notify.Config
		if f.notifiers != "" {
			if known, err = notify.LoadNames(f.notifiers); err != nil {
				return nil, usageError{err}
			}
		}
		if err := known.Check(def.Notify); err != nil {
			return nil, usageError{fmt.Errorf("--notify: %w", err)}
		}
	}
	if err := def.Policy.Validate(); err != nil {
		return nil, usageError{err}
	}
	return def, nil
}

// plan builds the campaign definition and reads the input into a plan;
// for --dry-run it prints the plan and returns a nil plan.
func (a *app) plan(ctx context.Context, cf *campaignFlags, af *apiFlags) (*jobs.Campaign, *jobs.Plan, error) {
	if cf.preview && !cf.dryRun {
		return nil, nil, usagef("--preview shows what a --dry-run's snapshot would find: give --dry-run too")
	}
	if cf.preview && cf.noSnapshot {
		return nil, nil, usagef("--preview shows what the snapshot would find, and --no-snapshot takes none: give one of them")
	}
	def, err := cf.definition()
	if err != nil {
		return nil, nil, err
	}
	// The plan shows the team the calls will carry.
	if def.TeamID, err = a.defaultTeam(af.team, af.credentials); err != nil {
		return nil, nil, err
	}
	// The campaign is for the assets of this server only.
	if def.Server, err = a.apiServer(af.server, af.credentials); err != nil {
		return nil, nil, err
	}
	var plan *jobs.Plan
	if cf.qf.query != "" {
		plan, err = a.readQueryPlan(ctx, cf, af, def)
	} else {
		plan, err = a.readPlan(cf, def)
	}
	if err != nil {
		return nil, nil, err
	}
	if cf.dryRun {
		var preview *jobs.SnapshotInfo
		if cf.preview {
			if preview, err = a.previewSnapshot(ctx, af, def, plan); err != nil {
				return nil, nil, err
			}
		}
		return def, nil, a.printPlan(plan, def, cf.rate, cf.json, cf.qf.selectAll, preview)
	}
	return def, plan, nil
}

// readPlan reads the input named by the flags into a plan.
func (a *app) readPlan(f *campaignFlags, def *jobs.Campaign) (*jobs.Plan, error) {
	var in jobs.Input
	// name is the campaign's name unless --name gives one: what a person
	// recognises in 'labelreset campaigns', not the path or flag it came from.
	var name string
	var file *idfile.Reader
	switch {
	case f.csv != "" && f.ids != "":
		return nil, usagef("give either --csv or --ids, not both")
	case f.column != "" && f.csv == "":
		return nil, usagef("--column %q chooses a column of the --csv file: give --csv", f.column)
	case f.csv != "":
		var r *idfile.Reader
		opts := idfile.Options{Column: f.column}
		if f.csv == "-" {
			r = idfile.NewReader(a.stdin, "-", opts)
			def.Source, name = "stdin", "stdin"
		} else {
			var c io.Closer
			var err error
			r, c, err = idfile.Open(f.csv, opts)
			if err != nil {
				return nil, usageError{err}
			}
			defer c.Close()
			def.Source, name = "file "+f.csv, filepath.Base(f.csv)
		}
		in, file = r, r
	case f.ids != "":
		ids := strings.Split(f.ids, ",")
		in = jobs.IDList("--ids", ids)
		def.Source, name = "--ids", idsName(len(ids))
	default:
		return nil, usagef("no input: give --csv FILE (- for stdin), --ids 1,2,3 or --query 'labels=...'")
	}
	if def.Name == "" {
		def.Name = name
	}
	plan, err := jobs.ReadPlan(def, in)
	if errors.Is(err, idfile.ErrIDColumn) {
		return nil, usageError{fmt.Errorf("%w: give --column NAME|N", err)}
	}
	if err != nil {
		// Empty, unreadable or damaged (a truncated gzip): the input is
		// what must be fixed, and nothing was written.
		return nil, usageError{err}
	}
	if col, ok := columnOf(file); ok && col.Why != idfile.WhyOnlyColumn && !f.dryRun {
		// A file of several columns: say which one the campaign resets
		// (the dry-run plan always does).
		fmt.Fprintf(a.stderr, "%s: IDs from %s\n", def.Source, plan.IDColumn)
	}
	// A dry run's plan lists the bad rows itself.
	if !f.dryRun {
		for _, b := range plan.BadRows {
			fmt.Fprintln(a.stderr, "bad row:", b)
		}
		if plan.Bad > int64(len(plan.BadRows)) {
			fmt.Fprintf(a.stderr, "... and %d more bad rows\n", plan.Bad-int64(len(plan.BadRows)))
		}
	}
	if f.strict && plan.Bad > 0 {
		return nil, fmt.Errorf("%w: %d of %d rows are bad; nothing was submitted", jobs.ErrStrict, plan.Bad, plan.Rows)
	}
	if plan.Valid == 0 {
		return nil, usageError{fmt.Errorf("%w in %s (%d rows, %d bad)", jobs.ErrNoValidIDs, def.Source, plan.Rows, plan.Bad)}
	}
	return plan, nil
}

// previewSnapshot lists the inventory (GET requests only) and returns
// what the campaign's snapshot would find.
func (a *app) previewSnapshot(ctx context.Context, af *apiFlags, def *jobs.Campaign, plan *jobs.Plan) (*jobs.SnapshotInfo, error) {
	cfg, err := af.resolve(a.getenv, 1)
	if err != nil {
		return nil, err
	}
	cfg.TeamID = def.TeamID
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	defer c.CloseIdleConnections()
	f, err := campaignFilter(def)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(a.stderr, "preview: listing the inventory of team %s on %s (GET only)...\n", orDash(def.TeamID), def.Server)
	p := jobs.NewSnapshotPreview(plan, time.Now())
	pages, err := listInventory(ctx, c, f, nil, func(page []client.Asset) error {
		p.Add(page)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	return p.Info(pages, time.Now()), nil
}

// campaignFilter is the listing filter of a campaign, as its snapshot
// lists: its own query when it has one (it narrows the listing), else the
// whole inventory.
func campaignFilter(c *jobs.Campaign) (client.AssetFilter, error) {
	return jobs.QueryFilter(c.Query), nil
}

// snapshotRequests says what the snapshot costs: one listing request per
// page of the team's inventory, which the plan cannot know.
func snapshotRequests() string {
	return fmt.Sprintf("about inventory/%d+1 listing requests: %d for an inventory of 1,000,000 assets",
		inventoryPageSize, 1_000_000/inventoryPageSize+1)
}

// planSnapshot is the snapshot part of a plan's JSON.
type planSnapshot struct {
	Enabled       bool `json:"enabled"`
	Undoable      bool `json:"undoable"`
	ResetUnlisted bool `json:"reset_unlisted"`
	// Warning says what --reset-unlisted costs the undo.
	Warning  string             `json:"warning,omitempty"`
	Requests string             `json:"requests,omitempty"`
	Preview  *jobs.SnapshotInfo `json:"preview,omitempty"`
}

// printPlan shows what a submit will do.
func (a *app) printPlan(plan *jobs.Plan, def *jobs.Campaign, rate float64, asJSON, selectAll bool, preview *jobs.SnapshotInfo) error {
	server := def.Server
	var express *expressPlan
	if def.Express {
		var err error
		if express, err = newExpressPlan(def); err != nil {
			return usageError{fmt.Errorf("--express: %w", err)}
		}
	}
	est := ""
	if rate > 0 {
		est = (time.Duration(float64(plan.New) / rate * float64(time.Second))).Round(time.Second).String()
	}
	snap := planSnapshot{Enabled: def.Snapshot, Undoable: def.Snapshot, ResetUnlisted: def.ResetUnlisted, Preview: preview}
	if def.Snapshot {
		snap.Requests = snapshotRequests()
	}
	if def.Snapshot && def.ResetUnlisted {
		snap.Warning = resetUnlistedWarning(preview)
	}
	if asJSON {
		out := struct {
			*jobs.Plan
			APIServer string       `json:"api_server"`
			Rate      float64      `json:"rate,omitempty"`
			Estimate  string       `json:"estimated_duration,omitempty"`
			DryRun    bool         `json:"dry_run"`
			Snapshot  planSnapshot `json:"snapshot"`
			Query     string       `json:"query,omitempty"`
			SelectAll bool         `json:"select_all,omitempty"`
			Express   *expressPlan `json:"express,omitempty"`
		}{plan, server, rate, est, true, snap, def.Query, selectAll, express}
		a.writeJSON(out)
		return nil
	}
	w := a.stdout
	if plan.Campaign == "" {
		fmt.Fprintf(w, "Plan for a new campaign (%s)\n", plan.Name)
	} else {
		fmt.Fprintf(w, "Plan for campaign %s (%s)\n", plan.Campaign, plan.Name)
	}
	if plan.IDColumn != "" {
		fmt.Fprintf(w, "  IDs from:       %s\n", plan.IDColumn)
	}
	if def.Query != "" {
		fmt.Fprintf(w, "  query:          %s (listed now: the assets it selected are the campaign's)\n", def.Query)
	}
	if selectAll {
		fmt.Fprintf(w, "  select all:     the query narrows nothing (--select-all): the campaign waits for approval\n")
	}
	fmt.Fprintf(w, "  rows read:      %d\n", plan.Rows)
	fmt.Fprintf(w, "  valid IDs:      %d\n", plan.Valid)
	fmt.Fprintf(w, "  duplicates:     %d\n", plan.Duplicates)
	fmt.Fprintf(w, "  bad rows:       %d\n", plan.Bad)
	for _, b := range plan.BadRows[:min(len(plan.BadRows), 10)] {
		fmt.Fprintf(w, "    %s\n", b)
	}
	if shown := int64(min(len(plan.BadRows), 10)); plan.Bad > shown {
		fmt.Fprintf(w, "    ... and %d more\n", plan.Bad-shown)
	}
	fmt.Fprintf(w, "  batches:        %d of up to %d IDs\n", plan.Batches, plan.BatchSize)
	if express != nil {
		fmt.Fprintf(w, "  mode:           remove labels %s, express (--express):\n", strings.Join(plan.Labels, ","))
		fmt.Fprintf(w, "    1. one %s with filters %s and labels %s\n", express.Call, express.Filters, strings.Join(plan.Labels, ","))
		fmt.Fprintf(w, "    2. verification up to %s: the query is listed until every asset is seen without the labels\n", express.Deadline)
		fmt.Fprintf(w, "    3. the assets not seen clean by then are called one by one (PATCH /v1/asset/{id}/labels?update_type=delete)\n")
		fmt.Fprintf(w, "  WARNING:        %s\n", express.Warning)
	} else if plan.Mode == jobs.ModeRemove {
		fmt.Fprintf(w, "  mode:           remove labels %s (PATCH /v1/asset/{id}/labels?update_type=delete)\n", strings.Join(plan.Labels, ","))
	} else {
		fmt.Fprintf(w, "  mode:           delete ALL labels (DELETE /v1/asset/{id}/labels)\n")
	}
	fmt.Fprintf(w, "  team:           %s\n", orDash(plan.TeamID))
	fmt.Fprintf(w, "  priority:       %s\n", plan.Priority)
	fmt.Fprintf(w, "  API server:     %s\n", server)
	if rate > 0 {
		if est == "0s" {
			est = "under a second"
		} else {
			est = "about " + est
		}
		fmt.Fprintf(w, "  time:           %s at %g/s (--rate)\n", est, rate)
	} else {
		fmt.Fprintf(w, "  time:           no rate limit set (--rate); bounded by PDCP and --concurrency\n")
	}
	a.printPlanSnapshot(def, plan, preview)
	return nil
}

// printPlanSnapshot is the snapshot part of a dry run's plan.
func (a *app) printPlanSnapshot(def *jobs.Campaign, plan *jobs.Plan, preview *jobs.SnapshotInfo) {
	w := a.stdout
	if !def.Snapshot {
		fmt.Fprintf(w, "  snapshot:       none (--no-snapshot): this campaign cannot be undone\n")
		return
	}
	fmt.Fprintf(w, "  snapshot:       the labels of every asset are recorded before any reset (%s)\n", snapshotRequests())
	if def.ResetUnlisted {
		fmt.Fprintf(w, "  not listed:     assets the snapshot does not find are called anyway (--reset-unlisted)\n")
		fmt.Fprintf(w, "  WARNING:        %s\n", resetUnlistedWarning(preview))
	} else {
		fmt.Fprintf(w, "  not listed:     assets the snapshot does not find end not_in_inventory, uncalled\n")
	}
	if preview == nil {
		fmt.Fprintf(w, "  (a dry run makes no PDCP request: the snapshot will be taken when the campaign is submitted; --preview lists the inventory now)\n")
		return
	}
	fmt.Fprintf(w, "Snapshot preview (listed now; assets may change before the campaign runs)\n")
	printSnapshotFound(w, preview, plan.Valid, "  ")
}

// resetUnlistedWarning says that --reset-unlisted resets assets whose
// labels nothing recorded, with how many the preview (if any) found so.
func resetUnlistedWarning(preview *jobs.SnapshotInfo) string {
	n := "assets the snapshot does not find"
	if preview != nil {
		n = fmt.Sprintf("the %s the preview did not find", count(preview.NotInInventory, "asset"))
	}
	return n + " are reset WITHOUT a recorded label set: undo cannot restore them"
}

// idsName names a campaign made from n comma-separated --ids entries.
func idsName(n int) string {
	if n == 1 {
		return "1 ID from --ids"
	}
	return fmt.Sprintf("%d IDs from --ids", n)
}

// count is "1 asset", "2 assets", "3 batches".
func count(n int64, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "ch"):
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// confirm asks on a terminal whether to go ahead with a large campaign,
// naming the team and the API server the campaign will record (the same
// asset IDs are other assets in another team or on another server). It
// must run before anything is written: "no" leaves nothing behind. asked
// is false, and nothing is read, when there is no terminal to ask on.
func (a *app) confirm(def *jobs.Campaign, plan *jobs.Plan) (asked, yes bool) {
	if !isTerminal(a.stdin) || !isTerminal(a.stderr) {
		return false, false
	}
	mode := "remove ALL labels from"
	if plan.Mode == jobs.ModeRemove {
		mode = "remove labels " + strings.Join(plan.Labels, ",") + " from"
	}
	team := def.TeamID
	if team == "" {
		team = "none (no X-Team-Id)"
	}
	fmt.Fprintf(a.stderr, "This will %s %d assets of team %s on API server %s. Proceed? [y/N] ", mode, plan.New, team, def.Server)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return true, line == "y" || line == "yes"
}

// columnOf is the ID column of a file input; ok is false for --ids.
func columnOf(r *idfile.Reader) (idfile.Column, bool) {
	if r == nil {
		return idfile.Column{}, false
	}
	return r.Column()
}
