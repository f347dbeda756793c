package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// failuresPageSize is the rows of one page of the failures table.
const failuresPageSize = 50

// failuresView is the failures section of a campaign page: the filter as
// asked (outcome, reason, asset, after in the page's query), its choices,
// and one page of jobs.Store.Failures, which reads about a page of records
// from the failure index however large the campaign.
type failuresView struct {
	Campaign string
	// Outcome, Reason and Asset are the filter as asked ("" = any).
	Outcome, Reason, Asset string
	// After is the page's cursor (0 on the first page).
	After int64
	// Outcomes are the outcomes to choose from with the campaign's count
	// of each; Reasons the failure reasons (jobs.Store.FailureReasons).
	Outcomes []outcomeCount
	Reasons  []jobs.FailureReason
	Records  []jobs.Record
	// Total is the number of matches in the whole campaign, -1 unknown.
	Total int64
	// NextURL and FirstURL are the campaign page with the next page's
	// (and the first page's) query; "" when there is none.
	NextURL, FirstURL string
	// Error says why the filter was not applied (a bad value) or the
	// failures could not be read.
	Error string
	// bad marks an Error caused by the request, not by the server.
	bad bool
}

// Filtered reports whether any filter is set.
func (v *failuresView) Filtered() bool { return v.Outcome != "" || v.Reason != "" || v.Asset != "" }

// failures serves the failures section of a campaign alone, as an HTML
// fragment: the campaign page's script swaps it in when the filter or a
// paging link is used, without reloading the page around it.
func (c *Console) failures(w http.ResponseWriter, r *http.Request, id *Identity) {
	cp, err := c.store.Get(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, jobs.ErrNotFound), errors.Is(err, jobs.ErrInvalidCampaignID),
		err == nil && !id.AllowsTeam(cp.TeamID):
		c.renderError(w, r, id, http.StatusNotFound, "No campaign "+r.PathValue("id")+".")
		return
	case err != nil:
		c.log.Error("console failures", "campaign", r.PathValue("id"), "err", err)
		c.renderError(w, r, id, http.StatusServiceUnavailable, "The campaign cannot be read now; try again shortly.")
		return
	}
	v := c.failuresView(r, cp)
	status := http.StatusOK
	if v.bad {
		status = http.StatusBadRequest
	}
	c.render(w, r, status, "failures-fragment", &page{Title: "Failures", Who: id, Data: v})
}

// failuresData is what the campaign page's template "failures-section"
// gets: the failures table of cp as r's query asks (outcome, reason,
// asset, after).
func (c *Console) failuresData(r *http.Request, cp *jobs.Campaign) any { return c.failuresView(r, cp) }

func (c *Console) failuresView(r *http.Request, cp *jobs.Campaign) *failuresView {
	q := r.URL.Query()
	v := &failuresView{Campaign: cp.ID, Outcome: q.Get("outcome"), Reason: q.Get("reason"), Asset: q.Get("asset"),
		Records: []jobs.Record{}, Total: -1}
	for _, o := range jobs.FailureOutcomes {
		v.Outcomes = append(v.Outcomes, outcomeCount{o, cp.Counts[o]})
	}
	reasons, err := c.store.FailureReasons(r.Context(), cp.ID, 0)
	if err != nil {
		c.log.Error("console failure reasons", "campaign", cp.ID, "err", err)
	}
	v.Reasons = reasons
	if v.Reason != "" && !slices.ContainsFunc(v.Reasons, func(f jobs.FailureReason) bool { return f.Reason == v.Reason }) {
		v.Reasons = append(v.Reasons, jobs.FailureReason{Reason: v.Reason}) // gone since: keep it selectable
	}
	fq := jobs.FailureQuery{Reason: v.Reason, Limit: failuresPageSize}
	switch {
	case v.Outcome != "" && !slices.Contains(jobs.FailureOutcomes, v.Outcome):
		v.Error, v.bad = "Unknown outcome "+strconv.Quote(v.Outcome)+": choose one of the list.", true
	case v.Outcome != "":
		fq.Outcomes = []string{v.Outcome}
	}
	if v.Asset != "" && v.Error == "" {
		a, err := idfile.ParseID(v.Asset)
		var ie *idfile.IDError
		if errors.As(err, &ie) {
			v.Error, v.bad = "Asset ID "+strconv.Quote(v.Asset)+": "+ie.Reason+".", true
		}
		fq.Asset = a
	}
	if s := q.Get("after"); s != "" && v.Error == "" {
		a, err := strconv.ParseInt(s, 10, 64)
		if err != nil || a < 0 {
			v.Error, v.bad = "That page link is not valid: start from the first page.", true
		}
		v.After, fq.After = a, a
	}
	if v.Error != "" {
		return v
	}
	p, err := c.store.Failures(r.Context(), cp.ID, fq)
	if err != nil {
		c.log.Error("console failures", "campaign", cp.ID, "err", err)
		v.Error = "The failures cannot be read now; try again shortly."
		return v
	}
	v.Records, v.Total = p.Records, p.Total
	if p.Next != 0 {
		v.NextURL = v.pageURL(p.Next)
	}
	if v.After != 0 {
		v.FirstURL = v.pageURL(0)
	}
	return v
}

// pageURL is the campaign page showing the failures after cursor after
// with the same filter.
func (v *failuresView) pageURL(after int64) string {
	q := url.Values{}
	for k, s := range map[string]string{"outcome": v.Outcome, "reason": v.Reason, "asset": v.Asset} {
		if s != "" {
			q.Set(k, s)
		}
	}
	if after != 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	u := "/ui/campaigns/" + url.PathEscape(v.Campaign)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u + "#failures"
}
