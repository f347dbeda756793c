// Campaigns defined by a PDCP query (the JSON field query): the query is
// read by the rule every producer shares (jobs.ParseQuery), listed with the
// campaign's team when the request is made, and the listed assets become
// the campaign's IDs, capped and approved as an uploaded list is.

package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// applyQuery checks the query fields of a request and sets the campaign's
// query and express fields. Every refusal names the field.
func (p *createParams) applyQuery(def *jobs.Campaign) error {
	bad := func(format string, args ...any) error {
		return errorf(http.StatusBadRequest, "invalid_parameter", format, args...)
	}
	if p.query == "" {
		switch {
		case p.express:
			return bad("express needs query: the bulk call selects assets by filter, not by ID")
		case p.selectAll:
			return bad("select_all applies to query only; drop it")
		case p.expressDeadline != 0:
			return bad("express_deadline is only used with express: true")
		}
		return nil
	}
	switch {
	case p.express && p.selectAll:
		return bad("express and select_all: the bulk call never takes a query that narrows nothing; drop one of them")
	case !p.express && p.expressDeadline != 0:
		return bad("express_deadline %v is only used with express: true", p.expressDeadline)
	case p.resetUnlisted:
		return bad("reset_unlisted cannot be used with query: its assets can drift out of the query's listing, and those would be reset without a snapshot")
	case p.append:
		return bad("append adds IDs to a campaign: a query campaign is the query's assets when it is created; create a new one")
	}
	q, err := jobs.ParseQuery(p.query, true)
	if err == nil {
		err = jobs.CheckQuery(q, p.selectAll, "set select_all: true (the campaign then always waits for approval)")
	}
	if err != nil {
		return bad("query %.200q: %v", p.query, err)
	}
	def.Query, def.Source = jobs.CampaignQuery(q), "api/pdcp_query "+q.Encode()
	def.Express, def.ExpressDeadline = p.express, p.expressDeadline
	if p.express {
		if err := def.CheckExpress(); err != nil {
			return bad("express with query %.200q: %v", p.query, err)
		}
	}
	return nil
}

// listQuery lists the campaign's query with its team into the request's
// plan. The listing is bounded by MaxQueryAssets (more is refused, not
// cut), the upload memory budget, QueryTimeout and the request's context:
// a client that hangs up stops it.
func (s *Server) listQuery(ctx context.Context, req *createRequest, def *jobs.Campaign) error {
	if s.cfg.Lister == nil {
		return errorf(http.StatusNotImplemented, "query_unsupported",
			"this server lists no PDCP query: it has no PDCP API key (PDCP_API_KEY or the credentials file of labelreset serve); send asset_ids instead")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	in, stop := jobs.ListQuery(ctx, s.cfg.Lister(def.TeamID), jobs.QueryFilter(def.Query), client.MaxPageSize, s.cfg.MaxQueryAssets, false)
	defer stop()
	counting := &countingInput{in: in, max: math.MaxInt64} // in bounds the assets
	plan, err := jobs.ReadPlanBudget(&jobs.Campaign{BatchSize: s.cfg.Defaults.BatchSize}, counting, s.cfg.MaxUploadMemory)
	switch {
	case errors.Is(err, idfile.ErrNoIDs) || err == nil && plan.Valid == 0:
		return errorf(http.StatusUnprocessableEntity, "no_ids", "query %.200q selects no asset: nothing to do", def.Query)
	case errors.Is(err, jobs.ErrTooManyAssets):
		return errorf(http.StatusRequestEntityTooLarge, "too_many_assets",
			"query %.200q selects more than %d assets, the most one request may list: narrow it (e.g. add labels or not_seen_for_days)", def.Query, s.cfg.MaxQueryAssets)
	case errors.Is(err, jobs.ErrOverMemoryBudget):
		return s.readError(err)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return errorf(http.StatusGatewayTimeout, "query_timeout",
			"listing query %.200q took longer than %v: narrow it, or list it with the CLI (labelreset submit --query)", def.Query, s.cfg.QueryTimeout)
	case err != nil:
		return errorf(http.StatusBadGateway, "pdcp_unavailable", "listing query %.200q: %v", def.Query, err)
	}
	req.plan, req.input = plan, counting
	return nil
}

// queryFingerprint is the part of a query request's fingerprint that
// replaces the ID list's: the query, not the assets it listed, which may
// differ between a request and its retry.
func (p *createParams) queryFingerprint() string {
	return fmt.Sprintf("|query=%q|express=%t|deadline=%d|select_all=%t", p.query, p.express, p.expressDeadline/time.Millisecond, p.selectAll)
}

// expressPlanJSON is the express part of a plan: the bulk call and what
// undo cannot cover.
type expressPlanJSON struct {
	Call     string          `json:"call"`
	Filters  json.RawMessage `json:"filters"`
	Deadline string          `json:"verification_deadline"`
	Warning  string          `json:"warning"`
}

// expressWarning is what undo of an express campaign cannot put back.
const expressWarning = "assets that start matching the query between the snapshot and the bulk call are changed too and cannot be undone (their number is recorded)"

// withQuery adds a query campaign's query, select_all and express plan.
func (pj *planJSON) withQuery(def *jobs.Campaign, selectAll bool) *planJSON {
	pj.Query, pj.SelectAll = def.Query, selectAll
	if !def.Express {
		return pj
	}
	deadline := def.ExpressDeadline
	if deadline == 0 {
		deadline = jobs.DefaultExpressDeadline
	}
	ep := &expressPlanJSON{Call: "PATCH /v1/asset/labels?update_type=delete", Deadline: deadline.String(), Warning: expressWarning}
	// applyQuery checked the filters; Marshal cannot fail on them.
	if q, err := url.ParseQuery(def.Query); err == nil {
		if f, err := client.ExpressFilters(q); err == nil {
			ep.Filters, _ = json.Marshal(f)
		}
	}
	pj.Express = ep
	return pj
}
