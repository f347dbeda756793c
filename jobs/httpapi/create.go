package httpapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

const (
	maxBadRowsShown   = 20
	maxFieldBytes     = 64 << 10
	maxIdempotencyKey = 255
	gzipExpansion     = 16 // a gzip body may expand to this many times MaxBodyBytes
)

// createRequest is a parsed create request.
type createRequest struct {
	params *createParams
	source string // "csv" or "json", the metrics label
	file   string // name of an uploaded file, for the default name
	owner  string
	// principal may create campaigns of the teams it may act for only.
	principal *Principal
	plan      *jobs.Plan
	input     *countingInput
}

func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request) {
	idemKey := r.Header.Get("Idempotency-Key")
	if idemKey != "" && !validIdempotencyKey(idemKey) {
		s.fail(w, r, errorf(http.StatusBadRequest, "invalid_idempotency_key",
			"Idempotency-Key: want 1..%d printable ASCII characters (e.g. a UUID)", maxIdempotencyKey))
		return
	}
	if !s.uploads.tryAcquire() {
		s.busy(w)
		return
	}
	defer s.uploads.release()
	req, def, err := s.readCreateBody(w, r)
	if err == nil && req.params.query != "" {
		err = s.listQuery(r.Context(), req, def)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, plan := req.params, req.plan
	pj := newPlanJSON(plan).withSnapshot(p).withQuery(def, p.selectAll)
	if err := refusePlan(p, plan, pj); err != nil {
		s.fail(w, r, err)
		return
	}
	if p.dryRun {
		confirm := s.cfg.Defaults.ConfirmAbove
		if confirm == 0 {
			confirm = jobs.DefaultConfirmAbove
		}
		writeJSON(w, http.StatusOK, createResponse{DryRun: true, Plan: pj, ApprovalRequired: p.selectAll || confirm > 0 && plan.Valid > confirm,
			Warnings: campaignWarnings(p.snapshot, def.Express)})
		return
	}

	// From here the request has been read: finish the Redis work even if
	// the client hangs up, so that no campaign is left half enqueued.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), submitTimeout)
	defer cancel()
	owner := ownerOf(r.Context())
	var idem *idempotency
	if idemKey != "" {
		var done bool
		idem, done = s.claimCreate(ctx, w, r, req, def, owner, idemKey, pj)
		if done {
			return
		}
	}
	if _, err := s.visibleCampaign(ctx, def.ID); errors.Is(err, errHidden) {
		// The ID belongs to another team's campaign, which GET hides as
		// "not found": refuse without saying it is taken (see
		// errIDUnavailable).
		if idem != nil {
			idem.release(ctx, s.store.Redis())
		}
		s.fail(w, r, errIDUnavailable(def.ID))
		return
	}
	res, err := s.store.Submit(ctx, def, plan, jobs.SubmitOptions{
		Strict: p.strict, Append: p.append, ConfirmAbove: s.cfg.Defaults.ConfirmAbove,
		// A select_all query means every asset of the team: an approver
		// decides, whatever the threshold says (as a select_all schedule).
		RequireApproval: p.selectAll,
	})
	if idem != nil {
		s.settleIdempotency(ctx, idem, def, res, err)
	}
	if err != nil {
		s.fail(w, r, s.submitError(ctx, def, err))
		return
	}
	s.writeSubmitted(ctx, w, req, res, pj, owner)
}

// readCreateBody reads and checks the request under the slow-body guard,
// then lifts the read deadline: the rest of the request (Submit) is
// bounded by its own timeouts, not by the body's rate.
func (s *Server) readCreateBody(w http.ResponseWriter, r *http.Request) (*createRequest, *jobs.Campaign, error) {
	slow := newSlowBody(w, r, time.Now())
	r.Body = slow
	req, def, err := s.readCreate(w, r)
	if err != nil {
		if slow.cut {
			err = slow.tooSlow()
		}
		return nil, nil, err
	}
	if slow.rc != nil {
		slow.rc.SetReadDeadline(time.Time{})
	}
	return req, def, nil
}

// refusePlan refuses a plan that creates nothing: bad rows under strict,
// or no valid ID at all. The error carries the plan, so that the client
// sees which rows were bad.
func refusePlan(p *createParams, plan *jobs.Plan, pj *planJSON) error {
	if p.strict && plan.Bad > 0 {
		e := errorf(http.StatusUnprocessableEntity, "strict_bad_rows",
			"strict: %d of %d rows are bad, nothing was created; first: %s", plan.Bad, plan.Rows, firstBad(plan))
		e.plan = pj
		return e
	}
	if plan.Valid == 0 {
		e := errorf(http.StatusUnprocessableEntity, "no_valid_ids",
			"no valid asset IDs: %d rows, all bad; first: %s", plan.Rows, firstBad(plan))
		e.plan = pj
		return e
	}
	return nil
}

// claimCreate claims the request's Idempotency-Key and keeps the claim
// alive while the request runs. done means the response was written (a
// replay, a conflict or an error).
func (s *Server) claimCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, req *createRequest,
	def *jobs.Campaign, owner, idemKey string, pj *planJSON) (idem *idempotency, done bool) {
	if req.params.campaignID == "" {
		def.ID = idempotentCampaignID(owner, idemKey)
	}
	idem = &idempotency{
		key: jobs.IdempotencyKey(s.store.Namespace(), owner, idemKey),
		rec: idemRecord{Campaign: def.ID, Team: def.TeamID, Request: fingerprint(req)},
	}
	done, err := s.claimIdempotency(ctx, w, idem, pj)
	if err != nil {
		s.fail(w, r, err)
		return nil, true
	}
	if done {
		return nil, true
	}
	idem.stop = s.holdClaim(ctx, idem)
	return idem, false
}

// settleIdempotency ends the claim of a submitted request. Once the
// campaign exists the key answers with it for the retention; a create
// that failed before that frees the key.
func (s *Server) settleIdempotency(ctx context.Context, idem *idempotency, def *jobs.Campaign, res *jobs.SubmitResult, err error) {
	idem.stop()
	if err != nil && (res == nil || !res.Created) {
		idem.release(ctx, s.store.Redis())
		return
	}
	if res != nil && res.Campaign != nil {
		idem.rec.Incarnation = res.Campaign.Incarnation
	} else {
		idem.rec.Incarnation = def.Incarnation
	}
	if kerr := idem.record(ctx, s.store.Redis(), s.cfg.Defaults.Policy.Retention); kerr != nil {
		s.log.Warn("campaign created, but its Idempotency-Key may lapse early", "campaign", def.ID, "err", kerr)
	}
}

// writeSubmitted answers a successful create or append: 201 with the
// campaign's Location when it was created, 200 otherwise.
func (s *Server) writeSubmitted(ctx context.Context, w http.ResponseWriter, req *createRequest, res *jobs.SubmitResult, pj *planJSON, owner string) {
	plan := req.plan
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
		s.metrics.created.WithLabelValues(req.source).Inc()
		w.Header().Set("Location", "/v1/campaigns/"+res.Campaign.ID)
	}
	s.log.Info("campaign submitted", "campaign", res.Campaign.ID, "created", res.Created, "owner", owner,
		"state", res.Campaign.State, "valid", plan.Valid, "bad", plan.Bad, "appended", res.Appended, "enqueued", res.Enqueued)
	pj.New = plan.New
	c := res.Campaign
	pj.setSnapshot(c.Snapshot, c.ResetUnlisted)
	writeJSON(w, status, createResponse{
		Campaign: s.campaignJSON(ctx, c), Plan: pj, Created: res.Created, Warnings: campaignWarnings(c.Snapshot, c.Express),
		Appended: res.Appended, Enqueued: res.Enqueued, ApprovalRequired: res.Campaign.State == jobs.StatePending,
	})
}

// createResponse is the body of a successful POST /v1/campaigns.
type createResponse struct {
	Campaign         *campaignJSON `json:"campaign,omitempty"`
	Plan             *planJSON     `json:"plan,omitempty"`
	DryRun           bool          `json:"dry_run,omitempty"`
	Created          bool          `json:"created"`
	Replayed         bool          `json:"replayed,omitempty"`
	Appended         int64         `json:"appended"`
	Enqueued         int           `json:"enqueued"`
	ApprovalRequired bool          `json:"approval_required"`
	// Warnings are what the caller should know before the campaign runs:
	// that it cannot be undone (snapshot false).
	Warnings []string `json:"warnings,omitempty"`
}

// campaignWarnings are undoWarnings plus, for an express campaign, what
// its undo cannot cover.
func campaignWarnings(snapshot, express bool) []string {
	if express {
		return append(undoWarnings(snapshot), "express: "+expressWarning)
	}
	return undoWarnings(snapshot)
}

// undoWarnings are the warnings about a campaign with or without a
// snapshot.
func undoWarnings(snapshot bool) []string {
	if snapshot {
		return nil
	}
	return []string{undoImpossible}
}

// planJSON summarises the rows of an upload.
type planJSON struct {
	Rows       int64    `json:"rows"`
	Valid      int64    `json:"valid"`
	Duplicates int64    `json:"duplicates"`
	Bad        int64    `json:"bad"`
	BadRows    []string `json:"bad_rows"`
	New        int64    `json:"new"`
	BatchSize  int      `json:"batch_size"`
	Batches    int      `json:"batches"`
	IDColumn   string   `json:"id_column,omitempty"`
	// Snapshot says whether the campaign records every asset's labels
	// before it resets any; Undo says what that means for undo, so that
	// whoever reads the plan (an approver) sees it in words.
	Snapshot      bool   `json:"snapshot"`
	ResetUnlisted bool   `json:"reset_unlisted,omitempty"`
	Undo          string `json:"undo"`
	// Query, SelectAll and Express describe a query campaign
	// (createquery.go).
	Query     string           `json:"query,omitempty"`
	SelectAll bool             `json:"select_all,omitempty"`
	Express   *expressPlanJSON `json:"express,omitempty"`
}

// Plan texts of undo (planJSON.Undo).
const (
	undoPossible = "a snapshot of the assets' labels is taken before anything is reset " +
		"(it lists the team's inventory: one request per page of up to 1,000 assets); " +
		"POST /v1/campaigns/{id}/undo puts the removed labels back"
	undoImpossible = "snapshot: false - the labels are not recorded, so this campaign cannot be undone"
)

// withSnapshot adds the snapshot settings of the request to the plan.
func (pj *planJSON) withSnapshot(p *createParams) *planJSON {
	return pj.setSnapshot(p.snapshot, p.resetUnlisted)
}

// setSnapshot sets the plan's snapshot settings. An answer about an
// existing campaign (an append, a re-submit, a replay) states the stored
// campaign's: the request's own settings do not change it.
func (pj *planJSON) setSnapshot(snapshot, resetUnlisted bool) *planJSON {
	pj.Snapshot, pj.ResetUnlisted, pj.Undo = snapshot, resetUnlisted, undoPossible
	if !snapshot {
		pj.Undo = undoImpossible
	}
	return pj
}

func newPlanJSON(p *jobs.Plan) *planJSON {
	bad := p.BadRows
	if len(bad) > maxBadRowsShown {
		bad = bad[:maxBadRowsShown]
	}
	return &planJSON{
		Rows: p.Rows, Valid: p.Valid, Duplicates: p.Duplicates, Bad: p.Bad,
		BadRows: append([]string{}, bad...), New: p.New, BatchSize: p.BatchSize, Batches: p.Batches,
		IDColumn: p.IDColumn,
	}
}

func firstBad(p *jobs.Plan) string {
	if len(p.BadRows) == 0 {
		return "(none)"
	}
	return strings.Join(p.BadRows[:min(3, len(p.BadRows))], "; ")
}

// readCreate parses the request into parameters, a definition and a plan.
func (s *Server) readCreate(w http.ResponseWriter, r *http.Request) (*createRequest, *jobs.Campaign, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"missing Content-Type: send text/csv, multipart/form-data (field \"file\") or application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q: %v", ct, err)
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	req := &createRequest{params: newCreateParams(), source: "csv", owner: ownerOf(r.Context()), principal: principalOf(r.Context())}
	switch mt {
	case "text/csv", "text/plain", "text/tab-separated-values":
		if err := req.params.fromQuery(r.URL.Query()); err != nil {
			return nil, nil, err
		}
		// Refuse bad parameters before reading a large body.
		if _, err := s.buildDef(req); err != nil {
			return nil, nil, err
		}
		req.plan, req.input, err = s.readIDFile(body, "body", req.params.column)
	case "multipart/form-data":
		if err := req.params.fromQuery(r.URL.Query()); err != nil {
			return nil, nil, err
		}
		r.Body = body
		err = s.readMultipart(r, req)
	case "application/json":
		req.source = "json"
		if q := r.URL.Query(); len(q) > 0 {
			return nil, nil, errorf(http.StatusBadRequest, "invalid_parameter",
				"query parameter %q is not used with a JSON body: put it in the JSON object", sortedKeys(q)[0])
		}
		err = s.readJSON(body, req)
		if err == nil && req.params.column != "" {
			err = errorf(http.StatusBadRequest, "invalid_parameter", "column chooses a column of an ID file: asset_ids has none")
		}
	default:
		return nil, nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type %s: send text/csv, multipart/form-data (field \"file\") or application/json", mt)
	}
	if err != nil {
		return nil, nil, err
	}
	def, err := s.buildDef(req)
	if err != nil {
		return nil, nil, err
	}
	return req, def, nil
}

// buildDef turns the parameters into a campaign definition, refusing
// invalid values with messages in API terms.
func (s *Server) buildDef(req *createRequest) (*jobs.Campaign, error) {
	p, d := req.params, s.cfg.Defaults
	bad := func(format string, args ...any) error {
		return errorf(http.StatusBadRequest, "invalid_parameter", format, args...)
	}
	if p.campaignID != "" {
		if err := jobs.ValidateCampaignID(p.campaignID); err != nil {
			return nil, errorf(http.StatusBadRequest, "invalid_campaign_id", "%v", err)
		}
	}
	mode := jobs.Mode(p.mode)
	switch mode {
	case "":
		mode = jobs.ModeDelete
		if p.hasLabels {
			mode = jobs.ModeRemove
		}
	case jobs.ModeDelete:
		if p.labelsNull {
			p.hasLabels = false
		}
		if p.hasLabels {
			return nil, bad("labels are only used in mode remove: leave labels out to delete all labels, or set mode=remove")
		}
	case jobs.ModeRemove:
		if !p.hasLabels {
			return nil, bad("mode remove needs labels (e.g. labels=a,b)")
		}
	default:
		return nil, bad("mode %q: want delete or remove", p.mode)
	}
	if p.resetUnlisted && !p.snapshot {
		return nil, bad("reset_unlisted calls the assets the snapshot did not find: it needs snapshot=true")
	}
	if p.hasLabels && len(p.labels) == 0 {
		return nil, bad("labels is empty: give the labels to remove (e.g. labels=a,b), or leave labels out to delete all labels")
	}
	prio := d.Priority
	if p.priority != "" {
		var err error
		if prio, err = jobs.ParsePriority(p.priority); err != nil {
			return nil, bad("%v", err)
		}
	}
	if err := jobs.CheckTeamID(p.teamID); err != nil {
		return nil, bad("team_id: %v", err)
	}
	if strings.ContainsFunc(p.name, isControl) {
		return nil, bad("name: control characters are not allowed")
	}
	name := p.name
	if name == "" {
		name = req.file
	}
	now := s.now().UTC()
	id := p.campaignID
	if id == "" {
		// The random suffix keeps concurrent uploads from sharing an ID.
		id = jobs.NewCampaignID(now) + "-" + randomHex(3)
	}
	def := &jobs.Campaign{
		ID: id, Name: name, Mode: mode, Labels: p.labels, TeamID: cmp.Or(p.teamID, d.TeamID),
		Server: d.Server, Source: "api/" + req.source, Priority: prio, BatchSize: d.BatchSize, Policy: d.Policy,
		CreatedAt: now, Owner: req.owner, Snapshot: p.snapshot, ResetUnlisted: p.resetUnlisted,
		Notify: p.notify,
	}
	if err := p.applyQuery(def); err != nil {
		return nil, err
	}
	if err := def.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	if err := s.cfg.Notifiers.Check(def.Notify); err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, "unknown_notifier", "notify: %v", err)
	}
	if p := req.principal; p != nil && !p.AllowsTeam(def.TeamID) {
		team := def.TeamID
		if team == "" {
			team = "(none)"
		}
		return nil, errorf(http.StatusForbidden, "forbidden", "token %q may not create campaigns for team %s", p.Name, team)
	}
	return def, nil
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// submitError maps a Submit error to a client error where it is one.
func (s *Server) submitError(ctx context.Context, def *jobs.Campaign, err error) error {
	switch {
	case errors.Is(err, jobs.ErrInputMismatch):
		msg := fmt.Sprintf("campaign %s already exists with a different input", def.ID)
		if c, gerr := s.store.Get(ctx, def.ID); gerr == nil {
			msg = fmt.Sprintf("campaign %s already exists with %d assets, mode %s and labels [%s], and this request differs",
				def.ID, c.Total, c.Mode, strings.Join(c.Labels, ","))
		}
		return errorf(http.StatusConflict, "campaign_exists",
			"%s: set append=true to add the new IDs (same mode and labels only), or choose another campaign_id", msg)
	case errors.Is(err, jobs.ErrTransition):
		return errorf(http.StatusConflict, "conflict", "%v", err)
	case errors.Is(err, jobs.ErrUndone):
		return errorf(http.StatusConflict, "campaign_undone", "%v", err)
	case errors.Is(err, jobs.ErrDeleting), errors.Is(err, jobs.ErrCampaignGone):
		return errorf(http.StatusConflict, "campaign_deleting",
			"campaign %s is being deleted (or was deleted meanwhile): send the request again in a moment", def.ID)
	case errors.Is(err, jobs.ErrInvalidCampaignID):
		return errorf(http.StatusBadRequest, "invalid_campaign_id", "%v", err)
	case errors.Is(err, jobs.ErrStrict), errors.Is(err, jobs.ErrNoValidIDs):
		return errorf(http.StatusUnprocessableEntity, "no_valid_ids", "%v", err)
	}
	return err
}
