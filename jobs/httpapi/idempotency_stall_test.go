package httpapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

// TestIdempotencyClaimLapsesUnderAStalledServe (hostile review of
// issue 15 item 11): the claim now lapses after IdempotencyClaimTTL (1
// minute) unless renewed, but Submit runs for up to submitTimeout (10
// minutes) and nothing fences it: a serve that stalls after claiming
// (paused process, partition from Redis) for longer than the claim, then
// continues, still creates its campaign. Meanwhile the client's retry
// with the same key went to another serve, found the key free and created
// a second campaign (a new generated ID) over the same assets: every
// asset is then called twice. One Idempotency-Key must never create two
// campaigns. (Fault: jobs/httpapi/create.go, createCampaign/holdClaim:
// the create is not conditional on still holding the claim, and the
// campaign ID is not derived from the key.)
func TestIdempotencyClaimLapsesUnderAStalledServe(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.IdempotencyClaimTTL = time.Second })
	q := func() req {
		return req{method: "POST", path: "/v1/campaigns", ctype: "text/csv",
			body: csvBody(idLines(1, 5)...), header: map[string]string{"Idempotency-Key": "stalled-serve-1"}}
	}
	opts, err := redis.ParseURL(e.redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	hook := newClaimGate(false)
	rdb.AddHook(hook)
	stalled, err := httpapi.New(httpapi.Config{
		Store: jobs.NewStore(rdb, jobs.StoreOptions{Namespace: e.redis.Namespace}), Tokens: []string{token},
		Defaults: httpapi.Defaults{ConfirmAbove: -1}, Registerer: prometheus.NewRegistry(), Logger: quietLogger(),
		IdempotencyClaimTTL: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan resp, 1)
	go func() { first <- (&env{t: t, srv: stalled}).do(q()) }()
	var resumeOnce sync.Once
	resume := func() { resumeOnce.Do(func() { close(hook.release) }) }
	defer resume()
	select {
	case <-hook.claimed:
	case <-time.After(30 * time.Second):
		t.Fatal("the first serve did not claim the Idempotency-Key within 30s")
	}

	// The client times out and retries with the same key; another serve
	// answers once the stalled serve's claim has lapsed.
	second := retryPastClaim(e, q)
	resume()
	var r1 resp
	select {
	case r1 = <-first:
	case <-time.After(60 * time.Second):
		t.Fatal("the stalled serve did not answer within 60s of resuming")
	}
	n, err := e.redis.Client.ZCard(context.Background(), e.redis.Namespace+":campaigns").Result()
	if err != nil {
		t.Fatal(err)
	}
	if n > 1 {
		t.Fatalf("one Idempotency-Key created %d campaigns over the same assets (stalled serve: %d %.120s; retry: %d %.120s)",
			n, r1.status, r1.body, second.status, second.body)
	}
}
