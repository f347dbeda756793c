package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// campaignStatus is the JSON form of a campaign in every status-like
// command (and the HTTP API).
type campaignStatus struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	State      jobs.State       `json:"state"`
	Reason     string           `json:"reason,omitempty"`
	Total      int64            `json:"total"`
	Counts     map[string]int64 `json:"counts"`
	Mode       jobs.Mode        `json:"mode"`
	Labels     []string         `json:"labels,omitempty"`
	TeamID     string           `json:"team_id,omitempty"`
	APIServer  string           `json:"api_server,omitempty"`
	Priority   jobs.Priority    `json:"priority"`
	Source     string           `json:"source,omitempty"`
	Redrives   int              `json:"redrives"`
	CreatedAt  time.Time        `json:"created_at"`
	FinishedAt *time.Time       `json:"finished_at"`
}

func statusJSON(c *jobs.Campaign) campaignStatus {
	counts := make(map[string]int64, len(jobs.Outcomes)+1)
	for _, o := range jobs.Outcomes {
		counts[o] = c.Counts[o]
	}
	counts[jobs.OutcomePending] = c.Total - c.Finished()
	s := campaignStatus{
		ID: c.ID, Name: c.Name, State: c.State, Reason: c.Reason, Total: c.Total, Counts: counts,
		Mode: c.Mode, Labels: c.Labels, TeamID: c.TeamID, APIServer: c.Server, Priority: c.Priority, Source: c.Source,
		Redrives: c.Gen, CreatedAt: c.CreatedAt,
	}
	if !c.FinishedAt.IsZero() {
		t := c.FinishedAt
		s.FinishedAt = &t
	}
	return s
}

func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// storeFor connects and returns a store plus its closer.
func (a *app) storeFor(ctx context.Context, rf *redisFlags) (*jobs.Store, func(), error) {
	_, rdb, err := a.connect(ctx, rf)
	if err != nil {
		return nil, nil, err
	}
	return jobs.NewStore(rdb, jobs.StoreOptions{Namespace: rf.namespace, Actor: jobs.CLIActor()}), func() { rdb.Close() }, nil
}

// campaignArgs parses the flags of a command that takes one CAMPAIGN
// argument and connects to its store.
func (a *app) campaignArgs(ctx context.Context, fs *flag.FlagSet, rf *redisFlags, args []string) (string, *jobs.Store, func(), error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return "", nil, nil, err
	}
	id, err := oneCampaign(pos)
	if err != nil {
		return "", nil, nil, err
	}
	store, closeFn, err := a.storeFor(ctx, rf)
	if err != nil {
		return "", nil, nil, err
	}
	return id, store, closeFn, nil
}

func oneCampaign(pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("want exactly one CAMPAIGN argument, got %d", len(pos))
	}
	if err := jobs.ValidateCampaignID(pos[0]); err != nil {
		return "", usageError{err}
	}
	return pos[0], nil
}

func (a *app) cmdStatus(ctx context.Context, args []string) error {
	fs := a.newFlagSet("status")
	rf := a.addRedisFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON (id, state, total, counts, ...)")
	watch := fs.Bool("watch", false, "redraw a progress bar until the campaign ends")
	id, store, closeFn, err := a.campaignArgs(ctx, fs, rf, args)
	if err != nil {
		return err
	}
	defer closeFn()
	if *watch {
		c, err := a.watch(ctx, store, id, false, 0)
		if err != nil {
			return err
		}
		return a.printStatus(c, *asJSON)
	}
	c, err := store.Get(ctx, id)
	if err != nil {
		return err
	}
	return a.printStatus(c, *asJSON)
}

func (a *app) printStatus(c *jobs.Campaign, asJSON bool) error {
	if asJSON {
		return a.writeJSON(statusJSON(c))
	}
	s := statusJSON(c)
	w := a.stdout
	fmt.Fprintf(w, "campaign:  %s (%s)\n", c.ID, c.Name)
	fmt.Fprintf(w, "state:     %s", c.State)
	if c.Reason != "" {
		fmt.Fprintf(w, " — %s", c.Reason)
	}
	fmt.Fprintln(w)
	mode := "delete all labels"
	if c.Mode == jobs.ModeRemove {
		mode = "remove " + strings.Join(c.Labels, ",")
	}
	fmt.Fprintf(w, "mode:      %s\n", mode)
	fmt.Fprintf(w, "total:     %d\n", c.Total)
	for _, o := range append(append([]string{}, jobs.Outcomes...), jobs.OutcomePending) {
		fmt.Fprintf(w, "  %-10s %d\n", o, s.Counts[o])
	}
	fmt.Fprintf(w, "created:   %s\n", c.CreatedAt.Format(time.RFC3339))
	if !c.FinishedAt.IsZero() {
		fmt.Fprintf(w, "finished:  %s\n", c.FinishedAt.Format(time.RFC3339))
	}
	return nil
}

func (a *app) cmdReport(ctx context.Context, args []string) error {
	fs := a.newFlagSet("report")
	rf := a.addRedisFlags(fs)
	out := fs.String("o", "-", "output file (- = stdout)")
	format := fs.String("format", "csv", "csv or jsonl")
	only := fs.String("only", "", "only these outcomes (comma-separated: reset,not_found,invalid,failed,cancelled,pending)")
	id, store, closeFn, err := a.campaignArgs(ctx, fs, rf, args)
	if err != nil {
		return err
	}
	defer closeFn()
	f, err := jobs.ParseReportFormat(*format)
	if err != nil {
		return usageError{err}
	}
	n, err := a.writeReport(ctx, store, id, *out, f, splitList(*only))
	if err != nil {
		return err
	}
	if *out != "-" {
		fmt.Fprintf(a.stderr, "report of %s: %d rows written to %s\n", id, n, *out)
	}
	return nil
}

// writeReport writes atomically to a file (temp + rename) or to stdout.
func (a *app) writeReport(ctx context.Context, store *jobs.Store, id, path string, f jobs.ReportFormat, only []string) (int64, error) {
	if path == "-" || path == "" {
		return store.WriteReport(ctx, id, a.stdout, f, only)
	}
	tmp, err := os.CreateTemp(dirOf(path), ".labelreset-report-*")
	if err != nil {
		return 0, fmt.Errorf("report %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	n, err := store.WriteReport(ctx, id, tmp, f, only)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("report %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("report %s: %w", path, err)
	}
	return n, nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (a *app) cmdCampaigns(ctx context.Context, args []string) error {
	fs := a.newFlagSet("campaigns")
	rf := a.addRedisFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 100, "most recent campaigns to list")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	store, closeFn, err := a.storeFor(ctx, rf)
	if err != nil {
		return err
	}
	defer closeFn()
	cs, err := store.List(ctx, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]campaignStatus, len(cs))
		for i, c := range cs {
			out[i] = statusJSON(c)
		}
		return a.writeJSON(out)
	}
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tTOTAL\tRESET\tNOT_FOUND\tINVALID\tFAILED\tCANCELLED\tPENDING\tCREATED\tFINISHED")
	for _, c := range cs {
		s := statusJSON(c)
		fin := "-"
		if s.FinishedAt != nil {
			fin = s.FinishedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", c.ID, c.State, c.Total,
			s.Counts["reset"], s.Counts["not_found"], s.Counts["invalid"], s.Counts["failed"],
			s.Counts["cancelled"], s.Counts["pending"], c.CreatedAt.Format(time.RFC3339), fin)
	}
	return tw.Flush()
}

func controlCmd(action string) func(*app, context.Context, []string) error {
	return func(a *app, ctx context.Context, args []string) error {
		fs := a.newFlagSet(action)
		rf := a.addRedisFlags(fs)
		asJSON := fs.Bool("json", false, "print the campaign as JSON afterwards")
		id, store, closeFn, err := a.campaignArgs(ctx, fs, rf, args)
		if err != nil {
			return err
		}
		defer closeFn()
		switch action {
		case "approve":
			_, err = store.Approve(ctx, id)
		case "pause":
			err = store.Pause(ctx, id)
		case "resume":
			_, err = store.Resume(ctx, id)
		case "cancel":
			_, err = store.Cancel(ctx, id)
		}
		if err != nil {
			return err
		}
		c, err := store.Get(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return a.writeJSON(statusJSON(c))
		}
		fmt.Fprintf(a.stdout, "campaign %s: %s\n", id, c.State)
		return nil
	}
}

func (a *app) cmdRetry(ctx context.Context, args []string) error {
	fs := a.newFlagSet("retry")
	rf := a.addRedisFlags(fs)
	outcomes := fs.String("outcome", "failed", "re-drive assets whose latest outcome is one of these (comma-separated)")
	asJSON := fs.Bool("json", false, "print JSON")
	id, store, closeFn, err := a.campaignArgs(ctx, fs, rf, args)
	if err != nil {
		return err
	}
	defer closeFn()
	want := splitList(*outcomes)
	n, err := store.Redrive(ctx, id, want)
	if err != nil {
		return err
	}
	c, err := store.Get(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return a.writeJSON(map[string]any{"campaign": id, "requeued": n, "state": c.State})
	}
	fmt.Fprintf(a.stdout, "campaign %s: %d assets re-enqueued", id, n)
	if n == 0 {
		if len(want) == 0 {
			want = []string{jobs.OutcomeFailed}
		}
		fmt.Fprintf(a.stdout, " (no asset has outcome %s)\n", strings.Join(want, ","))
		return nil
	}
	// A retry never releases a held campaign: say what will.
	switch c.State {
	case jobs.StatePaused, jobs.StateBlocked:
		fmt.Fprintf(a.stdout, "; the campaign stays %s: nothing is called until `labelreset resume %s`\n", c.State, id)
	case jobs.StatePending:
		fmt.Fprintf(a.stdout, "; the campaign stays pending: nothing is called until `labelreset approve %s`\n", id)
	default:
		fmt.Fprintln(a.stdout)
	}
	return nil
}

// watch redraws progress until the campaign is final or stops making
// progress for a reason (blocked, stopped); with stopOnHold it also
// returns for paused and pending campaigns. A failed read ends the watch,
// unless outageLimit > 0: then Redis may be unreachable for that long
// (the workers ride it out) before watch returns a *redisOutageError. On
// an error the campaign returned is the last one read, or nil.
func (a *app) watch(ctx context.Context, store *jobs.Store, id string, stopOnHold bool, outageLimit time.Duration) (*jobs.Campaign, error) {
	p := newProgress(a.stderr, isTerminal(a.stderr))
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var last *jobs.Campaign
	var downSince time.Time
	for {
		c, err := a.readDuringOutage(ctx, store, id, outageLimit)
		if err != nil {
			if outageLimit <= 0 || ctx.Err() != nil || errors.Is(err, jobs.ErrNotFound) {
				return last, err
			}
			if downSince.IsZero() {
				downSince = time.Now()
				a.log.Warn("Redis unreachable: waiting for it to come back", "campaign", id,
					"redis_outage_limit", outageLimit, "err", err)
			}
			if d := time.Since(downSince); d >= outageLimit {
				return last, &redisOutageError{down: d, limit: outageLimit, err: err}
			}
		} else {
			if !downSince.IsZero() {
				a.log.Info("Redis is back", "campaign", id, "down_for", time.Since(downSince).Round(time.Second))
				downSince = time.Time{}
			}
			last = c
			p.update(c)
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return last, ctx.Err()
			case <-t.C:
			}
			continue
		}
		if c.State.Final() || c.State == jobs.StateBlocked || c.State == jobs.StateStopped ||
			(stopOnHold && c.State.Holding()) {
			p.done(c)
			return c, nil
		}
		select {
		case <-ctx.Done():
			p.done(c)
			return c, ctx.Err()
		case <-t.C:
		}
	}
}

// progress draws a bar on a terminal, or a plain line every few seconds.
type progress struct {
	w         io.Writer
	tty       bool
	start     time.Time
	lastLine  time.Time
	startDone int64
	drawn     bool
}

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty, start: time.Now(), startDone: -1}
}

func (p *progress) line(c *jobs.Campaign) string {
	done := c.Finished()
	if p.startDone < 0 {
		p.startDone = done
	}
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0.5 {
		rate = float64(done-p.startDone) / el
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(c.Total-done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 0.0
	if c.Total > 0 {
		pct = 100 * float64(done) / float64(c.Total)
	}
	counts := fmt.Sprintf("reset %d  not_found %d  invalid %d  failed %d", c.Counts["reset"], c.Counts["not_found"], c.Counts["invalid"], c.Counts["failed"])
	if n := c.Counts["cancelled"]; n > 0 {
		counts += fmt.Sprintf("  cancelled %d", n)
	}
	return fmt.Sprintf("%s %d/%d (%.1f%%)  %s  %.0f/s  ETA %s  [%s]", bar(pct, 24), done, c.Total, pct, counts, rate, eta, c.State)
}

func bar(pct float64, width int) string {
	n := int(pct / 100 * float64(width))
	n = max(0, min(width, n))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func (p *progress) update(c *jobs.Campaign) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", p.line(c))
		p.drawn = true
		return
	}
	if time.Since(p.lastLine) >= 5*time.Second {
		fmt.Fprintln(p.w, p.line(c))
		p.lastLine = time.Now()
	}
}

func (p *progress) done(c *jobs.Campaign) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s\n", p.line(c))
		return
	}
	fmt.Fprintln(p.w, p.line(c))
}

// redisOutageError ends a watch that waited longer than its outage limit
// for Redis.
type redisOutageError struct {
	down, limit time.Duration
	err         error
}

func (e *redisOutageError) Error() string {
	return fmt.Sprintf("Redis unreachable for %v (limit %v): %v", e.down.Round(time.Second), e.limit, e.err)
}

func (e *redisOutageError) Unwrap() error { return e.err }

// readDuringOutage is one status read of watch. While Redis may be down
// (outageLimit > 0), each read is bounded so that a dial hanging on a
// dead Redis or sentinel cannot outlast the limit.
func (a *app) readDuringOutage(ctx context.Context, store *jobs.Store, id string, outageLimit time.Duration) (*jobs.Campaign, error) {
	if outageLimit <= 0 {
		return store.Get(ctx, id)
	}
	rctx, cancel := context.WithTimeout(ctx, min(outageLimit, 5*time.Second))
	defer cancel()
	// bounded: a signal ends the read at once even when Redis hangs.
	var c *jobs.Campaign
	err := bounded(rctx, &a.inflight, func(ctx context.Context) (err error) {
		c, err = store.Get(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
