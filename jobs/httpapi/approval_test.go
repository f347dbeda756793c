package httpapi_test

// Approval and audit-log tests: approval covers a number of assets, every
// append and stager is recorded, no-op transitions write nothing, and
// idempotency records are scoped to their token, team and incarnation.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

const (
	apprOperatorTok = "review-operator-0123456789abcdef"
	apprOtherTok    = "review-other-op-0123456789abcdef"
	apprApproverTok = "review-approver-0123456789abcdef"
)

// newApprovalEnv serves a structured token file: "op" and "other" are
// operators (no approve), "appr" is an approver and operator without
// self_approve, all of team-a. ConfirmAbove is 100.
func newApprovalEnv(t *testing.T) *env {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens.yaml")
	file := "tokens:\n" +
		"  - name: op\n    token: " + apprOperatorTok + "\n    roles: [operator]\n    teams: [team-a]\n" +
		"  - name: other\n    token: " + apprOtherTok + "\n    roles: [operator]\n    teams: [team-a]\n" +
		"  - name: appr\n    token: " + apprApproverTok + "\n    roles: [operator, approver]\n    teams: [team-a]\n"
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	return newEnv(t, func(c *httpapi.Config) {
		c.Tokens = nil
		c.TokenFile = p
		c.TokenReloadInterval = -1
		c.Defaults.ConfirmAbove = 100
	})
}

// as sends q with the bearer token tok.
func (e *env) as(tok string, q req) resp {
	if q.header == nil {
		q.header = map[string]string{}
	}
	q.header["Authorization"] = "Bearer " + tok
	return e.do(q)
}

func (e *env) createAs(t *testing.T, tok, id string, first, n int, appendIDs bool) resp {
	t.Helper()
	path := "/v1/campaigns?team_id=team-a&campaign_id=" + id
	if appendIDs {
		path += "&append=true"
	}
	return e.as(tok, req{method: http.MethodPost, path: path, ctype: "text/csv", body: csvBody(idLines(first, n)...)})
}

func (e *env) stateOf(t *testing.T, id string) (jobs.State, int64) {
	t.Helper()
	c, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c.State, c.Total
}

// An operator without the approver role runs any number of assets without
// approval: it creates a small campaign (below ConfirmAbove, runs at once),
// pauses it, appends far more than ConfirmAbove (the hold transition is
// only tried from running, so the paused campaign stays paused) and
// resumes it. Expected: the append above the threshold makes the campaign
// wait for an approver (pending), so resume is refused.
func TestApprovalAppendToPausedCampaignWaitsForApproval(t *testing.T) {
	e := newApprovalEnv(t)
	if r := e.createAs(t, apprOperatorTok, "rev-paused", 1, 10, false); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := e.as(apprOperatorTok, req{method: http.MethodPost, path: "/v1/campaigns/rev-paused/pause"}); r.status != http.StatusOK {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	if r := e.createAs(t, apprOperatorTok, "rev-paused", 1000, 5000, true); r.status != http.StatusOK {
		t.Fatalf("append: %d %s", r.status, r.body)
	}
	st, total := e.stateOf(t, "rev-paused")
	r := e.as(apprOperatorTok, req{method: http.MethodPost, path: "/v1/campaigns/rev-paused/resume"})
	st2, _ := e.stateOf(t, "rev-paused")
	if st2 == jobs.StateRunning {
		t.Fatalf("operator-only token ran %d assets (5000 appended, ConfirmAbove 100) without any approval: "+
			"after the append the campaign was %s, resume answered %d and the campaign is %s; want it pending until an approver approves",
			total, st, r.status, st2)
	}
}

// An approver appends its own assets to a campaign another operator
// created pending, then approves it. The append to a pending campaign
// writes no audit event, so stagedBy sees only the creator and lets the
// appender approve assets it staged itself. Expected: 403 self_approval
// (the appender staged those assets), and an audit event of the append.
func TestApprovalAppenderCannotApproveItsOwnAppend(t *testing.T) {
	e := newApprovalEnv(t)
	if r := e.createAs(t, apprOtherTok, "rev-pending", 1, 200, false); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if st, _ := e.stateOf(t, "rev-pending"); st != jobs.StatePending {
		t.Fatalf("200 assets above ConfirmAbove 100: state %s, want pending", st)
	}
	if r := e.createAs(t, apprApproverTok, "rev-pending", 10_000, 5000, true); r.status != http.StatusOK {
		t.Fatalf("append: %d %s", r.status, r.body)
	}
	evs, err := e.store.Events(context.Background(), "rev-pending")
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	for _, ev := range evs {
		log = append(log, fmt.Sprintf("%s %s %s->%s", ev.Actor, ev.Action, ev.From, ev.To))
	}
	r := e.as(apprApproverTok, req{method: http.MethodPost, path: "/v1/campaigns/rev-pending/approve"})
	if r.status == http.StatusOK {
		_, total := e.stateOf(t, "rev-pending")
		t.Fatalf("token appr appended 5000 of its own assets to a pending campaign and approved it itself (%d assets now running); "+
			"audit log has no trace of the append: [%s]", total, strings.Join(log, "; "))
	}
}

// Once a campaign is above ConfirmAbove (approved once), every further
// append of at most ConfirmAbove assets is neither held nor approved:
// 20 appends of 100 take an approved campaign of 101 assets to 2,101
// running ones with no approver involved. Expected: appends that take a
// campaign a further ConfirmAbove above what was approved wait for
// approval.
func TestApprovalRepeatedSmallAppendsAreHeld(t *testing.T) {
	e := newApprovalEnv(t)
	if r := e.createAs(t, apprOperatorTok, "rev-drip", 1, 101, false); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := e.as(apprApproverTok, req{method: http.MethodPost, path: "/v1/campaigns/rev-drip/approve"}); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	for i := range 20 {
		if r := e.createAs(t, apprOperatorTok, "rev-drip", 1000+i*100, 100, true); r.status != http.StatusOK {
			t.Fatalf("append %d: %d %s", i, r.status, r.body)
		}
	}
	st, total := e.stateOf(t, "rev-drip")
	if st != jobs.StatePending {
		t.Fatalf("after one approval of 101 assets the operator appended 2,000 more in slices of 100: campaign %s with %d assets, "+
			"never held for approval (ConfirmAbove 100)", st, total)
	}
}

// Pausing a paused campaign is accepted and writes an event each time
// (from == to); the log keeps the newest 1,000, so an operator erases who
// created and approved a campaign with 1,000 pause calls. Expected: a
// repeated action that changes nothing is not an event (or the creation
// and approval are never trimmed).
func TestAuditNoOpFloodKeepsCreatorAndApprover(t *testing.T) {
	e := newApprovalEnv(t)
	if r := e.createAs(t, apprOtherTok, "rev-erase", 1, 200, false); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := e.as(apprApproverTok, req{method: http.MethodPost, path: "/v1/campaigns/rev-erase/approve"}); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	// The store-level pause is what the API route calls; it is used here
	// with the operator's actor to keep the test fast (ControlDelay is
	// paid per call either way).
	st := jobs.NewStore(e.redis.Client, jobs.StoreOptions{Namespace: e.redis.Namespace, ControlDelay: time.Nanosecond})
	ctx := jobs.WithActor(context.Background(), "api:op")
	for i := 0; i < jobs.MaxEvents; i++ {
		if err := st.Pause(ctx, "rev-erase"); err != nil {
			t.Fatalf("pause %d: %v", i, err)
		}
	}
	r := e.as(apprOperatorTok, req{method: http.MethodGet, path: "/v1/campaigns/rev-erase/events"})
	if r.status != http.StatusOK {
		t.Fatalf("events: %d %s", r.status, r.body)
	}
	body := string(r.body)
	if !strings.Contains(body, `"api:other"`) || !strings.Contains(body, `"api:appr"`) {
		t.Fatalf("after %d pause calls by api:op the audit log no longer names the creator (api:other) or the approver (api:appr): %d bytes, first event %.200s",
			jobs.MaxEvents, len(body), body)
	}
}

// The Idempotency-Key is stored under sha256(owner + key) with no
// separator: token "ab" sending key "c-1" lands on token "abc"'s key "-1".
// Token ab (team-a) learns the ID of a campaign of team-b, which GET
// hides as "not found", and cannot use its own key. Expected: keys are
// scoped per token without collisions (a separator, or hashing the pair),
// and a replay never names a campaign the token may not see.
func TestIdempotencyKeysDoNotCollideAcrossTokens(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.yaml")
	file := "tokens:\n" +
		"  - name: ab\n    token: " + apprOperatorTok + "\n    roles: [operator]\n    teams: [team-a]\n" +
		"  - name: abc\n    token: " + apprOtherTok + "\n    roles: [operator]\n    teams: [team-b]\n"
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *httpapi.Config) { c.Tokens, c.TokenFile, c.TokenReloadInterval = nil, p, -1 })
	r := e.as(apprOtherTok, req{method: http.MethodPost, path: "/v1/campaigns?team_id=team-b&campaign_id=secret-of-team-b",
		ctype: "text/csv", body: csvBody(idLines(1, 5)...), header: map[string]string{"Idempotency-Key": "-1"}})
	if r.status != http.StatusCreated {
		t.Fatalf("abc create: %d %s", r.status, r.body)
	}
	if g := e.as(apprOperatorTok, req{method: http.MethodGet, path: "/v1/campaigns/secret-of-team-b"}); g.status != http.StatusNotFound {
		t.Fatalf("ab GET of team-b's campaign: %d, want 404", g.status)
	}
	r = e.as(apprOperatorTok, req{method: http.MethodPost, path: "/v1/campaigns?team_id=team-a&campaign_id=mine",
		ctype: "text/csv", body: csvBody(idLines(100, 5)...), header: map[string]string{"Idempotency-Key": "c-1"}})
	if r.status != http.StatusCreated || strings.Contains(string(r.body), "secret-of-team-b") {
		t.Fatalf("token ab with its own new Idempotency-Key c-1: %d %s; want 201 and no word of team-b's campaign", r.status, r.body)
	}
}

// stagedBy takes the actor of the newest event whose to-state is pending
// as the stager. A retry of a pending campaign writes such an event
// (pending -> pending) under the retrying token, so once anyone else
// retries, the token that appended above the threshold may approve its own
// append. Expected: 403 self_approval for appr.
func TestApprovalRetryDoesNotChangeStagers(t *testing.T) {
	e := newApprovalEnv(t)
	if r := e.createAs(t, apprOtherTok, "rev-stage", 1, 50, false); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := e.createAs(t, apprApproverTok, "rev-stage", 1000, 500, true); r.status != http.StatusOK {
		t.Fatalf("append: %d %s", r.status, r.body)
	}
	if st, _ := e.stateOf(t, "rev-stage"); st != jobs.StatePending {
		t.Fatalf("after appr's append of 500: %s, want pending", st)
	}
	if r := e.as(apprApproverTok, req{method: http.MethodPost, path: "/v1/campaigns/rev-stage/approve"}); r.status != http.StatusForbidden {
		t.Fatalf("appr approving its own append: %d, want 403 (the guard works before the retry)", r.status)
	}
	// Some outcome must exist for retry to write its event: record one
	// failed asset of the first 50, as a worker would have before the hold.
	ctx := context.Background()
	if _, err := jobs.NewLedger(e.redis.Client, e.redis.Namespace).Record(ctx, "rev-stage",
		[]jobs.BatchRecords{{Batch: 0, Records: []jobs.Record{{AssetID: 1, Outcome: jobs.OutcomeFailed, FinishedAt: time.Now()}}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := e.as(apprOtherTok, req{method: http.MethodPost, path: "/v1/campaigns/rev-stage/retry"}); r.status != http.StatusOK {
		t.Fatalf("retry by other: %d %s", r.status, r.body)
	}
	if r := e.as(apprApproverTok, req{method: http.MethodPost, path: "/v1/campaigns/rev-stage/approve"}); r.status == http.StatusOK {
		t.Fatalf("after another token's retry, appr approved the 500 assets it appended itself (self-approval guard reset by a retry event)")
	}
}

// An Idempotency-Key outlives its campaign (the key is kept for the
// retention; the campaign may go earlier: a delete, a flush of its keys).
// When another team creates a campaign with the same ID, replaying the
// first request answers 200 with the other team's campaign (name, counts,
// state), which GET hides from this token as "not found". Expected: a
// replay checks the campaign is the one the key created (and is visible to
// the token), else treats the key as free or answers 409.
func TestIdempotencyReplayOfRecreatedCampaign(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.yaml")
	file := "tokens:\n" +
		"  - name: a\n    token: " + apprOperatorTok + "\n    roles: [operator]\n    teams: [team-a]\n" +
		"  - name: b\n    token: " + apprOtherTok + "\n    roles: [operator]\n    teams: [team-b]\n"
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *httpapi.Config) { c.Tokens, c.TokenFile, c.TokenReloadInterval = nil, p, -1 })
	first := func() resp {
		return e.as(apprOperatorTok, req{method: http.MethodPost, path: "/v1/campaigns?team_id=team-a&campaign_id=imp",
			ctype: "text/csv", body: csvBody(idLines(1, 3)...), header: map[string]string{"Idempotency-Key": "import-2026-11-27"}})
	}
	if r := first(); r.status != http.StatusCreated {
		t.Fatalf("a create: %d %s", r.status, r.body)
	}
	if err := e.store.Delete(context.Background(), "imp"); err != nil {
		t.Fatal(err)
	}
	if r := e.as(apprOtherTok, req{method: http.MethodPost, path: "/v1/campaigns?team_id=team-b&campaign_id=imp&name=team-b-secret-project",
		ctype: "text/csv", body: csvBody(idLines(500, 7)...)}); r.status != http.StatusCreated {
		t.Fatalf("b create: %d %s", r.status, r.body)
	}
	if g := e.as(apprOperatorTok, req{method: http.MethodGet, path: "/v1/campaigns/imp"}); g.status != http.StatusNotFound {
		t.Fatalf("a GET of team-b's imp: %d, want 404", g.status)
	}
	if r := first(); strings.Contains(string(r.body), "team-b") {
		t.Fatalf("token of team-a replaying its Idempotency-Key got team-b's campaign: %d %s", r.status, r.body)
	}
}
