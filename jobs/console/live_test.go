package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/console"
	"github.com/labelreset/labelreset/jobs/httpapi"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// serveUI is newUI served by httpapi.Server.Serve, which runs the
// console's live hub (Console.Run) as "labelreset serve" does. stop ends
// it and returns Serve's error.
func serveUI(t *testing.T, mod func(*httpapi.Config)) (u *ui, stop func() error) {
	t.Helper()
	var api *httpapi.Server
	u = newUI(t, func(c *httpapi.Config) {
		if mod != nil {
			mod(c)
		}
	})
	api = u.api
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- api.Serve(ctx, ln, "", "") }()
	u.srv = &httptest.Server{URL: "http://" + ln.Addr().String()}
	var stopped atomic.Bool
	stop = func() error {
		if !stopped.CompareAndSwap(false, true) {
			return nil
		}
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return 30s after its ctx ended")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return u, stop
}

// stream is one open live stream: its events arrive on events, and done
// is closed when the server ends it.
type stream struct {
	body   io.ReadCloser
	events chan sse
	done   chan struct{}
	// received counts the events read so far.
	received atomic.Int64
}

type sse struct {
	name string
	data map[string]any
}

// watch opens the live stream of campaign id with browser c.
func (u *ui) watch(c *http.Client, id string) *stream {
	u.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u.srv.URL+"/ui/campaigns/"+id+"/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	cl := *c
	cl.Timeout = 0
	res, err := cl.Do(req)
	if err != nil {
		u.t.Fatalf("live: %v", err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		u.t.Fatalf("live: %d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	s := &stream{body: res.Body, events: make(chan sse, 1000), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(res.Body)
		var ev sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			case line == "" && ev.name != "":
				s.received.Add(1)
				s.events <- ev
				ev = sse{}
			}
		}
	}()
	return s
}

// next returns the stream's next event.
func (s *stream) next(t *testing.T) sse {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-s.done:
		select {
		case ev := <-s.events:
			return ev
		default:
		}
		t.Fatal("the stream ended")
	case <-time.After(30 * time.Second):
		t.Fatal("no event in 30s")
	}
	return sse{}
}

// ended waits for the server to end the stream.
func (s *stream) ended(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream did not end in 30s")
	}
}

// metaReads counts the reads of campaign id's stored counters (the
// HGETALL of its meta hash) that rdb sends from now on.
func metaReads(env *redistest.Env, id string) *atomic.Int64 {
	var n atomic.Int64
	key := jobs.MetaKey(env.Namespace, id)
	env.Client.AddHook(redistest.Observe(func(cmds ...redis.Cmder) {
		for _, c := range cmds {
			if strings.EqualFold(c.Name(), "hgetall") && len(c.Args()) > 1 && c.Args()[1] == key {
				n.Add(1)
			}
		}
	}))
	return &n
}

func TestLiveFiftyWatchersCostOneReadPerInterval(t *testing.T) {
	u, _ := serveUI(t, func(c *httpapi.Config) {
		c.Console.PollInterval = 50 * time.Millisecond
		c.Console.MaxStreamsPerToken = 50 // fifty people, here one token
	})
	id := u.create(operatorToken, map[string]any{"campaign_id": "watched", "team_id": "team-a", "asset_ids": ids(1, 10)})
	reads := metaReads(u.redis, id)
	c := u.signIn(viewerToken)
	var streams []*stream
	for range 50 {
		streams = append(streams, u.watch(c, id))
	}
	for _, s := range streams {
		ev := s.next(t)
		if ev.name != "progress" || ev.data["state"] != "running" || ev.data["total"] != float64(10) {
			t.Fatalf("first event: %+v", ev)
		}
		counts, _ := ev.data["counts"].(map[string]any)
		for _, k := range []string{"rate", "eta_seconds", "finished", "limiter", "snapshot"} {
			if _, ok := ev.data[k]; !ok {
				t.Errorf("event lacks %s: %v", k, ev.data)
			}
		}
		if counts["pending"] != float64(10) {
			t.Fatalf("counts %v", counts)
		}
	}
	// From here on every read is a poll (the streams' own checks at
	// connect are done), and each poll feeds all fifty streams: the reads
	// follow the events of one stream, not fifty times as many. (A slow
	// stream may skip an event, hence the slack.)
	before, seen := reads.Load(), streams[0].received.Load()
	for streams[0].received.Load() < seen+10 {
		streams[0].next(t)
	}
	polls, events := reads.Load()-before, streams[0].received.Load()-seen
	if polls > 2*events+3 {
		t.Fatalf("%d reads of the campaign while one of 50 streams got %d events: want one read per interval, not one per stream", polls, events)
	}
	// The counts move and every stream sees them.
	u.record(id, jobs.OutcomeReset, 1, 2, 3)
	for _, s := range streams {
		for {
			if ev := s.next(t); ev.data["finished"] == float64(3) {
				break
			}
		}
	}
	for _, s := range streams {
		s.body.Close()
	}
}

func TestLiveStreamEndsAfterTheFinalState(t *testing.T) {
	u, _ := serveUI(t, func(c *httpapi.Config) { c.Console.PollInterval = 50 * time.Millisecond })
	id := u.create(operatorToken, map[string]any{"campaign_id": "ends", "team_id": "team-a", "asset_ids": ids(1, 2)})
	s := u.watch(u.signIn(viewerToken), id)
	if ev := s.next(t); ev.data["state"] != "running" {
		t.Fatalf("first event %v", ev.data)
	}
	u.record(id, jobs.OutcomeReset, 1, 2)
	for {
		ev := s.next(t)
		if ev.data["state"] == "done" {
			break
		}
	}
	s.ended(t)
	// A stream of a final campaign gets its state once and ends.
	s = u.watch(u.signIn(viewerToken), id)
	if ev := s.next(t); ev.data["state"] != "done" {
		t.Fatalf("stream of a done campaign: %v", ev.data)
	}
	s.ended(t)
}

func TestLiveStreamsAreCappedAndEndAtShutdown(t *testing.T) {
	u, stop := serveUI(t, func(c *httpapi.Config) {
		c.Console.PollInterval = 50 * time.Millisecond
		c.Console.MaxStreams = 3
	})
	id := u.create(operatorToken, map[string]any{"campaign_id": "capped", "team_id": "team-a", "asset_ids": ids(1, 2)})
	other := u.create(operatorToken, map[string]any{"campaign_id": "other", "team_id": "team-a", "asset_ids": ids(1, 2)})
	c := u.signIn(viewerToken)
	streams := []*stream{u.watch(c, id), u.watch(c, id), u.watch(c, other)}
	for _, s := range streams {
		s.next(t)
	}
	if res := u.get(c, "/ui/campaigns/"+id+"/live"); res.status != http.StatusServiceUnavailable {
		t.Fatalf("a fourth stream of three allowed: %d", res.status)
	}
	if err := stop(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	for _, s := range streams {
		s.ended(t)
		s.body.Close()
	}
	// Serve returned after Console.Run, which waits for the pollers; the
	// stream handlers ended before Shutdown let Serve return.
	if g := consoleGoroutines(); g != "" {
		t.Fatalf("console goroutines left after Serve returned:\n%s", g)
	}
}

// consoleGoroutines returns the stacks of the goroutines running the
// console's live parts (hub pollers, stream handlers), "" when none.
func consoleGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "jobs/console.(*hub)") || strings.Contains(g, "jobs/console.(*Console).live") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

func TestCampaignPageShowsTheLimiter(t *testing.T) {
	until := time.Date(2026, 5, 1, 12, 0, 30, 0, time.UTC)
	var asked atomic.Value
	u := newUI(t, func(c *httpapi.Config) {
		c.Console.Limiter = func(_ context.Context, cp *jobs.Campaign) (*console.LimiterState, error) {
			asked.Store(cp.ID)
			if cp.ID == "broken" {
				return nil, errors.New("redis: connection refused")
			}
			return &console.LimiterState{Rate: 50, EffectiveRate: 42.5, PausedUntil: until}, nil
		}
	})
	id := u.create(operatorToken, map[string]any{"campaign_id": "limited", "team_id": "team-a", "asset_ids": ids(1, 2)})
	c := u.signIn(viewerToken)
	b := u.get(c, "/ui/campaigns/"+id).body
	for _, want := range []string{"43/s", "of 50/s", "paused until 2026-05-01 12:00:30 UTC"} {
		if !strings.Contains(b, want) {
			t.Errorf("#limiter lacks %q", want)
		}
	}
	if asked.Load() != id {
		t.Errorf("Limiter asked for %v", asked.Load())
	}
	broken := u.create(operatorToken, map[string]any{"campaign_id": "broken", "team_id": "team-a", "asset_ids": ids(1, 2)})
	res := u.get(c, "/ui/campaigns/"+broken)
	if res.status != http.StatusOK || !strings.Contains(res.body, "not known") || strings.Contains(res.body, "connection refused") {
		t.Errorf("page with a failing limiter: %d", res.status)
	}
}

// TestLiveStreamsPerTokenAreCapped: one token (one person's tabs, or a
// script with a session) cannot take every live stream from the others.
func TestLiveStreamsPerTokenAreCapped(t *testing.T) {
	u, stop := serveUI(t, func(c *httpapi.Config) {
		c.Console.PollInterval = 50 * time.Millisecond
		c.Console.MaxStreams = 10
		c.Console.MaxStreamsPerToken = 2
	})
	defer stop()
	id := u.create(operatorToken, map[string]any{"campaign_id": "shared", "team_id": "team-a", "asset_ids": ids(1, 2)})
	viewer := u.signIn(viewerToken)
	streams := []*stream{u.watch(viewer, id), u.watch(viewer, id)}
	for _, s := range streams {
		s.next(t)
	}
	if res := u.get(viewer, "/ui/campaigns/"+id+"/live"); res.status != http.StatusServiceUnavailable {
		t.Fatalf("a third stream of one token, over its 2: %d", res.status)
	}
	other := u.watch(u.signIn(operatorToken), id)
	other.next(t)
	streams[0].body.Close()
	other.body.Close()
	// A stream that ended frees its token's slot.
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, u.srv.URL+"/ui/campaigns/"+id+"/live", nil)
		res, err := viewer.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close() // a stream, if it opened: the status is all this asks
		if res.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token's slot was not freed: %d", res.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
