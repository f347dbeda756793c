// The parameters of POST /v1/campaigns: one value each, from the query,
// the multipart form or the JSON body, never two.

package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// createParamNames are the parameters of POST /v1/campaigns, accepted as
// query parameters, multipart form fields or JSON fields.
var createParamNames = []string{"name", "campaign_id", "labels", "mode", "team_id", "priority", "dry_run", "strict", "append", "column",
	"snapshot", "reset_unlisted", "notify", "query", "express", "express_deadline", "select_all"}

// jsonOnlyParams define a query campaign: they are fields of a JSON body
// (without asset_ids), since an uploaded ID list is another source.
var jsonOnlyParams = []string{"query", "express", "express_deadline", "select_all"}

// createParams are the settings of one create request.
type createParams struct {
	name, campaignID, teamID, priority, mode string
	column                                   string // the ID file's ID column (idfile.Options.Column)
	labels                                   []string
	notify                                   []string // notifier names
	labelsNull                               bool     // JSON "labels": null
	hasLabels                                bool
	dryRun, strict, append                   bool
	// snapshot defaults to true: every campaign records the labels it
	// resets, so that it can be undone, unless the request opts out.
	snapshot, resetUnlisted bool
	// query defines the campaign by a PDCP query (createquery.go);
	// express, expressDeadline and selectAll go with it.
	query           string
	express         bool
	expressDeadline time.Duration
	selectAll       bool
	seen            map[string]string // parameter -> where it was given
}

func newCreateParams() *createParams { return &createParams{seen: map[string]string{}, snapshot: true} }

// mark records that key was given in where, refusing a second value.
func (p *createParams) mark(key, where string) error {
	if prev, dup := p.seen[key]; dup {
		if prev == where {
			return errorf(http.StatusBadRequest, "invalid_parameter", "%s %q given twice: give it once", where, key)
		}
		return errorf(http.StatusBadRequest, "invalid_parameter", "parameter %q given both as %s and as %s: give it once", key, prev, where)
	}
	p.seen[key] = where
	return nil
}

// set applies a textual parameter value (query string or form field).
func (p *createParams) set(key, val, where string) error {
	if !slices.Contains(createParamNames, key) {
		return errorf(http.StatusBadRequest, "unknown_parameter", "unknown %s %q: want one of %s",
			where, key, joinComma(createParamNames))
	}
	if slices.Contains(jsonOnlyParams, key) && where != "JSON field" {
		return errorf(http.StatusBadRequest, "invalid_parameter",
			"%s %q defines a query campaign: send it as a field of a JSON body (application/json, without asset_ids)", where, key)
	}
	if err := p.mark(key, where); err != nil {
		return err
	}
	switch key {
	case "query":
		if strings.TrimSpace(val) == "" {
			return errorf(http.StatusBadRequest, "invalid_parameter", "%s query is empty: give the listing's parameters in URL query form (e.g. labels=stale&not_seen_for_days=30)", where)
		}
		p.query = val
	case "express_deadline":
		d, err := time.ParseDuration(val)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid_parameter", "%s express_deadline=%q: want a duration such as 10m", where, val)
		}
		p.expressDeadline = d
	case "name":
		p.name = val
	case "campaign_id":
		p.campaignID = val
	case "team_id":
		p.teamID = val
	case "priority":
		p.priority = val
	case "mode":
		p.mode = val
	case "column":
		p.column = val
	case "labels":
		p.hasLabels = true
		labels, err := jobs.ParseLabelList(val)
		if err == nil && len(p.labels)+len(labels) > jobs.MaxLabels {
			err = fmt.Errorf("labels: %d labels: %w", len(p.labels)+len(labels), jobs.ErrTooManyLabels)
		}
		if errors.Is(err, jobs.ErrTooManyLabels) {
			return errorf(http.StatusRequestEntityTooLarge, "too_many_labels", "%s %v", where, err)
		}
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid_parameter", "%s %v", where, err)
		}
		p.labels = append(p.labels, labels...)
	case "notify":
		names, err := jobs.ParseNotifyList(val)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid_parameter", "%s %v", where, err)
		}
		p.notify = names
	default: // booleans
		b := true // a bare "?dry_run" means true
		if val != "" {
			var err error
			if b, err = strconv.ParseBool(val); err != nil {
				return errorf(http.StatusBadRequest, "invalid_parameter", "%s %s=%q: want true or false", where, key, val)
			}
		}
		p.setBool(key, b)
	}
	return nil
}

func (p *createParams) setBool(key string, b bool) {
	switch key {
	case "dry_run":
		p.dryRun = b
	case "strict":
		p.strict = b
	case "append":
		p.append = b
	case "snapshot":
		p.snapshot = b
	case "reset_unlisted":
		p.resetUnlisted = b
	case "express":
		p.express = b
	case "select_all":
		p.selectAll = b
	}
}

func (p *createParams) fromQuery(q url.Values) error {
	for _, k := range sortedKeys(q) {
		for _, v := range q[k] {
			if err := p.set(k, v, "query parameter"); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedKeys(q url.Values) []string {
	ks := make([]string, 0, len(q))
	for k := range q {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
