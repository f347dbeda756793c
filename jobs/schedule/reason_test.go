package schedule_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/schedule"
)

// TestTruncatedFireReasonIsTruthful: a select_all schedule whose listing
// passes max_assets creates a pending campaign of the first assets; the
// next firing lists from the start again and selects the same assets
// (nothing takes them out of the query), so the reason must say so rather
// than promise that "later firings pick up the rest" (review finding 8).
func TestTruncatedFireReasonIsTruthful(t *testing.T) {
	_, c := pdcp(t, 100)
	h := newHarness(t)
	cfg := h.config(`
schedules:
  - name: everything
    cron: "* * * * *"
    max_assets: 10
    select_all: true
    source:
      pdcp_query: {is_internal: false}
`)
	s, _ := h.scheduler(cfg, func(o *schedule.Options) { o.Lister = c })
	ctx := context.Background()
	first, err := s.Fire(ctx, "everything", fireTime)
	if err != nil {
		t.Fatal(err)
	}
	if first.State != jobs.StatePending {
		t.Fatalf("first campaign %s, want pending", first.State)
	}
	if _, err := h.store.Approve(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	h.finish(first.ID)
	second, err := s.Fire(ctx, "everything", fireTime.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	a, b := h.assetIDs(first.ID), h.assetIDs(second.ID)
	same := len(a) == len(b)
	for i := range a {
		same = same && a[i] == b[i]
	}
	for _, camp := range []*jobs.Campaign{first, second} {
		if strings.Contains(camp.Reason, "pick up the rest") {
			t.Errorf("campaign %s reason %q promises that later firings reach the rest", camp.ID, camp.Reason)
		}
		if same && !strings.Contains(camp.Reason, "same first assets") {
			t.Errorf("campaign %s reason %q: the second firing selected the same %d assets; want the reason to say so", camp.ID, camp.Reason, len(b))
		}
	}
	if !same {
		t.Logf("the second firing selected other assets than the first: %v vs %v", a, b)
	}
}
