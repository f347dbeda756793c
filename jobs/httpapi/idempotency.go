// Idempotency-Key of a create request: its claim in Redis, held while the
// request runs, and the record a replay is answered from.

package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/redis/go-redis/v9"
)

func validIdempotencyKey(k string) bool {
	if len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < '!' || k[i] > '~' {
			return false
		}
	}
	return true
}

// idempotentCampaignID names the campaign of a request that carries an
// Idempotency-Key but no campaign_id. The ID depends only on the owner and
// the key, so the campaign itself is the idempotency record: a serve that
// stalls past its claim and then creates, and another serve that took
// over the key meanwhile, both submit the same ID, and the second finds
// "exists, same input" (a replay) instead of creating a second campaign
// over the same assets.
func idempotentCampaignID(owner, key string) string {
	return "api-" + sha256hex(owner + "\x00" + key)[:24]
}

func sha256hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// fingerprint identifies what a request asks for, so that an
// Idempotency-Key reused for another request is refused.
func fingerprint(req *createRequest) string {
	p := req.params
	var b bytes.Buffer
	rows, sum := int64(0), uint64(0)
	if p.query == "" {
		rows, sum = req.input.rows, req.input.sum
	}
	fmt.Fprintf(&b, "%q|%q|%q|%v|%q|%q|%q|%v|%v|%d|%x", p.campaignID, p.name, p.mode, p.hasLabels, p.labels,
		p.teamID, p.priority, p.strict, p.append, rows, sum)
	if p.query != "" {
		b.WriteString(p.queryFingerprint())
	}
	// Only the non-default snapshot settings enter the fingerprint, so
	// that keys recorded before these parameters existed still match the
	// same request.
	if !p.snapshot {
		b.WriteString("|no-snapshot")
	}
	if p.resetUnlisted {
		b.WriteString("|reset-unlisted")
	}
	return sha256hex(b.String())
}

// idemRecord is what an Idempotency-Key maps to in Redis: the campaign
// the request created or appended to, by ID, team and incarnation, so
// that a replay never answers with another campaign that took the same ID
// since (another team's, or the same team's created again).
type idemRecord struct {
	Campaign    string `json:"campaign"`
	Team        string `json:"team"`
	Incarnation string `json:"inc,omitempty"` // set once the request succeeded
	Request     string `json:"request"`
}

type idempotency struct {
	key  string
	rec  idemRecord
	val  string
	stop func() // ends holdClaim's renewal
}

// claimIdempotency reserves the key for this request. When another
// request holds it, it answers that request's campaign (done = true).
func (s *Server) claimIdempotency(ctx context.Context, w http.ResponseWriter, idem *idempotency, pj *planJSON) (bool, error) {
	b, _ := json.Marshal(idem.rec)
	idem.val = string(b)
	rdb := s.store.Redis()
	// A short claim: if this process dies before the campaign exists, the
	// key frees itself within IdempotencyClaimTTL instead of answering 409
	// for the whole retention. holdClaim renews it while Submit runs.
	ok, err := rdb.SetNX(ctx, idem.key, idem.val, s.cfg.IdempotencyClaimTTL).Result()
	if err != nil {
		return true, fmt.Errorf("idempotency key: %w", err)
	}
	if ok {
		return false, nil
	}
	v, err := rdb.Get(ctx, idem.key).Result()
	if errors.Is(err, redis.Nil) {
		return true, errorf(http.StatusConflict, "idempotency_in_progress",
			"a request with this Idempotency-Key has just failed or expired: send it again")
	}
	if err != nil {
		return true, fmt.Errorf("idempotency key: %w", err)
	}
	var prev idemRecord
	if err := json.Unmarshal([]byte(v), &prev); err != nil {
		return true, fmt.Errorf("idempotency key: corrupt record: %w", err)
	}
	if prev.Request != idem.rec.Request {
		return true, errorf(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was used for a different request (campaign %s): use a new key for a new request", prev.Campaign)
	}
	c, err := s.store.Get(ctx, prev.Campaign)
	if errors.Is(err, jobs.ErrNotFound) && prev.Incarnation == "" {
		return true, errorf(http.StatusConflict, "idempotency_in_progress",
			"the first request with this Idempotency-Key (campaign %s) is still being processed: retry in a moment", prev.Campaign)
	}
	if err == nil && (c.TeamID != prev.Team || prev.Incarnation != "" && c.Incarnation != prev.Incarnation) {
		err = jobs.ErrNotFound // another campaign has the ID now: say nothing of it
	}
	if errors.Is(err, jobs.ErrNotFound) {
		return true, errorf(http.StatusConflict, "idempotency_key_stale",
			"the campaign that this Idempotency-Key's first request made (%s) no longer exists: use a new key", prev.Campaign)
	}
	if err != nil {
		return true, err
	}
	if _, verr := s.visibleCampaign(ctx, c.ID); verr != nil {
		return true, errorf(http.StatusConflict, "idempotency_key_stale",
			"the campaign that this Idempotency-Key's first request made (%s) is not visible to this token: use a new key", prev.Campaign)
	}
	if c.State != jobs.StatePending && !c.State.Final() {
		// Completes a first request that died while enqueueing.
		if _, err := s.store.EnsureEnqueued(ctx, c); err != nil {
			return true, err
		}
	}
	pj.setSnapshot(c.Snapshot, c.ResetUnlisted)
	writeJSON(w, http.StatusOK, createResponse{
		Campaign: s.campaignJSON(ctx, c), Plan: pj, Replayed: true, ApprovalRequired: c.State == jobs.StatePending,
		Warnings: campaignWarnings(c.Snapshot, c.Express),
	})
	return true, nil
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// release frees the key after a failed submit, so that the client may
// send the corrected request with the same key.
func (i *idempotency) release(ctx context.Context, rdb redis.UniversalClient) {
	releaseScript.Run(ctx, rdb, []string{i.key}, i.val)
}

// expireScript sets the key's lifetime if this request still holds it.
var expireScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// keep gives the key the long lifetime once its campaign exists.
func (i *idempotency) keep(ctx context.Context, rdb redis.UniversalClient, ttl time.Duration) error {
	if err := expireScript.Run(ctx, rdb, []string{i.key}, i.val, ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("idempotency key: set lifetime: %w", err)
	}
	return nil
}

// recordScript replaces the claim with the final record (which names the
// campaign's incarnation) and gives it its lifetime, if this request still
// holds the key. KEYS key. ARGV claim value, record, ttl (ms).
var recordScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// record stores i.rec (now with the incarnation) for ttl in place of the
// claim.
func (i *idempotency) record(ctx context.Context, rdb redis.UniversalClient, ttl time.Duration) error {
	b, _ := json.Marshal(i.rec)
	if err := recordScript.Run(ctx, rdb, []string{i.key}, i.val, string(b), ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("idempotency key: record: %w", err)
	}
	i.val = string(b)
	return nil
}

// holdClaim renews the claim while Submit runs (a large campaign takes a
// while to write), so that it outlives IdempotencyClaimTTL only while this
// process is alive. As soon as the campaign exists the key gets the long
// lifetime: a retry after a crash then finds the campaign instead of
// creating a second one. The returned stop ends the renewal and waits for
// it.
func (s *Server) holdClaim(ctx context.Context, idem *idempotency) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	every := min(s.cfg.IdempotencyClaimTTL/4, time.Second)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ttl := s.cfg.IdempotencyClaimTTL
			_, err := s.store.Get(ctx, idem.rec.Campaign)
			created := err == nil
			if created {
				ttl = s.cfg.Defaults.Policy.Retention
			}
			if err := idem.keep(ctx, s.store.Redis(), ttl); err != nil && ctx.Err() == nil {
				s.log.Warn("idempotency key: renewing the claim failed", "campaign", idem.rec.Campaign, "err", err)
			}
			if created {
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}
