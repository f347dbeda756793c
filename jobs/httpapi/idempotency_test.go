package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

// claimGate passes commands through until the Idempotency-Key claim has
// been written; from then on every command waits until release is closed.
// With die set they then fail: the state Redis is left in when serve is
// SIGKILLed between claim and create. Without it they go on: a serve
// paused (SIGSTOP, a long GC or VM pause, a partition from Redis) between
// claim and create that then continues.
type claimGate struct {
	die     bool
	stalled atomic.Bool
	once    sync.Once
	claimed chan struct{}
	release chan struct{}
}

func newClaimGate(die bool) *claimGate {
	return &claimGate{die: die, claimed: make(chan struct{}), release: make(chan struct{})}
}

func (g *claimGate) DialHook(next redis.DialHook) redis.DialHook { return next }

// hold waits, once the claim is written, until the gate is released.
func (g *claimGate) hold(ctx context.Context) error {
	if !g.stalled.Load() {
		return nil
	}
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	if g.die {
		return errors.New("simulated dead serve")
	}
	return nil
}

func (g *claimGate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := g.hold(ctx); err != nil {
			return err
		}
		err := next(ctx, cmd)
		if cmd.Name() == "set" && len(cmd.Args()) > 1 && strings.Contains(cmd.Args()[1].(string), ":idem:") {
			g.stalled.Store(true)
			g.once.Do(func() { close(g.claimed) })
		}
		return err
	}
}

func (g *claimGate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := g.hold(ctx); err != nil {
			return err
		}
		return next(ctx, cmds)
	}
}

// retryPastClaim sends q() again, as a client retrying with the same key,
// until it no longer answers 409 (the earlier claim of 1s has lapsed) or
// 20s pass, and returns the last answer.
func retryPastClaim(e *env, q func() req) resp {
	if e.redis.Mini != nil {
		e.redis.Mini.FastForward(2 * time.Second)
	}
	deadline := time.Now().Add(20 * time.Second) // generous: the claim lapses after 1s
	for {
		r := e.do(q())
		if r.status != http.StatusConflict || time.Now().After(deadline) {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// claimAndDie sends req to a serve on e's Redis that dies right after
// claiming the request's Idempotency-Key, and returns once the claim is in
// Redis. The returned func ends the dead request (at test end at the latest).
func claimAndDie(t *testing.T, e *env, mod func(*httpapi.Config), q req) (kill func()) {
	t.Helper()
	opts, err := redis.ParseURL(e.redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	hook := newClaimGate(true)
	rdb.AddHook(hook)
	cfg := httpapi.Config{
		Store: jobs.NewStore(rdb, jobs.StoreOptions{Namespace: e.redis.Namespace}), Tokens: []string{token},
		Defaults: httpapi.Defaults{ConfirmAbove: -1}, Registerer: prometheus.NewRegistry(), Logger: quietLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	dying, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		de := &env{t: t, srv: dying}
		de.do(q)
	}()
	var once sync.Once
	kill = func() {
		once.Do(func() {
			close(hook.release)
			<-done
			rdb.Close()
		})
	}
	t.Cleanup(kill)
	select {
	case <-hook.claimed:
	case <-done:
		t.Fatal("the dying serve answered before claiming the Idempotency-Key")
	case <-time.After(30 * time.Second):
		t.Fatal("the dying serve did not claim the Idempotency-Key within 30s")
	}
	return kill
}

// idemTTL returns the remaining lifetime of the namespace's only
// Idempotency-Key.
func idemTTL(t *testing.T, e *env) time.Duration {
	t.Helper()
	ctx := context.Background()
	ks, err := e.redis.Client.Keys(ctx, e.redis.Namespace+":idem:*").Result()
	if err != nil || len(ks) != 1 {
		t.Fatalf("idempotency keys: %v %v, want one", ks, err)
	}
	ttl, err := e.redis.Client.PTTL(ctx, ks[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ttl
}

// TestIdempotencyClaimOfDeadServeExpires (issue 15 item 11): a serve that
// claimed an Idempotency-Key and died before creating the campaign must
// not block the key for the retention: the claim lives at most a minute,
// and the same request with the same key then creates the campaign.
func TestIdempotencyClaimOfDeadServeExpires(t *testing.T) {
	e := newEnv(t, nil)
	q := req{method: "POST", path: "/v1/campaigns?campaign_id=imp-dead", ctype: "text/csv",
		body: csvBody(idLines(1, 5)...), header: map[string]string{"Idempotency-Key": "dead-serve-1"}}
	kill := claimAndDie(t, e, nil, q)
	if ttl := idemTTL(t, e); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("claim of a request whose campaign does not exist yet: TTL %v, want <= 1m", ttl)
	}
	kill()

	// With a short claim (the option's test value), the key works again
	// once the dead serve's claim has lapsed.
	e2 := newEnv(t, func(c *httpapi.Config) { c.IdempotencyClaimTTL = time.Second })
	q2 := func() req {
		return req{method: "POST", path: "/v1/campaigns?campaign_id=imp-dead2", ctype: "text/csv",
			body: csvBody(idLines(1, 5)...), header: map[string]string{"Idempotency-Key": "dead-serve-2"}}
	}
	claimAndDie(t, e2, func(c *httpapi.Config) { c.IdempotencyClaimTTL = time.Second }, q2())
	r := retryPastClaim(e2, q2)
	if r.status != http.StatusCreated {
		t.Fatalf("same request and key after the dead serve's claim lapsed: status %d %s, want 201", r.status, r.body)
	}
	if ttl := idemTTL(t, e2); ttl < 24*time.Hour {
		t.Errorf("key of a created campaign: TTL %v, want the retention", ttl)
	}
	if again := e2.do(q2()); again.status != http.StatusOK || !strings.Contains(string(again.body), `"replayed":true`) {
		t.Errorf("replay after create: status %d %s, want 200 replayed", again.status, again.body)
	}
}
