package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/schedule"
)

var fireTime = time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)

// TestReplicasFireOnce runs two schedulers (two replicas) on one Redis for
// about five seconds: every fire time must create exactly one campaign.
func TestReplicasFireOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 5s")
	}
	h := newHarness(t)
	h.file("ids.csv", "id\n1\n2\n3\n")
	cfg := h.config(`
schedules:
  - name: tick
    cron: "@every 1s"
    source:
      csv: {path: ids.csv}
`)
	a, regA := h.scheduler(cfg, func(o *schedule.Options) { o.Replica = "a" })
	b, regB := h.scheduler(cfg, func(o *schedule.Options) { o.Replica = "b" })
	ctx, cancel := context.WithTimeout(context.Background(), 5200*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	// The workers' part: finish each campaign soon after it appears, or
	// the next fire time is skipped (the previous campaign is open).
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			cs, err := h.store.List(context.Background(), 1000)
			if err != nil {
				t.Error(err)
				return
			}
			for _, c := range cs {
				// Total is set once the campaign's IDs are stored.
				if c.State == jobs.StateRunning && c.Total == 3 {
					if err := finish(h.store, c.ID); err != nil {
						t.Error(err)
						return
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for _, s := range []*schedule.Scheduler{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	wg.Wait()

	cs := h.campaigns()
	created := fires(t, regA, "tick", schedule.ResultCreated) + fires(t, regB, "tick", schedule.ResultCreated)
	open := fires(t, regA, "tick", schedule.ResultSkipped) + fires(t, regB, "tick", schedule.ResultSkipped)
	if len(cs) < 3 || created+open < 4 {
		t.Fatalf("%d campaigns, %d fire times handled after 5.2s of @every 1s, want at least 3 and 4", len(cs), created+open)
	}
	var times []time.Time
	for _, c := range cs {
		at, err := time.Parse("20060102T150405Z", strings.TrimPrefix(c.ID, "tick-"))
		if err != nil {
			t.Fatalf("campaign ID %q: want tick-<fire time>: %v", c.ID, err)
		}
		if c.Name != c.ID || c.Total != 3 || !strings.HasPrefix(c.Source, "schedule tick: csv ") {
			t.Errorf("campaign %s: name %q, total %d, source %q; want name = ID, 3 assets, a schedule source", c.ID, c.Name, c.Total, c.Source)
		}
		times = append(times, at)
	}
	slices.SortFunc(times, time.Time.Compare)
	gaps := 0 // fire times between campaigns, each skipped for an open campaign
	for i := 1; i < len(times); i++ {
		d := times[i].Sub(times[i-1])
		if d <= 0 || d%time.Second != 0 {
			t.Errorf("fire times %s and %s are %v apart, want 1s (a duplicate or a missed fire)", times[i-1], times[i], d)
		}
		gaps += int(d/time.Second) - 1
	}
	if gaps > open {
		t.Errorf("%d fire times between the campaigns missing, but only %d were skipped for an open campaign", gaps, open)
	}
	skipped := fires(t, regA, "tick", schedule.ResultSkippedDuplicate) + fires(t, regB, "tick", schedule.ResultSkippedDuplicate)
	if created != len(cs) {
		t.Errorf("replicas counted %d created firings, want %d (one per campaign)", created, len(cs))
	}
	// Both replicas woke for every fire time; at the very end one of them
	// may have been stopped before it woke.
	if handled := created + open; skipped < handled-1 || skipped > handled {
		t.Errorf("replicas skipped %d fire times as duplicates, want %d (or one fewer)", skipped, handled)
	}
	if n := fires(t, regA, "tick", schedule.ResultError) + fires(t, regB, "tick", schedule.ResultError); n != 0 {
		t.Errorf("%d firings failed, want 0", n)
	}
}

// pdcp starts a fake PDCP with n assets and returns it with a client.
func pdcp(t *testing.T, n int) (*pdcpfake.Fake, *client.Client) {
	t.Helper()
	srv := pdcpfake.NewServer(pdcpfake.Options{Assets: n, LabelsPerAsset: 2, Seed: 11, NoLog: true})
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{APIKey: "test-key", Server: srv.URL(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return srv.Fake(), c
}

// matching returns the seeded IDs carrying any of labels, ascending.
func matching(f *pdcpfake.Fake, labels ...string) []int64 {
	var out []int64
	for _, id := range f.AssetIDs() {
		have, _ := f.Labels(id)
		if slices.ContainsFunc(labels, func(l string) bool { return slices.Contains(have, l) }) {
			out = append(out, id)
		}
	}
	return out
}

// countingLister records the teams of ListAssets calls.
type countingLister struct {
	c     *client.Client
	mu    sync.Mutex
	teams []string
}

func (l *countingLister) forTeam(team string) schedule.Lister {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.teams = append(l.teams, team)
	return l.c.WithTeam(team)
}

func TestPDCPQuery(t *testing.T) {
	fake, c := pdcp(t, 2500)
	want := matching(fake, "critical")
	if len(want) < 500 || len(want) > 2000 {
		t.Fatalf("fake seeded %d assets with label critical; the test wants several pages and not all assets", len(want))
	}
	h := newHarness(t)
	cfg := h.config(`
schedules:
  - name: critical
    cron: "0 3 * * *"
    mode: remove
    labels: [critical]
    team_id: team-7
    source:
      pdcp_query: {labels: [critical], page_size: 100}
  - name: capped
    cron: "0 4 * * *"
    max_assets: 100
    source:
      pdcp_query: {labels: [critical], page_size: 100}
  - name: nothing
    cron: "0 5 * * *"
    source:
      pdcp_query: {labels: [no-such-label]}
`)
	lister := &countingLister{c: c}
	s, reg := h.scheduler(cfg, func(o *schedule.Options) { o.ListerFor, o.Defaults.TeamID = lister.forTeam, "proc-team" })
	ctx := context.Background()

	t.Run("matches", func(t *testing.T) {
		camp, err := s.Fire(ctx, "critical", fireTime)
		if err != nil {
			t.Fatal(err)
		}
		if camp.ID != "critical-20261127T020000Z" || camp.State != jobs.StateRunning || camp.Mode != jobs.ModeRemove || camp.TeamID != "team-7" {
			t.Errorf("campaign %s state %s mode %s team %q, want critical-20261127T020000Z running remove team-7", camp.ID, camp.State, camp.Mode, camp.TeamID)
		}
		if diff := cmp.Diff(want, h.assetIDs(camp.ID)); diff != "" {
			t.Errorf("campaign assets (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"team-7"}, lister.teams); diff != "" {
			t.Errorf("ListerFor teams (-want +got):\n%s", diff)
		}
		if got := fake.Stats().ListCalls; got < int64(len(want)/100) {
			t.Errorf("%d listing pages, want at least %d", got, len(want)/100)
		}
	})

	t.Run("max_assets", func(t *testing.T) {
		camp, err := s.Fire(ctx, "capped", fireTime)
		if err != nil {
			t.Fatal(err)
		}
		if camp.State != jobs.StatePending || camp.Total != 101 {
			t.Errorf("campaign state %s with %d assets, want pending with max_assets+1 = 101", camp.State, camp.Total)
		}
		// team_id "": the process's team, the one its query listed.
		if camp.TeamID != "proc-team" {
			t.Errorf("campaign team %q, want the process default proc-team", camp.TeamID)
		}
		if !strings.HasPrefix(camp.Reason, "schedule would touch more than max_assets (100)") {
			t.Errorf("reason %q, want it to start with %q", camp.Reason, "schedule would touch more than max_assets (100)")
		}
		stored, err := h.store.Get(ctx, camp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Reason != camp.Reason {
			t.Errorf("stored reason %q, want %q", stored.Reason, camp.Reason)
		}
		if diff := cmp.Diff(want[:101], h.assetIDs(camp.ID)); diff != "" {
			t.Errorf("campaign assets (-want +got):\n%s", diff)
		}
	})

	t.Run("empty", func(t *testing.T) {
		camp, err := s.Fire(ctx, "nothing", fireTime)
		if !errors.Is(err, schedule.ErrNoAssets) || camp != nil {
			t.Fatalf("Fire: %v, %v; want no campaign and ErrNoAssets", camp, err)
		}
		if _, err := h.store.Get(ctx, schedule.CampaignID("nothing", fireTime)); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("Get: %v, want ErrNotFound", err)
		}
		if n := fires(t, reg, "nothing", schedule.ResultEmpty); n != 1 {
			t.Errorf("fires{result=empty} = %d, want 1", n)
		}
	})

	t.Run("list", func(t *testing.T) {
		now := time.Date(2026, 11, 27, 3, 30, 0, 0, time.UTC)
		got, err := schedule.List(ctx, h.store, cfg, now)
		if err != nil {
			t.Fatal(err)
		}
		want := []schedule.Status{
			{Name: "critical", Cron: "0 3 * * *", Timezone: "UTC", Next: time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC),
				LastFire: fireTime, LastCampaign: "critical-20261127T020000Z", LastResult: schedule.ResultCreated},
			{Name: "capped", Cron: "0 4 * * *", Timezone: "UTC", Next: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC),
				LastFire: fireTime, LastCampaign: "capped-20261127T020000Z", LastResult: schedule.ResultCreated},
			{Name: "nothing", Cron: "0 5 * * *", Timezone: "UTC", Next: time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC),
				LastFire: fireTime, LastError: "no assets matched", LastResult: schedule.ResultEmpty},
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(time.Time.Equal)); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}
	})
}

func TestFireCSV(t *testing.T) {
	h := newHarness(t)
	h.file("ids.csv", "asset_id,host\n5,a\n6,b\nx,c\n6,d\n7,e\n")
	h.file("big.csv", "1\n2\n3\n4\n5\n")
	cfg := h.config(`
schedules:
  - name: small
    cron: "0 3 * * *"
    source: {csv: {path: ids.csv}}
  - name: big
    cron: "0 3 * * *"
    max_assets: 4
    source: {csv: {path: big.csv}}
  - name: Nightly run / EU
    cron: "0 3 * * *"
    timezone: Europe/Berlin
    priority: low
    batch_size: 2
    source: {csv: {path: big.csv}}
`)
	s, reg := h.scheduler(cfg, nil)
	ctx := context.Background()

	camp, err := s.Fire(ctx, "small", fireTime)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{5, 6, 7}, h.assetIDs(camp.ID)); diff != "" {
		t.Errorf("assets (-want +got):\n%s", diff)
	}
	if camp.State != jobs.StateRunning || camp.BatchSize != jobs.DefaultBatchSize || camp.Priority != jobs.PriorityNormal {
		t.Errorf("campaign %s: state %s batch size %d priority %s, want running %d normal", camp.ID, camp.State, camp.BatchSize, camp.Priority, jobs.DefaultBatchSize)
	}

	t.Run("above max_assets is pending", func(t *testing.T) {
		camp, err := s.Fire(ctx, "big", fireTime)
		if err != nil {
			t.Fatal(err)
		}
		if camp.State != jobs.StatePending || camp.Total != 5 || !strings.Contains(camp.Reason, "the source has 5 assets") {
			t.Errorf("state %s, %d assets, reason %q; want pending, 5, \"the source has 5 assets\"", camp.State, camp.Total, camp.Reason)
		}
	})

	t.Run("name is sanitised", func(t *testing.T) {
		camp, err := s.Fire(ctx, "Nightly run / EU", fireTime)
		if err != nil {
			t.Fatal(err)
		}
		if camp.ID != "Nightly_run___EU-20261127T020000Z" || camp.Batches != 3 || camp.Priority != jobs.PriorityLow {
			t.Errorf("campaign %s with %d batches, priority %s; want Nightly_run___EU-20261127T020000Z, 3, low", camp.ID, camp.Batches, camp.Priority)
		}
	})

	t.Run("fire time claimed once", func(t *testing.T) {
		if _, err := s.Fire(ctx, "small", fireTime.Add(500*time.Millisecond)); !errors.Is(err, schedule.ErrAlreadyFired) {
			t.Errorf("second Fire of the same second: %v, want ErrAlreadyFired", err)
		}
		// Without the claim, the deterministic campaign ID still guards.
		claim := h.redis.Namespace + ":sched:small:" + fmt.Sprint(fireTime.Unix())
		if err := h.redis.Client.Del(ctx, claim).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Fire(ctx, "small", fireTime); !errors.Is(err, schedule.ErrAlreadyFired) {
			t.Errorf("Fire after the claim expired: %v, want ErrAlreadyFired", err)
		}
		h.file("ids.csv", "9\n")
		h.redis.Client.Del(ctx, claim)
		if _, err := s.Fire(ctx, "small", fireTime); !errors.Is(err, schedule.ErrAlreadyFired) {
			t.Errorf("Fire with other IDs after the claim expired: %v, want ErrAlreadyFired", err)
		}
		if n := fires(t, reg, "small", schedule.ResultSkippedDuplicate); n != 3 {
			t.Errorf("fires{result=skipped_duplicate} = %d, want 3", n)
		}
		if diff := cmp.Diff([]int64{5, 6, 7}, h.assetIDs(camp.ID)); diff != "" {
			t.Errorf("assets after the duplicate firings (-want +got):\n%s", diff)
		}
	})

	t.Run("unknown schedule", func(t *testing.T) {
		if _, err := s.Fire(ctx, "nope", fireTime); !errors.Is(err, schedule.ErrUnknownSchedule) {
			t.Errorf("Fire: %v, want ErrUnknownSchedule", err)
		}
	})

	t.Run("empty file", func(t *testing.T) {
		h.finish(camp.ID) // an open previous campaign would skip the firing
		h.file("ids.csv", "")
		_, err := s.Fire(ctx, "small", fireTime.Add(time.Hour))
		if !errors.Is(err, schedule.ErrNoAssets) {
			t.Errorf("Fire of an empty file: %v, want ErrNoAssets", err)
		}
	})
}

func TestDefaultsConfirmAbove(t *testing.T) {
	h := newHarness(t)
	h.file("ids.csv", "1\n2\n3\n4\n5\n")
	cfg := h.config(`
schedules:
  - name: s
    cron: "@hourly"
    source: {csv: {path: ids.csv}}
`)
	for _, tc := range []struct {
		confirm int64
		want    jobs.State
	}{
		{confirm: 0, want: jobs.StateRunning},
		{confirm: -1, want: jobs.StateRunning},
		{confirm: 4, want: jobs.StatePending},
		{confirm: 5, want: jobs.StateRunning},
	} {
		t.Run(fmt.Sprint(tc.confirm), func(t *testing.T) {
			s, _ := h.scheduler(cfg, func(o *schedule.Options) { o.Defaults.ConfirmAbove = tc.confirm })
			at := fireTime.Add(time.Duration(tc.confirm+10) * time.Hour)
			camp, err := s.Fire(context.Background(), "s", at)
			if err != nil {
				t.Fatal(err)
			}
			if camp.State != tc.want {
				t.Errorf("state %s, want %s", camp.State, tc.want)
			}
			if tc.want == jobs.StatePending && !strings.Contains(camp.Reason, "confirmation threshold (4)") {
				t.Errorf("reason %q, want it to name the confirmation threshold", camp.Reason)
			}
			// An open campaign would skip the next case's firing.
			if _, err := h.store.Cancel(context.Background(), camp.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRunStops checks that Run returns promptly when its context ends, and
// that a second Run while running is refused.
func TestRunStops(t *testing.T) {
	h := newHarness(t)
	h.file("ids.csv", "1\n")
	cfg := h.config("schedules:\n  - {name: s, cron: \"@yearly\", source: {csv: {path: ids.csv}}}\n")
	s, _ := h.scheduler(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	if err := s.Run(ctx); err == nil {
		t.Error("second concurrent Run: nil error, want a refusal")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancellation")
	}
}

func TestNewRefuses(t *testing.T) {
	h := newHarness(t)
	h.file("ids.csv", "1\n")
	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		{"query without lister", "schedules:\n  - {name: q, cron: \"@daily\", source: {pdcp_query: {labels: [a]}}}\n", "needs a PDCP client"},
		{"http without AllowInsecureHTTP", "schedules:\n  - {name: u, cron: \"@daily\", source: {url: {url: \"http://127.0.0.1:1/ids\"}}}\n", "use https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schedule.New(h.config(tc.yaml), schedule.Options{Store: h.store})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("config built in code", func(t *testing.T) {
		cfg := &schedule.Config{Schedules: []schedule.Schedule{{Name: "x", Cron: "61 * * * *",
			Source: schedule.Source{CSV: &schedule.CSVSource{Path: h.dir + "/ids.csv"}}}}}
		_, err := schedule.New(cfg, schedule.Options{Store: h.store})
		if err == nil || !strings.Contains(err.Error(), `"61 * * * *"`) {
			t.Errorf("New: %v, want the bad cron named", err)
		}
	})
}

// shuffledLister never advances: every page is assets 1..100 in another
// order (a server that ignores offset and sorts at random).
type shuffledLister struct{ rows int }

func (l *shuffledLister) ListAssets(context.Context, client.AssetFilter, int) iter.Seq2[client.Asset, error] {
	return func(yield func(client.Asset, error) bool) {
		for i := 0; ; i++ {
			l.rows++
			if !yield(client.Asset{ID: int64((i*37)%100 + 1)}, nil) {
				return
			}
		}
	}
}

// TestListingMustAdvance: a listing that keeps repeating assets fails the
// firing instead of running forever.
func TestListingMustAdvance(t *testing.T) {
	h := newHarness(t)
	cfg := h.config(`
schedules:
  - name: loop
    cron: "0 3 * * *"
    source:
      pdcp_query: {labels: [x], page_size: 100}
`)
	l := &shuffledLister{}
	s, _ := h.scheduler(cfg, func(o *schedule.Options) { o.Lister = l })
	_, err := s.Fire(context.Background(), "loop", fireTime)
	if err == nil || !strings.Contains(err.Error(), "not advancing") {
		t.Fatalf("Fire: %v, want a 'not advancing' error", err)
	}
	if l.rows > 1200 {
		t.Errorf("%d rows listed before giving up, want about 100 + 1000", l.rows)
	}
}
