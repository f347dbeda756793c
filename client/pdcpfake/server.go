package pdcpfake

import (
	"net/http"
	"net/http/httptest"
	"sync"
)

// Server is a Fake behind a real loopback HTTP server.
type Server struct {
	ts    *httptest.Server
	fake  *Fake
	close sync.Once
}

// NewServer starts a Fake on 127.0.0.1 with a random port.
func NewServer(opts Options) *Server {
	f := New(opts)
	return &Server{ts: httptest.NewServer(f), fake: f}
}

// URL is the base URL, e.g. http://127.0.0.1:34567.
func (s *Server) URL() string { return s.ts.URL }

// Fake returns the served Fake.
func (s *Server) Fake() *Fake { return s.fake }

// Client returns an *http.Client for the server (for admin calls).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close shuts the server down, waiting for running requests, then closes
// the Fake (dropping bulk changes not yet applied). A second Close is
// harmless.
func (s *Server) Close() {
	s.close.Do(func() {
		s.ts.Close()
		s.fake.Close()
	})
}
