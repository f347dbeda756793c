package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// campaignJSON is the status of a campaign as the API shows it.
type campaignJSON struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	State      jobs.State       `json:"state"`
	Reason     string           `json:"reason"`
	Total      int64            `json:"total"`
	Counts     map[string]int64 `json:"counts"`
	CreatedAt  time.Time        `json:"created_at"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
	Mode       jobs.Mode        `json:"mode"`
	Labels     []string         `json:"labels"`
	TeamID     string           `json:"team_id"`
	Priority   jobs.Priority    `json:"priority"`
	Source     string           `json:"source"`
	BatchSize  int              `json:"batch_size"`
	Batches    int              `json:"batches"`
	Redrives   int              `json:"redrives"`
	// ApprovedTotal, CreatedBy and ApprovedBy: see jobs.Campaign.
	ApprovedTotal int64  `json:"approved_total"`
	CreatedBy     string `json:"created_by,omitempty"`
	ApprovedBy    string `json:"approved_by,omitempty"`
	// ResetUnlisted, Query, RestoreOf and Exact: see jobs.Campaign.
	ResetUnlisted bool   `json:"reset_unlisted,omitempty"`
	Query         string `json:"query,omitempty"`
	RestoreOf     string `json:"restore_of,omitempty"`
	Exact         bool   `json:"exact,omitempty"`
	// Notify names the notifiers told of the campaign's changes (names
	// only: the URLs are the operator's).
	Notify []string `json:"notify,omitempty"`
	// NotBefore: see jobs.Campaign (a restore waiting for its source's
	// in-flight calls).
	NotBefore *time.Time `json:"not_before,omitempty"`
	// Snapshot is the snapshot's progress and, once complete, its
	// summary; enabled false means the campaign cannot be undone. Absent
	// only when it could not be read (the error is logged): the status
	// of the campaign itself is still worth answering.
	Snapshot *jobs.SnapshotInfo `json:"snapshot,omitempty"`
	// Express is the bulk call's progress of an express campaign
	// (jobs.ExpressInfo); absent for any other campaign, and when it
	// could not be read (logged), as Snapshot.
	Express *jobs.ExpressInfo `json:"express,omitempty"`
}

func newCampaignJSON(c *jobs.Campaign) *campaignJSON {
	counts := make(map[string]int64, len(jobs.Outcomes)+1)
	for _, o := range jobs.Outcomes {
		counts[o] = c.Counts[o]
	}
	counts[jobs.OutcomePending] = max(0, c.Total-c.Finished())
	j := &campaignJSON{
		ID: c.ID, Name: c.Name, State: c.State, Reason: c.Reason, Total: c.Total, Counts: counts,
		CreatedAt: c.CreatedAt, Mode: c.Mode, Labels: append([]string{}, c.Labels...), TeamID: c.TeamID,
		Priority: c.Priority, Source: c.Source, BatchSize: c.BatchSize, Batches: c.Batches, Redrives: c.Gen,
		ApprovedTotal: c.ApprovedTotal, CreatedBy: c.CreatedBy, ApprovedBy: c.ApprovedBy,
		ResetUnlisted: c.ResetUnlisted, Query: c.Query, RestoreOf: c.RestoreOf, Exact: c.Exact,
		Notify: c.Notify,
	}
	if !c.FinishedAt.IsZero() {
		t := c.FinishedAt
		j.FinishedAt = &t
	}
	if !c.NotBefore.IsZero() {
		t := c.NotBefore
		j.NotBefore = &t
	}
	return j
}

// campaignJSON is newCampaignJSON with the campaign's snapshot and, for
// an express campaign, its bulk call (one more Redis read).
func (s *Server) campaignJSON(ctx context.Context, c *jobs.Campaign) *campaignJSON {
	j := newCampaignJSON(c)
	if c.Express {
		x, err := s.store.Express(ctx, c)
		if err != nil {
			s.log.Warn("campaign status without its express state", "campaign", c.ID, "err", err)
		}
		j.Express = x
	}
	if !c.Snapshot {
		// Nothing stored to read: a campaign without a snapshot, or a
		// restore campaign.
		j.Snapshot = &jobs.SnapshotInfo{Enabled: false}
		return j
	}
	info, err := s.store.Snapshot(ctx, c)
	if err != nil {
		s.log.Warn("campaign status without its snapshot", "campaign", c.ID, "err", err)
		return j
	}
	j.Snapshot = info
	return j
}

// storeError maps the store's sentinel errors to client errors.
func storeError(err error) error {
	switch {
	case errors.Is(err, jobs.ErrDeleting):
		return errorf(http.StatusConflict, "campaign_deleting", "%v", err)
	case errors.Is(err, jobs.ErrNotFound), errors.Is(err, jobs.ErrCampaignGone):
		return errorf(http.StatusNotFound, "not_found", "%v", err)
	case errors.Is(err, jobs.ErrInvalidCampaignID):
		return errorf(http.StatusBadRequest, "invalid_campaign_id", "%v", err)
	case errors.Is(err, jobs.ErrTransition):
		return errorf(http.StatusConflict, "conflict", "%v", err)
	case errors.Is(err, jobs.ErrUndone):
		return errorf(http.StatusConflict, "campaign_undone", "%v", err)
	case errors.Is(err, jobs.ErrChanged):
		return errorf(http.StatusConflict, "campaign_changed", "%v", err)
	}
	return err
}

// campaignID returns the validated {id} of the path.
func campaignID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := jobs.ValidateCampaignID(id); err != nil {
		return "", errorf(http.StatusBadRequest, "invalid_campaign_id", "%v", err)
	}
	return id, nil
}

const maxListLimit = 1000

func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "limit" {
			s.fail(w, r, errorf(http.StatusBadRequest, "unknown_parameter", "unknown query parameter %q: want limit", k))
			return
		}
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			s.fail(w, r, errorf(http.StatusBadRequest, "invalid_parameter", "limit=%q: want a number in 1..%d", v, maxListLimit))
			return
		}
		limit = n
	}
	// Campaigns of other teams are left out: the list shows the newest
	// limit campaigns of those the token may see, however many newer
	// campaigns of other teams there are.
	p := principalOf(r.Context())
	cs, err := s.store.ListWhere(r.Context(), limit, func(c *jobs.Campaign) bool { return p.AllowsTeam(c.TeamID) })
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]*campaignJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.campaignJSON(r.Context(), c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": out})
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request) {
	id, err := campaignID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.visibleCampaign(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.campaignJSON(r.Context(), c))
}

// eventJSON is one audit log entry as the API shows it.
type eventJSON struct {
	Time   time.Time  `json:"time"`
	Actor  string     `json:"actor"`
	Action string     `json:"action"`
	From   jobs.State `json:"from"`
	To     jobs.State `json:"to"`
	Reason string     `json:"reason,omitempty"`
	Count  int64      `json:"count,omitempty"`
}

// events serves the audit log of a campaign, oldest first.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	id, err := campaignID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(r.URL.Query()) > 0 {
		s.fail(w, r, errorf(http.StatusBadRequest, "unknown_parameter", "events takes no query parameters"))
		return
	}
	if _, err := s.visibleCampaign(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	evs, err := s.store.Events(r.Context(), id)
	if err != nil {
		s.fail(w, r, storeError(err))
		return
	}
	out := make([]eventJSON, len(evs))
	for i, e := range evs {
		out[i] = eventJSON{Time: e.Time, Actor: e.Actor, Action: e.Action, From: e.From, To: e.To, Reason: e.Reason, Count: e.Count}
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaign": id, "events": out})
}

// splitList splits comma-separated values of every occurrence.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	id, err := campaignID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "format" && k != "only" {
			s.fail(w, r, errorf(http.StatusBadRequest, "unknown_parameter", "unknown query parameter %q: want format or only", k))
			return
		}
	}
	f, err := jobs.ParseReportFormat(q.Get("format"))
	if err != nil {
		s.fail(w, r, errorf(http.StatusBadRequest, "invalid_parameter", "%v", err))
		return
	}
	only := splitList(q["only"])
	// Check the filter and the campaign before the status line goes out.
	if _, err := jobs.NewReportWriter(io.Discard, f, only); err != nil {
		s.fail(w, r, errorf(http.StatusBadRequest, "invalid_parameter", "only: %v", err))
		return
	}
	if _, err := s.visibleCampaign(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	ext := "csv"
	h.Set("Content-Type", "text/csv; charset=utf-8")
	if f == jobs.ReportJSONL {
		ext = "jsonl"
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Content-Disposition", `attachment; filename="`+id+"-report."+ext+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := s.store.WriteReport(r.Context(), id, w, f, only); err != nil {
		// Too late for an error status: cut the connection so the client
		// sees a truncated transfer rather than a short report.
		s.log.Error("report failed midway", "campaign", id, "request_id", w.Header().Get("X-Request-Id"), "err", err)
		panic(http.ErrAbortHandler)
	}
}

// retryable are the outcomes that POST .../retry accepts.
var retryable = []string{jobs.OutcomeFailed, jobs.OutcomeInvalid, jobs.OutcomeNotFound, jobs.OutcomeCancelled,
	jobs.OutcomeNotInInventory, jobs.OutcomeUnchanged, jobs.OutcomeRestored}

// actionResponse is the body of a successful campaign action.
type actionResponse struct {
	Campaign *campaignJSON `json:"campaign"`
	Requeued *int64        `json:"requeued,omitempty"`
	// Note is what the caller must know of the action's effect: for the
	// cancel of an express campaign whose bulk call was sent, that the
	// bulk call's changes stay (jobs.ExpressInfo.CancelNote).
	Note string `json:"note,omitempty"`
}

func (s *Server) action(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := campaignID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		c, err := s.visibleCampaign(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p := principalOf(r.Context())
		if name == "approve" && !p.selfApprove {
			staged, err := s.stagedBy(r.Context(), c, p)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if staged {
				s.fail(w, r, errorf(http.StatusForbidden, "self_approval",
					"campaign %s was staged by token %q, which may not approve it: another approver must (or set self_approve: true for this token in the token file)",
					id, p.Name))
				return
			}
		}
		var outcomes []string
		if name == "retry" {
			if outcomes, err = retryOutcomes(w, r); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		// Approve and retry enqueue every batch: finish even if the
		// client hangs up.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), submitTimeout)
		defer cancel()
		var requeued *int64
		switch name {
		case "approve":
			// Approve what the checks above saw, and nothing this
			// token staged: an append racing this request is not
			// approved with it.
			_, err = s.store.ApproveChecked(ctx, id, jobs.ApproveOptions{Total: c.Total, NotStager: !p.selfApprove})
			if errors.Is(err, jobs.ErrSelfApproval) {
				err = errorf(http.StatusForbidden, "self_approval",
					"campaign %s has assets staged by token %q, which may not approve them: another approver must", id, p.Name)
			}
		case "pause":
			err = s.store.Pause(ctx, id)
		case "resume":
			_, err = s.store.Resume(ctx, id)
		case "cancel":
			_, err = s.store.Cancel(ctx, id)
		case "retry":
			var n int64
			n, err = s.store.Redrive(ctx, id, outcomes)
			requeued = &n
		}
		if err != nil {
			s.fail(w, r, storeError(err))
			return
		}
		c, err = s.store.Get(ctx, id)
		if err != nil {
			s.fail(w, r, storeError(err))
			return
		}
		s.log.Info("campaign "+name, "campaign", id, "token", p.Name, "state", c.State)
		res := actionResponse{Campaign: s.campaignJSON(ctx, c), Requeued: requeued}
		if name == "cancel" {
			res.Note = res.Campaign.Express.CancelNote()
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// stagedBy reports whether p created campaign c or added assets to it
// since its last approval (the store records every such actor, the
// creator and each appender, in c.Stagers): either way, its approval
// would cover assets it staged itself. A retry or any other event never
// changes who staged. Campaigns stored before stagers were recorded fall
// back to the newest event that made them pending.
func (s *Server) stagedBy(ctx context.Context, c *jobs.Campaign, p *Principal) (bool, error) {
	if c.Owner == p.owner {
		return true, nil
	}
	if c.StagersRecorded {
		return slices.Contains(c.Stagers, p.Actor()), nil
	}
	evs, err := s.store.Events(ctx, c.ID)
	if err != nil {
		return false, storeError(err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].To == jobs.StatePending && evs[i].From != jobs.StatePending {
			return evs[i].Actor == p.Actor(), nil
		}
	}
	return false, nil
}

// retryOutcomes reads ?outcome=a,b or a JSON body {"outcomes": [...]}.
func retryOutcomes(w http.ResponseWriter, r *http.Request) ([]string, error) {
	q := r.URL.Query()
	for k := range q {
		if k != "outcome" {
			return nil, errorf(http.StatusBadRequest, "unknown_parameter", "unknown query parameter %q: want outcome", k)
		}
	}
	outcomes := splitList(q["outcome"])
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body_too_large", "retry body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if q.Has("outcome") {
			return nil, errorf(http.StatusBadRequest, "invalid_parameter", "outcomes given both in the query and in the body: give them once")
		}
		var req struct {
			Outcomes []string `json:"outcomes"`
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return nil, errorf(http.StatusBadRequest, "malformed_json", "retry body: %v (want {\"outcomes\": [\"failed\"]})", err)
		}
		if dec.More() {
			return nil, errorf(http.StatusBadRequest, "malformed_json", "retry body: unexpected data after the JSON object")
		}
		outcomes = req.Outcomes
	}
	for _, o := range outcomes {
		if o == jobs.OutcomeReset {
			return nil, errorf(http.StatusBadRequest, "invalid_parameter", "outcome reset cannot be retried: those assets are done")
		}
		ok := false
		for _, a := range retryable {
			ok = ok || a == o
		}
		if !ok {
			return nil, errorf(http.StatusBadRequest, "invalid_parameter", "outcome %q: want one of %s", o, joinComma(retryable))
		}
	}
	return outcomes, nil
}
