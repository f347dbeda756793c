// POST /v1/campaigns/{id}/undo: the restore campaign that puts back the
// labels a campaign removed.

package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
)

// maxNameLen bounds the name of a restore campaign, as the document of
// create bounds a campaign's name.
const maxNameLen = 256

// undoRequest is the optional JSON body of an undo.
type undoRequest struct {
	// Exact replaces each asset's labels with the snapshot's (PATCH
	// update_type=replace) instead of adding the removed ones back.
	Exact bool `json:"exact"`
	// Name names the restore campaign (default "undo of <source>").
	Name string `json:"name"`
}

// undoResponse is the body of a successful undo.
type undoResponse struct {
	Campaign *campaignJSON  `json:"campaign"`
	Plan     *jobs.UndoPlan `json:"plan"`
	// Created is false when an earlier undo of the same campaign created
	// the restore campaign: undo is idempotent and answers with it (200).
	Created  bool `json:"created"`
	Replayed bool `json:"replayed,omitempty"`
	Enqueued int  `json:"enqueued"`
	// ApprovalRequired: the restore campaign is pending until POST
	// /v1/campaigns/{id}/approve.
	ApprovalRequired bool     `json:"approval_required"`
	Warnings         []string `json:"warnings,omitempty"`
}

// undo creates (or, when one exists, returns) the restore campaign of
// campaign {id}.
//
// Approval: a restore campaign above the confirmation threshold is
// created pending, as creates are, unless the token may approve its own
// campaigns (role approver with self_approve): it could approve the
// restore campaign right away anyway, and an undo is the way back from a
// mistake, when waiting costs most. A token that may not approve its own
// campaigns keeps the four-eyes rule: another approver approves.
func (s *Server) undo(w http.ResponseWriter, r *http.Request) {
	idemKey := r.Header.Get("Idempotency-Key")
	if idemKey != "" && !validIdempotencyKey(idemKey) {
		s.fail(w, r, errorf(http.StatusBadRequest, "invalid_idempotency_key",
			"Idempotency-Key: want 1..%d printable ASCII characters (e.g. a UUID)", maxIdempotencyKey))
		return
	}
	id, err := campaignID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := readUndoBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	src, err := s.visibleCampaign(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Undo creates a campaign and may cancel its source: finish even if
	// the client hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), submitTimeout)
	defer cancel()
	p := principalOf(r.Context())
	var idem *undoIdempotency
	if idemKey != "" {
		idem = &undoIdempotency{
			key: jobs.IdempotencyKey(s.store.Namespace(), ownerOf(r.Context()), idemKey),
			req: sha256hex(fmt.Sprintf("undo|%q|%v|%q", id, body.Exact, body.Name)),
		}
		if err := idem.check(ctx, s.store.Redis()); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.snapshotReady(ctx, src); err != nil {
		// An undo done before answers even if the snapshot is gone since
		// (it is not: it lives as long as the campaign), so only a source
		// without a restore campaign is refused here.
		s.fail(w, r, err)
		return
	}
	res, plan, err := s.store.Undo(ctx, id, jobs.UndoOptions{
		Exact: body.Exact, Name: body.Name, Owner: ownerOf(r.Context()),
		Submit: jobs.SubmitOptions{
			ConfirmAbove: s.cfg.Defaults.ConfirmAbove,
			Approved:     p != nil && p.Has(RoleApprover) && p.selfApprove,
		},
	})
	if err != nil {
		s.fail(w, r, undoError(id, err))
		return
	}
	c := res.Campaign
	if idem != nil {
		if err := idem.record(ctx, s.store.Redis(), c, s.cfg.Defaults.Policy.Retention); err != nil {
			s.log.Warn("undo done, but its Idempotency-Key was not recorded", "campaign", c.ID, "err", err)
		}
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
		s.metrics.created.WithLabelValues("undo").Inc()
	}
	w.Header().Set("Location", "/v1/campaigns/"+c.ID)
	s.log.Info("campaign undo", "source", id, "restore_campaign", c.ID, "created", res.Created, "token", p.Name,
		"state", c.State, "restore", plan.Restore, "unchanged", plan.Unchanged, "cancelled_source", plan.Cancels)
	var warnings []string
	if plan.Cancels {
		warnings = append(warnings, fmt.Sprintf("campaign %s could still run: undo cancelled it first, so that a later resume can never delete the restored labels again", id))
	}
	writeJSON(w, status, undoResponse{
		Campaign: s.campaignJSON(ctx, c), Plan: plan, Created: res.Created, Replayed: idem != nil && idem.replay,
		Enqueued: res.Enqueued, ApprovalRequired: c.State == jobs.StatePending, Warnings: warnings,
	})
}

// readUndoBody reads the optional JSON body.
func readUndoBody(w http.ResponseWriter, r *http.Request) (*undoRequest, error) {
	if len(r.URL.Query()) > 0 {
		return nil, errorf(http.StatusBadRequest, "unknown_parameter",
			"undo takes no query parameters: send {\"exact\": true, \"name\": \"...\"} as a JSON body")
	}
	req := &undoRequest{}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body_too_large", "undo body: %v", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return req, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		return nil, errorf(http.StatusBadRequest, "malformed_json", "undo body: %v (want {\"exact\": false, \"name\": \"...\"})", err)
	}
	if dec.More() {
		return nil, errorf(http.StatusBadRequest, "malformed_json", "undo body: unexpected data after the JSON object")
	}
	switch {
	case strings.ContainsFunc(req.Name, isControl):
		return nil, errorf(http.StatusBadRequest, "invalid_parameter", "name: control characters are not allowed")
	case len(req.Name) > maxNameLen:
		return nil, errorf(http.StatusBadRequest, "invalid_parameter", "name: %d bytes, want at most %d", len(req.Name), maxNameLen)
	}
	return req, nil
}

// undoError maps an error of jobs.Store.Undo to a client error.
func undoError(id string, err error) error {
	if errors.Is(err, jobs.ErrNoSnapshot) {
		return errorf(http.StatusConflict, "no_snapshot", "cannot undo campaign %s: %v", id, err)
	}
	if errors.Is(err, jobs.ErrInputMismatch) {
		// Undone already with another exact (or its recorded restore
		// campaign is not one): the message names the campaign.
		return errorf(http.StatusConflict, "conflict", "%v", err)
	}
	return storeError(err)
}

// undoIdempotency is the Idempotency-Key of an undo. Undo is idempotent
// by itself (the source records its restore campaign), so the key needs
// no claim while the request runs: it only refuses the key's reuse for
// another request, as for creates (whose keys share its space).
type undoIdempotency struct {
	key    string
	req    string // the request's fingerprint
	replay bool   // the key answered an earlier undo
}

// check refuses a key recorded for another request.
func (i *undoIdempotency) check(ctx context.Context, rdb redis.UniversalClient) error {
	v, err := rdb.Get(ctx, i.key).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	var prev idemRecord
	if err := json.Unmarshal([]byte(v), &prev); err != nil {
		return fmt.Errorf("idempotency key: corrupt record: %w", err)
	}
	if prev.Request != i.req {
		return errorf(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was used for a different request (campaign %s): use a new key for a new request", prev.Campaign)
	}
	i.replay = true
	return nil
}

// record keeps the key, naming the restore campaign, for ttl.
func (i *undoIdempotency) record(ctx context.Context, rdb redis.UniversalClient, c *jobs.Campaign, ttl time.Duration) error {
	b, _ := json.Marshal(idemRecord{Campaign: c.ID, Team: c.TeamID, Incarnation: c.Incarnation, Request: i.req})
	if err := rdb.Set(ctx, i.key, b, ttl).Err(); err != nil {
		return fmt.Errorf("idempotency key: record: %w", err)
	}
	return nil
}
