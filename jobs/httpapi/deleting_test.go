package httpapi_test

import (
	"context"
	"testing"
)

// TestCampaignBeingDeleted: while a delete of the campaign is under way
// (its meta hash carries the deleting mark), an append, a retry and a
// state change are refused with 409 campaign_deleting, not accepted and
// then lost with the campaign.
func TestCampaignBeingDeleted(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=c1", ctype: "text/csv", body: csvBody(idLines(1, 10)...)}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	// What Store.Delete and the janitor set first, in one script with their
	// decision.
	if err := e.redis.Client.HSet(context.Background(), e.redis.Namespace+":{c1}:meta", "deleting", "1").Err(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []req{
		{method: "POST", path: "/v1/campaigns?campaign_id=c1&append=true", ctype: "text/csv", body: csvBody(idLines(1, 11)...)},
		{method: "POST", path: "/v1/campaigns/c1/retry"},
		{method: "POST", path: "/v1/campaigns/c1/pause"},
	} {
		if r := e.do(q); r.status != 409 || r.errCode(t) != "campaign_deleting" {
			t.Errorf("%s %s: %d %s, want 409 campaign_deleting", q.method, q.path, r.status, r.body)
		}
	}
}
