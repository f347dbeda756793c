package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
)

// undoFlags are the flags of undo.
type undoFlags struct {
	rf                               *redisFlags
	af                               *apiFlags
	wf                               *workerFlags
	snapshot, id, name, priority     string
	report, reportFormat             string
	exact, yes, json, dryRun         bool
	useConfiguredTarget, noPreflight bool
	confirmAbove                     int64
	batchSize                        int
}

// cmdUndo creates the restore campaign of a campaign (on its Redis, for
// the workers), or of a snapshot file (run to completion in this process
// on the embedded Redis, as run does, or created on --redis).
func (a *app) cmdUndo(ctx context.Context, args []string) error {
	fs := a.newFlagSet("undo")
	u := &undoFlags{rf: a.addRedisFlags(fs), af: a.addAPIFlags(fs), wf: a.addWorkerFlags(fs, "")}
	fs.StringVar(&u.snapshot, "snapshot", "", "restore from this snapshot file (labelreset snapshot -o, or the file run wrote) instead of a CAMPAIGN in Redis")
	fs.BoolVar(&u.exact, "exact", false, "set each asset's labels to exactly the snapshot's (PATCH update_type=replace): labels added since the reset are deleted")
	fs.BoolVar(&u.yes, "yes", false, "confirm a restore above --confirm-above without asking")
	fs.BoolVar(&u.json, "json", false, "machine-readable output: one object with the restore campaign's id and the plan")
	fs.BoolVar(&u.dryRun, "dry-run", false, "show how many assets would get which labels back: nothing is created, no PDCP call")
	fs.StringVar(&u.name, "name", "", "the restore campaign's name (default: undo of CAMPAIGN)")
	fs.Int64Var(&u.confirmAbove, "confirm-above", jobs.DefaultConfirmAbove, "restores of more assets wait for confirmation (or 'labelreset approve')")
	fs.StringVar(&u.id, "campaign", "", "with --snapshot: the restore campaign's ID (default: generated)")
	fs.BoolVar(&u.useConfiguredTarget, "use-configured-target", false,
		"with --snapshot: restore into the team and API server of the configuration (flags, environment, credentials file) although the snapshot names others")
	fs.StringVar(&u.priority, "priority", "normal", "with --snapshot: queue priority: high, normal or low")
	fs.IntVar(&u.batchSize, "batch-size", jobs.DefaultBatchSize, "with --snapshot: asset IDs per queued task")
	fs.StringVar(&u.report, "report", "", "with --snapshot on the embedded Redis: write the per-asset report to this file when the restore ends")
	fs.StringVar(&u.reportFormat, "report-format", "csv", "csv or jsonl")
	noPreflight := addPreflightFlag(fs)
	pos, err := a.parseFlags(fs, args)
	if err != nil {
		return err
	}
	u.noPreflight = *noPreflight
	if u.snapshot != "" {
		if len(pos) != 0 {
			return usagef("give either CAMPAIGN or --snapshot FILE, not both")
		}
		return a.undoSnapshot(ctx, u)
	}
	if u.id != "" || u.useConfiguredTarget {
		return usagef("--campaign and --use-configured-target apply to --snapshot FILE; the restore of a CAMPAIGN goes to its own team and server")
	}
	id, err := oneCampaign(pos)
	if err != nil {
		return err
	}
	return a.undoCampaign(ctx, u, id)
}

// undoCampaign undoes a campaign stored in Redis: its restore campaign is
// worked by the workers like any other.
func (a *app) undoCampaign(ctx context.Context, u *undoFlags, id string) error {
	store, closeFn, err := a.storeFor(ctx, u.rf)
	if err != nil {
		return err
	}
	defer closeFn()
	plan, err := store.PlanUndo(ctx, id, u.exact)
	if err != nil {
		return fmt.Errorf("undo %s: %w", id, err)
	}
	if u.dryRun {
		return a.printUndoPlan(plan, u, true)
	}
	approved := u.yes
	if plan.Existing == "" && !approved && u.confirmAbove >= 0 && plan.Restore > u.confirmAbove {
		src, err := store.Get(ctx, id)
		if err != nil {
			return err
		}
		var asked bool
		if asked, approved = a.confirmUndo(plan, src.TeamID, src.Server); asked && !approved {
			return usagef("not confirmed: no restore campaign created, %s left as it is", id)
		}
	}
	res, plan, err := store.Undo(ctx, id, jobs.UndoOptions{Exact: u.exact, Name: u.name,
		Submit: jobs.SubmitOptions{ConfirmAbove: u.confirmAbove, Approved: approved}})
	if err != nil {
		return fmt.Errorf("undo %s: %w", id, err)
	}
	a.printUndone(res, plan, u.json, store.Namespace(), false)
	return nil
}

// undoSnapshot undoes from a snapshot file: every asset in it gets its
// labels back, for the team and API server its header names.
func (a *app) undoSnapshot(ctx context.Context, u *undoFlags) error {
	hdr, lines, err := readSnapshotFile(u.snapshot)
	if err != nil {
		return err
	}
	team, server, err := a.undoTarget(u, hdr)
	if err != nil {
		return err
	}
	plan, err := snapshotUndoPlan(hdr, lines, u.exact)
	if err != nil {
		return usageError{fmt.Errorf("snapshot %s: %w", u.snapshot, err)}
	}
	if u.dryRun {
		fmt.Fprintf(a.stderr, "snapshot %s: campaign %s, team %s, API server %s, taken %s\n", u.snapshot, hdr.Campaign,
			orDash(team), server, hdr.TakenAt.Format(time.RFC3339))
		return a.printUndoPlan(plan, u, true)
	}
	prio, err := jobs.ParsePriority(u.priority)
	if err != nil {
		return usageError{err}
	}
	def := &jobs.Campaign{ID: u.id, Name: u.name, TeamID: team, Server: server, Priority: prio, BatchSize: u.batchSize,
		Policy: jobs.DefaultPolicy(), Source: "snapshot file " + u.snapshot}
	if def.ID == "" {
		// Named by the file: undo of the same file again, on the same
		// Redis, finds the first restore instead of calling every asset
		// once more.
		def.ID = jobs.FileRestoreID(hdr, lines)
	}
	if err := jobs.ValidateCampaignID(def.ID); err != nil {
		return usageError{err}
	}
	if def.Name == "" {
		def.Name = "undo of " + hdr.Campaign + " (snapshot file)"
	}
	ccfg, err := u.af.resolve(a.getenv, u.wf.concurrency)
	if err != nil {
		return err
	}
	// The restore goes where the snapshot was taken (or, told so, where
	// the configuration points); the key is the configuration's.
	ccfg.Server, ccfg.TeamID = server, team
	embedded := u.rf.url == ""
	approved := u.yes
	if !approved && u.confirmAbove >= 0 && plan.Restore > u.confirmAbove {
		var asked bool
		asked, approved = a.confirmUndo(plan, team, server)
		switch {
		case asked && !approved:
			return usagef("not confirmed: no restore campaign created")
		case !approved && embedded:
			return usagef("the restore puts labels back on %d assets, above --confirm-above %d: confirm with --yes", plan.Restore, u.confirmAbove)
		}
	}
	if !u.noPreflight {
		pcfg := ccfg
		pcfg.Timeout = u.wf.timeout
		if err := a.preflight(ctx, pcfg); err != nil {
			return err
		}
	}
	reportFormat, err := jobs.ParseReportFormat(u.reportFormat)
	if err != nil {
		return usageError{err}
	}
	f := &runFlags{rf: u.rf, af: u.af, wf: u.wf, cf: &campaignFlags{json: u.json, yes: approved},
		report: u.report, reportFormat: reportFormat, outageLimit: 5 * time.Minute, undoPlan: plan}
	if err := u.wf.listenMetrics(); err != nil {
		return err
	}
	defer u.wf.closeMetrics()
	rs, err := a.startRunRedis(ctx, u.rf)
	if err != nil {
		return err
	}
	defer rs.close()
	res, err := rs.store.UndoFromSnapshot(ctx, hdr, lines, def, jobs.UndoOptions{Exact: u.exact, Name: def.Name,
		Submit: jobs.SubmitOptions{ConfirmAbove: u.confirmAbove, Approved: approved}})
	if err != nil {
		return fmt.Errorf("undo from %s: %w", u.snapshot, err)
	}
	if !rs.embedded {
		a.printUndone(res, plan, u.json, rs.store.Namespace(), false)
		return nil
	}
	// The embedded Redis is gone when this process exits: work the
	// restore here, to the end, as run does.
	a.printUndone(res, plan, false, rs.store.Namespace(), true)
	w, err := a.workAndWatch(ctx, f, rs, ccfg, res.Campaign.ID)
	if err != nil {
		return err
	}
	defer w.done()
	return a.runSummary(f, rs, res.Campaign.ID, w)
}

// readSnapshotFile reads a snapshot file; a bad file is a usage error
// naming the file and line.
func readSnapshotFile(path string) (*jobs.SnapshotHeader, []jobs.SnapshotLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("snapshot file: %w", err)}
	}
	defer f.Close()
	hdr, lines, err := jobs.ReadSnapshot(bufio.NewReaderSize(f, 64<<10), path)
	if err != nil {
		return nil, nil, usageError{err}
	}
	return hdr, lines, nil
}

// undoTarget is the team and API server a snapshot file's restore goes
// to: its header's. The same asset IDs are other assets in another team
// or on another server, so a configuration (flag, environment or
// credentials file) naming others is refused unless
// --use-configured-target says to restore there.
func (a *app) undoTarget(u *undoFlags, hdr *jobs.SnapshotHeader) (team, server string, err error) {
	cfgTeam, err := a.defaultTeam(u.af.team, u.af.credentials)
	if err != nil {
		return "", "", err
	}
	cfgServer, err := a.apiServer(u.af.server, u.af.credentials)
	if err != nil {
		return "", "", err
	}
	if u.useConfiguredTarget {
		return cfgTeam, cfgServer, nil
	}
	hdrServer := cfgServer
	if hdr.Server != "" {
		if hdrServer, err = client.NormalizeServer(hdr.Server); err != nil {
			return "", "", usageError{fmt.Errorf("snapshot file %s: header: %w", u.snapshot, err)}
		}
	}
	defServer, _ := client.NormalizeServer("")
	// A configuration that names no server points at the default one
	// without saying so: only a named server can disagree.
	namedServer := u.af.server != "" || a.getenv(client.EnvServer) != "" || cfgServer != defServer
	var diffs []string
	if cfgTeam != "" && cfgTeam != hdr.TeamID {
		diffs = append(diffs, fmt.Sprintf("team %s (the snapshot's: %s)", cfgTeam, orDash(hdr.TeamID)))
	}
	if namedServer && cfgServer != hdrServer {
		diffs = append(diffs, fmt.Sprintf("API server %s (the snapshot's: %s)", cfgServer, hdrServer))
	}
	if len(diffs) > 0 {
		return "", "", usagef("snapshot %s was taken for team %s on %s, but the configuration names %s: the same asset IDs are other assets there. "+
			"Configure the snapshot's team and server, or give --use-configured-target to restore into the configured ones",
			u.snapshot, orDash(hdr.TeamID), hdrServer, strings.Join(diffs, " and "))
	}
	return hdr.TeamID, hdrServer, nil
}

// snapshotUndoPlan is the undo plan of a snapshot file, as
// jobs.Store.UndoFromSnapshot will make it: an asset whose line says it
// was not reset needs no call, nor one with nothing removed to put back
// (remove mode: none of the header's labels); with exact every line must
// say whether its asset was reset (jobs.ErrSnapshotNoOutcomes), so that a
// dry run refuses what the undo would.
func snapshotUndoPlan(hdr *jobs.SnapshotHeader, lines []jobs.SnapshotLine, exact bool) (*jobs.UndoPlan, error) {
	p := &jobs.UndoPlan{Source: hdr.Campaign}
	counts := map[string]int64{}
	for _, l := range lines {
		if exact && l.Reset == nil {
			return nil, fmt.Errorf("asset %d: %w", l.AssetID, jobs.ErrSnapshotNoOutcomes)
		}
		took := l.Labels
		if hdr.Mode == jobs.ModeRemove {
			took = nil
			for _, lb := range l.Labels {
				if slices.Contains(hdr.Labels, lb) {
					took = append(took, lb)
				}
			}
		}
		if len(took) == 0 || (l.Reset != nil && !*l.Reset) {
			p.Unchanged++
			continue
		}
		if exact {
			took = l.Labels
		}
		p.Restore++
		for _, lb := range took {
			counts[lb]++
		}
	}
	for l, n := range counts {
		p.Labels = append(p.Labels, jobs.LabelCount{Label: l, Assets: n})
	}
	slices.SortFunc(p.Labels, func(a, b jobs.LabelCount) int {
		if c := cmp.Compare(b.Assets, a.Assets); c != 0 {
			return c
		}
		return cmp.Compare(a.Label, b.Label)
	})
	return p, nil
}

// notRestorable says why undo leaves n assets as they are although the
// source may have reset them.
func notRestorable(n int64) string {
	return fmt.Sprintf("%s reset without a snapshot of their labels (--reset-unlisted: the snapshot did not find them); undo cannot restore them",
		count(n, "asset"))
}

// shownLabels bounds the labels an undo plan lists as text (--json has
// them all).
const shownLabels = 20

// printUndoPlan prints what an undo will do (dry run) or did.
func (a *app) printUndoPlan(plan *jobs.UndoPlan, u *undoFlags, dryRun bool) error {
	if u.json {
		return a.writeJSON(struct {
			DryRun bool           `json:"dry_run"`
			Plan   *jobs.UndoPlan `json:"plan"`
		}{dryRun, plan})
	}
	writeUndoPlan(a.stdout, plan, u.exact)
	if dryRun {
		fmt.Fprintln(a.stdout, "(dry run: nothing created, no PDCP request)")
	}
	return nil
}

func writeUndoPlan(w io.Writer, plan *jobs.UndoPlan, exact bool) {
	how := "POST /v1/asset/{id}/labels: labels added since the reset stay"
	if exact {
		how = "PATCH /v1/asset/{id}/labels?update_type=replace: exactly the snapshot's labels"
	}
	fmt.Fprintf(w, "Undo of %s\n", orDash(plan.Source))
	fmt.Fprintf(w, "  restore:    %s get labels back (%s)\n", count(plan.Restore, "asset"), how)
	fmt.Fprintf(w, "  unchanged:  %s (no labels removed, or never called: no call)\n", count(plan.Unchanged, "asset"))
	if plan.NotRestorable > 0 {
		fmt.Fprintf(w, "  not restorable: %s\n", notRestorable(plan.NotRestorable))
	}
	for i, l := range plan.Labels {
		if i == shownLabels {
			fmt.Fprintf(w, "              ... and %d more labels\n", len(plan.Labels)-shownLabels)
			break
		}
		fmt.Fprintf(w, "    %-40q on %s\n", l.Label, count(l.Assets, "asset"))
	}
	if plan.Cancels {
		fmt.Fprintf(w, "  source:     %s can still run: undo cancels it first, so that a resume cannot delete the restored labels again\n", plan.Source)
	}
	if plan.Existing != "" {
		fmt.Fprintf(w, "  existing:   already undone by restore campaign %s\n", plan.Existing)
	}
}

// confirmUndo asks on a terminal whether to go ahead with a large
// restore; asked is false without a terminal.
func (a *app) confirmUndo(plan *jobs.UndoPlan, team, server string) (asked, yes bool) {
	if !isTerminal(a.stdin) || !isTerminal(a.stderr) {
		return false, false
	}
	if team == "" {
		team = "none (no X-Team-Id)"
	}
	fmt.Fprintf(a.stderr, "This will put labels back on %d assets of team %s on API server %s (undo of %s). Proceed? [y/N] ",
		plan.Restore, team, server, orDash(plan.Source))
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return true, line == "y" || line == "yes"
}

// printUndone says which restore campaign undo created (or found), and
// whether it cancelled the source; inProcess: this process works it.
func (a *app) printUndone(res *jobs.SubmitResult, plan *jobs.UndoPlan, asJSON bool, ns string, inProcess bool) {
	c := res.Campaign
	if asJSON {
		a.writeJSON(struct {
			ID              string         `json:"id"`
			Existing        bool           `json:"existing"`
			CancelledSource bool           `json:"cancelled_source"`
			Plan            *jobs.UndoPlan `json:"plan"`
			Campaign        campaignStatus `json:"campaign"`
		}{c.ID, res.Existing, plan.Cancels && !res.Existing, plan, statusJSON(c)})
		return
	}
	w := a.stdout
	if inProcess {
		w = a.stderr // stdout holds the summary, as for run
	}
	if plan.Cancels && !res.Existing {
		fmt.Fprintf(w, "campaign %s could still run: cancelled it first, so that a resume cannot delete the restored labels again\n", plan.Source)
	}
	nsFlag := ""
	if ns != jobs.DefaultNamespace {
		nsFlag = " --namespace " + ns
	}
	if res.Existing {
		fmt.Fprintf(w, "campaign %s was already undone by restore campaign %s (%s): nothing new created\n", plan.Source, c.ID, c.State)
		if c.State == jobs.StateCancelled {
			// The source stays undone (it can never run again); its
			// snapshot still holds the labels.
			fmt.Fprintf(w, "that restore was cancelled; to put back what it did not, restore from the snapshot:\n"+
				"  labelreset snapshot %s%s -o %s.snapshot.jsonl && labelreset undo --snapshot %s.snapshot.jsonl%s\n",
				plan.Source, nsFlag, plan.Source, plan.Source, nsFlag)
		}
	} else {
		fmt.Fprintf(w, "restore campaign %s created: %s get labels back, %s unchanged\n", c.ID, count(plan.Restore, "asset"), count(plan.Unchanged, "asset"))
		if plan.NotRestorable > 0 {
			fmt.Fprintf(w, "not restorable: %s\n", notRestorable(plan.NotRestorable))
		}
	}
	if c.State == jobs.StatePending {
		fmt.Fprintf(w, "restore campaign %s waits for approval:\n  labelreset approve %s%s\n", c.ID, c.ID, nsFlag)
	}
	if !inProcess {
		fmt.Fprintf(w, "follow it: labelreset status %s%s --watch; check it afterwards: labelreset verify %s%s\n", c.ID, nsFlag, c.ID, nsFlag)
	}
}
