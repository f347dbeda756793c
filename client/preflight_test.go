package client

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestPreflightKinds: one read-only request tells apart what the operator
// must fix: the address, the certificate, the key, or nothing (PDCP busy).
func TestPreflightKinds(t *testing.T) {
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			io.WriteString(w, `{"message":"scripted","code":"SCRIPTED"}`)
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error // nil = Preflight succeeds
	}{
		{"listing", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"data":[]}`) }, nil},
		{"throttled", status(http.StatusTooManyRequests), nil},
		{"bad key", status(http.StatusUnauthorized), ErrUnauthorized},
		{"wrong team", status(http.StatusForbidden), ErrUnauthorized},
		{"server error", status(http.StatusInternalServerError), ErrServerError},
		{"not the API", status(http.StatusNotFound), ErrUnexpected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			err := newTestClient(t, srv.URL).Preflight(context.Background())
			observe(t, err)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var pe *PreflightError
			if !errors.Is(err, tc.want) || !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *PreflightError wrapping %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error %q does not name the server %s", err, srv.URL)
			}
		})
	}
}

// TestPreflightUnreachable: a closed port is named with host:port and the
// network error, not reported as an outcome to retry.
func TestPreflightUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	err = newTestClient(t, "http://"+addr).Preflight(context.Background())
	observe(t, err)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	if msg := err.Error(); !strings.Contains(msg, addr) || !strings.Contains(msg, "connection refused") {
		t.Errorf("error %q, want the address %s and the cause (connection refused)", msg, addr)
	}
}

// TestPreflightTLS: a certificate the client does not trust is a TLS
// error, not an unreachable server.
func TestPreflightTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the expected handshake failure
	srv.StartTLS()
	defer srv.Close()
	err := newTestClient(t, srv.URL).Preflight(context.Background())
	observe(t, err)
	if !errors.Is(err, ErrTLS) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrTLS only", err)
	}
}

// TestPreflightChangesNothing: against the fake PDCP, the preflight is one
// listing call and no label call.
func TestPreflightChangesNothing(t *testing.T) {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 10})
	defer srv.Close()
	if err := newTestClient(t, srv.URL()).Preflight(context.Background()); err != nil {
		t.Fatalf("preflight against the fake: %v", err)
	}
	st := srv.Fake().Stats()
	if st.Requests != 1 || st.LabelCalls != 0 {
		t.Errorf("got %d requests, %d label calls; want 1 request, no label call", st.Requests, st.LabelCalls)
	}
}
