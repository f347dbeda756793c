package client

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labelreset/labelreset/client/pdcpfake"
)

func TestDeleteLabelsOutcomes(t *testing.T) {
	httpDate := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	long := strings.Repeat("é", 600)
	tests := []struct {
		name       string
		script     []pdcpfake.Reply // replies for asset 1
		id         int64
		key        string
		want       Outcome
		status     int
		code       string // APIError.Code, "" = no APIError expected
		retryAfter time.Duration
		raSlack    time.Duration
		wantErr    bool
	}{
		{name: "200 reset", id: 1, want: OutcomeReset, status: 200},
		{name: "404 unknown asset", id: 999, want: OutcomeNotFound, status: 404, code: "NOT_FOUND"},
		{name: "400 invalid", script: []pdcpfake.Reply{{Status: 400}}, want: OutcomeInvalid, status: 400, code: "INVALID_ID"},
		{name: "401 wrong key", id: 1, key: "wrong", want: OutcomeUnauthorized, status: 401, code: "UNAUTHORIZED"},
		{name: "403 forbidden", script: []pdcpfake.Reply{{Status: 403, Body: `{"message":"team not allowed","code":"FORBIDDEN"}`}}, want: OutcomeUnauthorized, status: 403, code: "FORBIDDEN"},
		{name: "429 delta seconds", script: []pdcpfake.Reply{{Status: 429, Header: map[string]string{"Retry-After": "7"}}}, want: OutcomeThrottled, status: 429, code: "RATE_LIMITED", retryAfter: 7 * time.Second},
		{name: "429 http date", script: []pdcpfake.Reply{{Status: 429, Header: map[string]string{"Retry-After": httpDate}}}, want: OutcomeThrottled, status: 429, code: "RATE_LIMITED", retryAfter: 2 * time.Minute, raSlack: 3 * time.Second},
		{name: "429 no retry-after", script: []pdcpfake.Reply{{Status: 429}}, want: OutcomeThrottled, status: 429, code: "RATE_LIMITED"},
		{name: "429 absurd retry-after capped", script: []pdcpfake.Reply{{Status: 429, Header: map[string]string{"Retry-After": "99999999999"}}}, want: OutcomeThrottled, status: 429, code: "RATE_LIMITED", retryAfter: MaxRetryAfter},
		{name: "503 with retry-after", script: []pdcpfake.Reply{{Status: 503, Header: map[string]string{"Retry-After": "3"}}}, want: OutcomeThrottled, status: 503, code: "SERVICE_UNAVAILABLE", retryAfter: 3 * time.Second},
		{name: "503 without retry-after", script: []pdcpfake.Reply{{Status: 503}}, want: OutcomeRetryable, status: 503, code: "SERVICE_UNAVAILABLE"},
		{name: "503 bad retry-after", script: []pdcpfake.Reply{{Status: 503, Header: map[string]string{"Retry-After": "soon"}}}, want: OutcomeRetryable, status: 503, code: "SERVICE_UNAVAILABLE"},
		{name: "500", script: []pdcpfake.Reply{{Status: 500, Body: `{"message":"boom","code":"INTERNAL","error_id":"e-1"}`}}, want: OutcomeRetryable, status: 500, code: "INTERNAL"},
		{name: "502", script: []pdcpfake.Reply{{Status: 502}}, want: OutcomeRetryable, status: 502, code: "BAD_GATEWAY"},
		{name: "501", script: []pdcpfake.Reply{{Status: 501}}, want: OutcomePermanent, status: 501, code: "NOT_IMPLEMENTED"},
		{name: "418", script: []pdcpfake.Reply{{Status: 418}}, want: OutcomePermanent, status: 418, code: "I'M_A_TEAPOT"},
		{name: "408 request timeout", script: []pdcpfake.Reply{{Status: 408}}, want: OutcomeRetryable, status: 408, code: "REQUEST_TIMEOUT"},
		{name: "409 other 4xx", script: []pdcpfake.Reply{{Status: 409}}, want: OutcomePermanent, status: 409, code: "CONFLICT"},
		{name: "302 same host", script: []pdcpfake.Reply{{Status: 302, Body: " ", Header: map[string]string{"Location": "/elsewhere"}}}, want: OutcomePermanent, status: 302},
		{name: "connection reset", script: []pdcpfake.Reply{{Reset: true}}, want: OutcomeRetryable, wantErr: true},
		{name: "truncated 500 body", script: []pdcpfake.Reply{{Status: 500, Truncate: true}}, want: OutcomeRetryable, status: 500, wantErr: true},
		{name: "truncated 501 body", script: []pdcpfake.Reply{{Status: 501, Truncate: true}}, want: OutcomeRetryable, status: 501, wantErr: true},
		{name: "truncated 200 body", script: []pdcpfake.Reply{{Status: 200, Truncate: true}}, want: OutcomeReset, status: 200},
		{name: "truncated 404 body", script: []pdcpfake.Reply{{Status: 404, Truncate: true}}, want: OutcomeNotFound, status: 404, wantErr: true},
		{name: "unparsable 502 body", script: []pdcpfake.Reply{{Status: 502, Body: "<html>Bad Gateway</html>"}}, want: OutcomeRetryable, status: 502, wantErr: true},
		{name: "unparsable 501 body", script: []pdcpfake.Reply{{Status: 501, Body: "<html>nope</html>"}}, want: OutcomePermanent, status: 501, wantErr: true},
		{name: "empty 500 body", script: []pdcpfake.Reply{{Status: 500, Body: " "}}, want: OutcomeRetryable, status: 500},
		{name: "oversized fields clipped", script: []pdcpfake.Reply{{Status: 400, Body: `{"message":"` + long + `","code":"X"}`}}, want: OutcomeInvalid, status: 400, code: "X"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.id
			if id == 0 {
				id = 1
			}
			srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 3, Script: map[int64][]pdcpfake.Reply{1: tc.script}})
			defer srv.Close()
			c := newTestClient(t, srv.URL(), func(c *Config) {
				if tc.key != "" {
					c.APIKey = tc.key
				}
			})
			res := c.DeleteLabels(context.Background(), id)
			observe(t, res)
			if res.Outcome != tc.want || res.Status != tc.status {
				t.Fatalf("got %v/%d (%s), want %v/%d", res.Outcome, res.Status, res.Error(), tc.want, tc.status)
			}
			switch {
			case tc.code == "" && res.API != nil:
				t.Errorf("got APIError %+v, want none", *res.API)
			case tc.code != "" && (res.API == nil || res.API.Code != tc.code):
				t.Errorf("got APIError %+v, want code %q", res.API, tc.code)
			}
			if res.API != nil && (len(res.API.Message) > maxFieldBytes || !strings.HasPrefix(long, res.API.Message) && tc.name == "oversized fields clipped") {
				t.Errorf("message not clipped to a %d-byte UTF-8 prefix: %d bytes", maxFieldBytes, len(res.API.Message))
			}
			if d := res.RetryAfter - tc.retryAfter; d < -tc.raSlack || d > tc.raSlack {
				t.Errorf("got RetryAfter %v, want %v±%v", res.RetryAfter, tc.retryAfter, tc.raSlack)
			}
			if (res.Err != nil) != tc.wantErr {
				t.Errorf("got Err %v, want error: %v", res.Err, tc.wantErr)
			}
			if tc.want != OutcomeReset && res.Error() == "" {
				t.Errorf("Error() is empty for %v", res.Outcome)
			}
			if res.Duration <= 0 {
				t.Errorf("got Duration %v, want > 0", res.Duration)
			}
		})
	}
}

func TestRedirectToOtherHostNotFollowed(t *testing.T) {
	var hits, keyed atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("X-Api-Key") != "" {
			keyed.Add(1)
		}
	}))
	defer other.Close()
	for _, status := range []int{301, 302, 307, 308} {
		srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 1, Script: map[int64][]pdcpfake.Reply{
			1: {{Status: status, Body: " ", Header: map[string]string{"Location": other.URL + "/v1/asset/1/labels"}}},
		}})
		c := newTestClient(t, srv.URL())
		res := c.DeleteLabels(context.Background(), 1)
		observe(t, res)
		srv.Close()
		if res.Outcome != OutcomePermanent || res.Status != status {
			t.Errorf("%d: got %v/%d, want permanent/%d", status, res.Outcome, res.Status, status)
		}
	}
	if hits.Load() != 0 || keyed.Load() != 0 {
		t.Errorf("redirect target got %d requests (%d with the API key), want 0", hits.Load(), keyed.Load())
	}
}

// countingTransport counts the response body bytes the client reads.
type countingTransport struct {
	base http.RoundTripper
	read atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func TestHugeBodyNotReadIntoMemory(t *testing.T) {
	const size = 10 << 20
	for _, status := range []int{500, 200} {
		var written atomic.Int64
		done := make(chan struct{})
		big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(done)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "10485760")
			w.WriteHeader(status)
			chunk := []byte(strings.Repeat("x", 32<<10))
			for written.Load() < size {
				n, err := w.Write(chunk)
				written.Add(int64(n))
				if err != nil {
					return
				}
			}
		}))
		ct := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
		c := newTestClient(t, big.URL, func(c *Config) { c.Transport = ct })
		res := c.DeleteLabels(context.Background(), 1)
		observe(t, res)
		<-done
		big.Close()
		if got := ct.read.Load(); got > maxBody+1 {
			t.Errorf("%d: client read %d body bytes, want at most %d", status, got, maxBody+1)
		}
		t.Logf("%d: client read %d bytes, server managed to write %d of %d", status, ct.read.Load(), written.Load(), size)
		wantOutcome := map[int]Outcome{500: OutcomeRetryable, 200: OutcomeReset}[status]
		if res.Outcome != wantOutcome {
			t.Errorf("%d: got %v, want %v", status, res.Outcome, wantOutcome)
		}
	}
}

func TestPerRequestTimeout(t *testing.T) {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 1, Script: map[int64][]pdcpfake.Reply{1: {{Delay: 5 * time.Second}}}})
	defer srv.Close()
	c := newTestClient(t, srv.URL(), func(c *Config) { c.Timeout = 100 * time.Millisecond })
	start := time.Now()
	res := c.DeleteLabels(context.Background(), 1)
	observe(t, res)
	if res.Outcome != OutcomeRetryable || res.Status != 0 || res.Err == nil {
		t.Fatalf("got %v/%d err %v, want retryable/0 with an error", res.Outcome, res.Status, res.Err)
	}
	if !errors.Is(res.Err, context.DeadlineExceeded) || !strings.Contains(res.Err.Error(), "timed out") {
		t.Errorf("got Err %v, want a timeout wrapping context.DeadlineExceeded", res.Err)
	}
	if e := res.Error(); e != "timed out after 100ms" {
		t.Errorf("Error() = %q, want %q", e, "timed out after 100ms")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("call took %v despite a 100ms timeout", el)
	}
}

func TestCancelledContext(t *testing.T) {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 2, Script: map[int64][]pdcpfake.Reply{2: {{Delay: 5 * time.Second}}}})
	defer srv.Close()
	c := newTestClient(t, srv.URL())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := c.DeleteLabels(ctx, 1)
	observe(t, res)
	if res.Outcome != OutcomeRetryable || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("before the call: got %v err %v, want retryable wrapping context.Canceled", res.Outcome, res.Err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	res = c.DeleteLabels(ctx, 2)
	observe(t, res)
	if res.Outcome != OutcomeRetryable || res.Status != 0 || !errors.Is(res.Err, context.Canceled) {
		t.Errorf("during the call: got %v/%d err %v, want retryable/0 wrapping context.Canceled", res.Outcome, res.Status, res.Err)
	}
}

func TestNewRefusesInsecureHTTP(t *testing.T) {
	tests := []struct {
		server   string
		insecure bool
		ok       bool
	}{
		{"https://api.projectdiscovery.io", false, true},
		{"", false, true},
		{"http://api.example.com", false, false},
		{"http://10.0.0.1:8085", false, false},
		{"http://api.example.com", true, true},
		{"http://127.0.0.1:8085", false, true},
		{"http://127.3.4.5", false, true},
		{"http://[::1]:8085", false, true},
		{"http://localhost:8085/", false, true},
		{"http://LOCALHOST", false, true},
		{"http://localhost.evil.com", false, false},
		{"ftp://api.example.com", false, false},
		{"https://user:pw@api.example.com", false, false},
		{"https://", false, false},
		{"https://api.example.com/?x=1", false, false},
	}
	for _, tc := range tests {
		_, err := New(Config{APIKey: testKey, Server: tc.server, AllowInsecureHTTP: tc.insecure})
		if (err == nil) != tc.ok {
			t.Errorf("New(%q, insecure=%v): got err %v, want ok=%v", tc.server, tc.insecure, err, tc.ok)
		}
		if err != nil {
			observe(t, err)
			if !errors.Is(err, ErrConfig) {
				t.Errorf("New(%q): got %v, want an ErrConfig", tc.server, err)
			}
		}
	}
}

func TestOwnTransportVerifiesTLS(t *testing.T) {
	c := newTestClient(t, "https://api.example.com", func(c *Config) { c.MaxConns = 7 })
	tr := c.ownTransport
	if tr == nil || tr.TLSClientConfig == nil || tr.TLSClientConfig.InsecureSkipVerify {
		t.Fatalf("transport must verify TLS: %+v", tr)
	}
	if tr.MaxConnsPerHost != 7 || tr.MaxIdleConnsPerHost != 7 {
		t.Errorf("got MaxConnsPerHost %d MaxIdleConnsPerHost %d, want 7/7", tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost)
	}
	// A self-signed server must be rejected.
	tls := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tls.Config.ErrorLog = log.New(io.Discard, "", 0) // the expected handshake failure
	tls.StartTLS()
	defer tls.Close()
	res := newTestClient(t, tls.URL).DeleteLabels(context.Background(), 1)
	observe(t, res)
	if res.Outcome != OutcomeRetryable || res.Status != 0 || !strings.Contains(res.Error(), "certificate") {
		t.Errorf("got %v/%d %q, want a certificate error", res.Outcome, res.Status, res.Error())
	}
	// A report keeps a bounded Error: it must lead with the cause, not
	// with the method and URL.
	if e := res.Error(); strings.Contains(e, "://") || !strings.HasPrefix(e, "tls: ") && !strings.HasPrefix(e, "x509: ") {
		t.Errorf("Error() = %q, want the TLS cause first and no URL", e)
	}
}

func TestRequestHeaders(t *testing.T) {
	type seen struct{ method, path, query, key, ua, accept, team, ctype, body string }
	got := make(chan seen, 10)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Api-Key"), r.Header.Get("User-Agent"),
			r.Header.Get("Accept"), strings.Join(r.Header.Values("X-Team-Id"), ","), r.Header.Get("Content-Type"), string(b)}
		w.Write([]byte(`{"message":"ok"}`))
	}))
	defer ts.Close()
	c := newTestClient(t, ts.URL+"/prefix/")
	ctx := context.Background()

	observe(t, c.DeleteLabels(ctx, 42))
	want := seen{"DELETE", "/prefix/v1/asset/42/labels", "", testKey, "labelreset/" + Version, "application/json", "", "", ""}
	if diff := cmp.Diff(want, <-got, cmp.AllowUnexported(seen{})); diff != "" {
		t.Errorf("DeleteLabels request (-want +got):\n%s", diff)
	}

	team := c.WithTeam("team-7")
	if team.rt != c.rt {
		t.Error("WithTeam copy does not share the HTTP client")
	}
	observe(t, team.RemoveLabels(ctx, 9223372036854775807, []string{"env:prod", "x,y"}))
	want = seen{"PATCH", "/prefix/v1/asset/9223372036854775807/labels", "update_type=delete", testKey, "labelreset/" + Version,
		"application/json", "team-7", "application/json", `{"labels":["env:prod","x,y"]}`}
	if diff := cmp.Diff(want, <-got, cmp.AllowUnexported(seen{})); diff != "" {
		t.Errorf("RemoveLabels request (-want +got):\n%s", diff)
	}

	observe(t, team.WithTeam("").RemoveLabels(ctx, 1, nil))
	want = seen{"PATCH", "/prefix/v1/asset/1/labels", "update_type=delete", testKey, "labelreset/" + Version,
		"application/json", "", "application/json", `{"labels":[]}`}
	if diff := cmp.Diff(want, <-got, cmp.AllowUnexported(seen{})); diff != "" {
		t.Errorf("RemoveLabels without team (-want +got):\n%s", diff)
	}
}

func TestLabelStateChanges(t *testing.T) {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 2})
	defer srv.Close()
	f := srv.Fake()
	c := newTestClient(t, srv.URL())
	ctx := context.Background()
	before, _ := f.Labels(1)
	if len(before) != 3 {
		t.Fatalf("seeded labels %v, want 3", before)
	}
	res := c.RemoveLabels(ctx, 1, before[:1])
	observe(t, res)
	if res.Outcome != OutcomeReset {
		t.Fatalf("RemoveLabels: got %v (%s)", res.Outcome, res.Error())
	}
	after, _ := f.Labels(1)
	if diff := cmp.Diff(before[1:], after); diff != "" {
		t.Errorf("labels after RemoveLabels (-want +got):\n%s", diff)
	}
	observe(t, c.WithTeam("t1").DeleteLabels(ctx, 1))
	if after, _ := f.Labels(1); len(after) != 0 {
		t.Errorf("labels after DeleteLabels: %v, want none", after)
	}
	calls := f.Calls(1)
	if len(calls) != 2 || calls[0].Method != "PATCH" || calls[1].Method != "DELETE" || calls[1].Team != "t1" || calls[0].Team != "" {
		t.Errorf("fake saw calls %+v, want PATCH (no team) then DELETE (team t1)", calls)
	}
}
