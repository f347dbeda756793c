package main

// --query: a campaign defined by a PDCP query. The query is listed when the
// campaign is created (GET requests only, page by page) and the listed
// assets become its IDs; the campaign keeps the query, so that its
// snapshot lists only what the query selects and, with --express, the bulk
// call selects the same assets.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// maxQueryAssets bounds what one --query lists: the bound of a schedule's
// CSV or URL source. A query over more is refused, not cut: a cut listing
// holds the first assets in PDCP's order, not what the query means.
const maxQueryAssets = 10_000_000

// queryProgressEvery is how many listed assets separate two progress lines.
const queryProgressEvery = 10_000

// queryFlags are the flags of a query-defined campaign.
type queryFlags struct {
	query           string
	express         bool
	expressDeadline time.Duration
	selectAll       bool
}

func (f *queryFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.query, "query", "", "campaign of the assets a PDCP query selects: the listing's parameters (GET /v1/asset/enumerate/contents) in URL query form, "+
		"e.g. 'labels=stale&not_seen_for_days=30'; listed now with the PDCP credentials (GET only), instead of --csv or --ids. It must narrow the assets (see --select-all)")
	fs.BoolVar(&f.express, "express", false, "with --query and --labels: remove the labels with one bulk call (PATCH /v1/asset/labels?update_type=delete) over the query, "+
		"verify asset by asset, and call the assets not seen clean one by one")
	fs.DurationVar(&f.expressDeadline, "express-deadline", 0, "with --express: how long verification waits for assets to be seen clean before calling them one by one, 1s..24h (0: the default, 10m)")
	fs.BoolVar(&f.selectAll, "select-all", false, "with --query: accept a query that narrows nothing (every asset of the team); the campaign then always waits for approval. Not with --express")
}

// apply checks the query flags and sets the campaign's query and express
// fields; the listing comes later (readQueryPlan). Every refusal names the
// flag and its value.
func (f *queryFlags) apply(def *jobs.Campaign, resetUnlisted bool) error {
	if f.query == "" {
		switch {
		case f.express:
			return usagef("--express needs --query: the bulk call selects assets by filter, not by ID (give --query 'labels=...')")
		case f.selectAll:
			return usagef("--select-all applies to --query only; drop it")
		case f.expressDeadline != 0:
			return usagef("--express-deadline %v is only used with --express", f.expressDeadline)
		}
		return nil
	}
	switch {
	case f.express && f.selectAll:
		return usagef("--express and --select-all: the bulk call never takes a query that narrows nothing; drop one of them")
	case !f.express && f.expressDeadline != 0:
		return usagef("--express-deadline %v is only used with --express", f.expressDeadline)
	case resetUnlisted:
		return usagef("--reset-unlisted cannot be used with --query: its assets can drift out of the query's listing, and those would be reset without a snapshot")
	}
	q, err := parseQuery(f.query, f.selectAll, "give --select-all (the campaign then always waits for approval)")
	if err != nil {
		return usageError{fmt.Errorf("--query %.200q: %w", f.query, err)}
	}
	def.Query, def.Source = jobs.CampaignQuery(q), "pdcp_query "+q.Encode()
	def.Express, def.ExpressDeadline = f.express, f.expressDeadline
	if f.express {
		if err := def.CheckExpress(); err != nil {
			return usageError{fmt.Errorf("--express with --query %.200q: %w", f.query, err)}
		}
	}
	return nil
}

// parseQuery is jobs.ParseQuery with the producer's own words for "every
// asset is meant" in the refusal of a query that narrows nothing.
func parseQuery(s string, selectAll bool, hint string) (url.Values, error) {
	q, err := jobs.ParseQuery(s, true)
	if err != nil {
		return nil, err
	}
	if err := jobs.CheckQuery(q, selectAll, hint); err != nil {
		return nil, err
	}
	return q, nil
}

// readQueryPlan lists the campaign's query with the PDCP credentials
// (flag, then environment, then credentials file) and the campaign's team,
// and reads the listed assets into its plan. Progress goes to stderr.
func (a *app) readQueryPlan(ctx context.Context, f *campaignFlags, af *apiFlags, def *jobs.Campaign) (*jobs.Plan, error) {
	switch {
	case f.csv != "" || f.ids != "":
		return nil, usagef("--query is the campaign's input: give either --query or --csv/--ids, not both")
	case f.column != "":
		return nil, usagef("--column %q chooses a column of the --csv file: --query has none", f.column)
	case f.appendIDs:
		return nil, usagef("--append adds IDs to a campaign: a --query campaign is the query's assets when it is created; create a new one")
	}
	cfg, err := af.resolve(a.getenv, 1)
	if err != nil {
		return nil, usageError{fmt.Errorf("--query is listed with the PDCP API: %w", err)}
	}
	cfg.TeamID = def.TeamID
	c, err := client.New(cfg)
	if err != nil {
		return nil, usageError{err}
	}
	defer c.CloseIdleConnections()
	if def.Name == "" {
		def.Name = "query " + def.Query
		if len(def.Name) > 200 {
			def.Name = def.Name[:200]
		}
	}
	fmt.Fprintf(a.stderr, "query: listing %s of team %s on %s (GET only)...\n", def.Query, orDash(def.TeamID), def.Server)
	in, stop := jobs.ListQuery(ctx, c, jobs.QueryFilter(def.Query), client.MaxPageSize, maxQueryAssets, false)
	defer stop()
	start := time.Now()
	plan, err := jobs.ReadPlan(def, &progressInput{in: in, every: queryProgressEvery, report: func(n int64) {
		fmt.Fprintf(a.stderr, "query: %d assets listed (%s)\n", n, time.Since(start).Round(time.Second))
	}})
	switch {
	case errors.Is(err, idfile.ErrNoIDs) || err == nil && plan.Valid == 0:
		return nil, usageError{fmt.Errorf("--query %.200q selects no asset: nothing to do", def.Query)}
	case errors.Is(err, jobs.ErrTooManyAssets):
		return nil, usageError{fmt.Errorf("--query %.200q: %w: narrow it (e.g. add labels or not_seen_for_days)", def.Query, err)}
	case err != nil:
		return nil, fmt.Errorf("--query %.200q: list assets: %w", def.Query, err)
	}
	fmt.Fprintf(a.stderr, "query: %d assets listed\n", plan.Valid)
	return plan, nil
}

// progressInput calls report every every rows, to show a long listing's
// progress.
type progressInput struct {
	in     jobs.Input
	every  int64
	n      int64
	report func(n int64)
}

func (p *progressInput) Next() (idfile.Row, error) {
	row, err := p.in.Next()
	if err == nil {
		if p.n++; p.n%p.every == 0 {
			p.report(p.n)
		}
	}
	return row, err
}

// expressPlan is the express part of a plan: what the bulk call sends and
// what it cannot undo.
type expressPlan struct {
	Call     string          `json:"call"`
	Filters  json.RawMessage `json:"filters"`
	Labels   []string        `json:"labels"`
	Deadline string          `json:"verification_deadline"`
	Then     string          `json:"then"`
	Warning  string          `json:"warning"`
}

// expressUndoWarning is the part of an express campaign undo cannot cover.
const expressUndoWarning = "assets that start matching the query between the snapshot and the bulk call are changed too and cannot be undone (their number is recorded)"

// newExpressPlan describes the bulk call of express campaign def.
func newExpressPlan(def *jobs.Campaign) (*expressPlan, error) {
	q, err := url.ParseQuery(def.Query)
	if err != nil {
		return nil, err
	}
	f, err := client.ExpressFilters(q)
	if err != nil {
		return nil, err
	}
	filters, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	deadline := def.ExpressDeadline
	if deadline == 0 {
		deadline = jobs.DefaultExpressDeadline
	}
	return &expressPlan{
		Call: "PATCH /v1/asset/labels?update_type=delete", Filters: filters, Labels: def.Labels, Deadline: deadline.String(),
		Then:    "verification lists the query until every asset is seen without the labels, up to the deadline; the assets not seen clean are then called one by one (PATCH /v1/asset/{id}/labels?update_type=delete)",
		Warning: expressUndoWarning,
	}, nil
}
