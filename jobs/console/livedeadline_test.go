package console

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// stalledClient is a connection whose reader stopped reading: a write
// blocks until the write deadline, then the connection is broken (every
// later write and flush fails), as net/http's is. Without a deadline a
// write blocks for good.
type stalledClient struct {
	header   http.Header
	mu       sync.Mutex
	deadline time.Time
	broken   bool
	release  chan struct{}
}

func (s *stalledClient) Header() http.Header { return s.header }
func (s *stalledClient) WriteHeader(int)     {}

func (s *stalledClient) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadline = t
	return nil
}

func (s *stalledClient) Write(b []byte) (int, error) {
	s.mu.Lock()
	d, broken := s.deadline, s.broken
	s.mu.Unlock()
	if broken {
		return 0, os.ErrDeadlineExceeded
	}
	var after <-chan time.Time
	if !d.IsZero() {
		after = time.After(time.Until(d))
	}
	select {
	case <-after:
	case <-s.release:
	}
	s.mu.Lock()
	s.broken = true
	s.mu.Unlock()
	return 0, os.ErrDeadlineExceeded
}

func (s *stalledClient) FlushError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return os.ErrDeadlineExceeded
	}
	return nil
}

type noBackend struct{ id *Identity }

func (b noBackend) Login(string) (*Identity, bool)                        { return nil, false }
func (b noBackend) Lookup(string) (*Identity, bool)                       { return b.id, true }
func (b noBackend) ServeAs(*Identity, http.ResponseWriter, *http.Request) {}

// A stream whose reader stalled ends once a write has waited its write
// deadline: it never holds its slot of Config.MaxStreams (and its
// goroutine) for as long as the campaign runs.
func TestLiveStreamOfAStalledClientEnds(t *testing.T) {
	env := redistest.New(t)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	def := &jobs.Campaign{ID: "stalled", Name: "stalled", Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: 100, Policy: jobs.DefaultPolicy()}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Submit(context.Background(), def, plan, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	id := &Identity{Name: "all", Teams: []string{AllTeams}}
	c, err := New(Config{Store: store, Backend: noBackend{id}, NoAuth: true, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { c.Run(ctx); close(ran) }()
	w := &stalledClient{header: http.Header{}, release: make(chan struct{})}
	t.Cleanup(func() { close(w.release); cancel(); <-ran })
	r := httptest.NewRequest(http.MethodGet, "/ui/campaigns/stalled/live", nil)
	r.SetPathValue("id", "stalled")
	done := make(chan struct{})
	go func() { c.live(w, r, id); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream of a client that reads nothing still runs after 20s")
	}
	if !errors.Is(w.FlushError(), os.ErrDeadlineExceeded) {
		t.Fatal("the stream ended without its write deadline passing")
	}
}
