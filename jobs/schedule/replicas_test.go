package schedule_test

import (
	"context"
	"errors"
	"iter"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/schedule"
)

// blockingLister holds its first listing until release is closed (or the
// listing's context ends), then lists through c.
type blockingLister struct {
	c       *client.Client
	started chan struct{}
	release chan struct{}
}

func newBlockingLister(c *client.Client) *blockingLister {
	return &blockingLister{c: c, started: make(chan struct{}), release: make(chan struct{})}
}

func (b *blockingLister) ListAssets(ctx context.Context, f client.AssetFilter, pageSize int) iter.Seq2[client.Asset, error] {
	close(b.started)
	select {
	case <-b.release:
	case <-ctx.Done():
		return func(yield func(client.Asset, error) bool) { yield(client.Asset{}, ctx.Err()) }
	}
	return b.c.ListAssets(ctx, f, pageSize)
}

type fireResult struct {
	c   *jobs.Campaign
	err error
}

// fireSlow starts s.Fire(name, at) with a lister that blocks (l), waits
// until it lists, and returns the channel of its result.
func fireSlow(t *testing.T, ctx context.Context, s *schedule.Scheduler, l *blockingLister, name string, at time.Time) <-chan fireResult {
	t.Helper()
	done := make(chan fireResult, 1)
	go func() {
		c, err := s.Fire(ctx, name, at)
		done <- fireResult{c, err}
	}()
	select {
	case <-l.started:
	case r := <-done:
		t.Fatalf("the slow firing ended before listing: %v, %v", r.c, r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("the slow firing never started listing")
	}
	return done
}

const cappedSchedule = `
schedules:
  - name: capped
    cron: "* * * * *"
    max_assets: 10
    source:
      pdcp_query: {labels: [critical]}
`

// TestReplicasAgreeWhilePreviousIsBeingCreated: replica A fires at T and
// lists slowly; replica B fires at T+1m meanwhile. A named its campaign as
// the previous one before creating it; B must take it for being created
// (skipped, naming it), not for deleted: two pending campaigns over the
// same assets would call each of them twice once both are approved
// (review finding 6).
func TestReplicasAgreeWhilePreviousIsBeingCreated(t *testing.T) {
	fake, c := pdcp(t, 500)
	if n := len(matching(fake, "critical")); n < 11 {
		t.Fatalf("fake has %d critical assets, want > 10", n)
	}
	h := newHarness(t)
	cfg := h.config(cappedSchedule)
	slow := newBlockingLister(c)
	a, _ := h.scheduler(cfg, func(o *schedule.Options) { o.Lister, o.Replica = slow, "replica-a" })
	b, regB := h.scheduler(cfg, func(o *schedule.Options) { o.Lister, o.Replica = c, "replica-b" })
	ctx := context.Background()
	done := fireSlow(t, ctx, a, slow, "capped", fireTime)
	campB, errB := b.Fire(ctx, "capped", fireTime.Add(time.Minute))
	close(slow.release)
	ra := <-done
	if ra.err != nil || ra.c == nil {
		t.Fatalf("replica A: %v, %v; want its campaign created", ra.c, ra.err)
	}
	if campB != nil {
		t.Fatalf("both replicas created a campaign for one schedule: A %s (%s, %d assets) and B %s (%s, %d assets); "+
			"want B's fire skipped while A's campaign is being created", ra.c.ID, ra.c.State, ra.c.Total, campB.ID, campB.State, campB.Total)
	}
	var open *schedule.PreviousOpenError
	if !errors.As(errB, &open) || !open.Creating || open.Campaign != ra.c.ID {
		t.Fatalf("replica B: %v; want a PreviousOpenError naming %s as being created", errB, ra.c.ID)
	}
	if n := fires(t, regB, "capped", schedule.ResultSkipped); n != 1 {
		t.Errorf(`replica B: fires_total{result="skipped"} = %d, want 1`, n)
	}
	// Once A's campaign exists, B waits for it as for any open campaign.
	if _, err := b.Fire(ctx, "capped", fireTime.Add(2*time.Minute)); !errors.As(err, &open) || open.Creating || open.State != jobs.StatePending {
		t.Fatalf("replica B after A created its campaign: %v; want skipped, previous campaign pending", err)
	}
	if n := len(h.campaigns()); n != 1 {
		t.Errorf("%d campaigns, want 1", n)
	}
}

// TestFiringThatCreatedNothingEndsItsLease: a firing that named its
// campaign and then failed (its listing was cancelled) records that it
// ended, so the next fire time fires at once instead of waiting out the
// creation lease.
func TestFiringThatCreatedNothingEndsItsLease(t *testing.T) {
	_, c := pdcp(t, 500)
	h := newHarness(t)
	cfg := h.config(cappedSchedule)
	slow := newBlockingLister(c)
	a, _ := h.scheduler(cfg, func(o *schedule.Options) { o.Lister, o.Replica = slow, "replica-a" })
	b, _ := h.scheduler(cfg, func(o *schedule.Options) { o.Lister, o.Replica = c, "replica-b" })
	ctx, cancel := context.WithCancel(context.Background())
	done := fireSlow(t, ctx, a, slow, "capped", fireTime)
	cancel()
	if r := <-done; r.c != nil || r.err == nil {
		t.Fatalf("replica A with its listing cancelled: %v, %v; want an error and no campaign", r.c, r.err)
	}
	camp, err := b.Fire(context.Background(), "capped", fireTime.Add(time.Minute))
	if err != nil || camp == nil {
		t.Fatalf("replica B after A's firing failed: %v, %v; want a campaign", camp, err)
	}
}

// TestAbandonedCreationLeaseExpires: a firing that named its campaign and
// never finished (its replica died) holds the schedule for the creation
// lease only. Replica A's clock stands 20 minutes back, so its mark is
// older than B's 15-minute lease while it still lists.
func TestAbandonedCreationLeaseExpires(t *testing.T) {
	_, c := pdcp(t, 500)
	h := newHarness(t)
	cfg := h.config(cappedSchedule)
	slow := newBlockingLister(c)
	defer close(slow.release)
	past := func() time.Time { return time.Now().Add(-20 * time.Minute) }
	a, _ := h.scheduler(cfg, func(o *schedule.Options) { o.Lister, o.Replica, o.Now = slow, "replica-a", past })
	b, _ := h.scheduler(cfg, func(o *schedule.Options) {
		o.Lister, o.Replica, o.CreationLease = c, "replica-b", 15*time.Minute
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := fireSlow(t, ctx, a, slow, "capped", fireTime)
	defer func() { cancel(); <-done }()
	camp, err := b.Fire(context.Background(), "capped", fireTime.Add(time.Minute))
	if err != nil || camp == nil {
		t.Fatalf("replica B with A's mark past the lease: %v, %v; want a campaign", camp, err)
	}
}
