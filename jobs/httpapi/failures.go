// GET /v1/campaigns/{id}/failures: the failures table of a campaign, a
// page at a time.

package httpapi

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// failuresParams are the query parameters of the failures route.
var failuresParams = []string{"outcome", "reason", "asset", "after", "limit"}

// failures serves a page of the campaign's failed, invalid, not found,
// not in inventory and cancelled assets (jobs.Store.Failures), as JSON
// {records, next, total}. The whole list as CSV is the report with
// ?only=.
func (s *Server) failures(w http.ResponseWriter, r *http.Request) {
	id, err := campaignID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := parseFailureQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.visibleCampaign(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.store.Failures(r.Context(), id, q)
	if errors.Is(err, jobs.ErrFailureQuery) {
		err = errorf(http.StatusBadRequest, "invalid_parameter", "%v", err)
	}
	if err != nil {
		s.fail(w, r, storeError(err))
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// parseFailureQuery reads the failures route's query parameters (also the
// console's failures filter): an error is a 400 naming the parameter and
// its value.
func parseFailureQuery(r *http.Request) (jobs.FailureQuery, error) {
	var q jobs.FailureQuery
	vals := r.URL.Query()
	for k, v := range vals {
		if !slices.Contains(failuresParams, k) {
			return q, errorf(http.StatusBadRequest, "unknown_parameter", "unknown query parameter %q: want one of %s", k, strings.Join(failuresParams, ", "))
		}
		if k != "outcome" && len(v) > 1 {
			return q, errorf(http.StatusBadRequest, "invalid_parameter", "%s given %d times: want it once", k, len(v))
		}
	}
	for _, o := range splitList(vals["outcome"]) {
		if !slices.Contains(jobs.FailureOutcomes, o) {
			return q, errorf(http.StatusBadRequest, "invalid_parameter", "outcome=%q: want one of %s", o, strings.Join(jobs.FailureOutcomes, ", "))
		}
		q.Outcomes = append(q.Outcomes, o)
	}
	q.Reason = vals.Get("reason")
	if len(q.Reason) > jobs.MaxFailureReasonBytes {
		return q, errorf(http.StatusBadRequest, "invalid_parameter", "reason=%q: longer than %d bytes, which no reason is",
			q.Reason[:32]+"…", jobs.MaxFailureReasonBytes)
	}
	if v := vals.Get("asset"); v != "" {
		a, err := idfile.ParseID(v)
		if err != nil {
			return q, errorf(http.StatusBadRequest, "invalid_parameter", "asset=%q: %v", v, err)
		}
		q.Asset = a
	}
	if v := vals.Get("after"); v != "" {
		a, err := strconv.ParseInt(v, 10, 64)
		if err != nil || a < 0 {
			return q, errorf(http.StatusBadRequest, "invalid_parameter", "after=%q: want the next of a previous page (an asset ID, or 0)", v)
		}
		q.After = a
	}
	if v := vals.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > jobs.MaxFailureLimit {
			return q, errorf(http.StatusBadRequest, "invalid_parameter", "limit=%q: want a number in 1..%d", v, jobs.MaxFailureLimit)
		}
		q.Limit = n
	}
	return q, nil
}
