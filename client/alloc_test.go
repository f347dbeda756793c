package client

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// stubTransport answers every request with a canned 200 without I/O, so
// that allocations of the client's own code can be measured.
type stubTransport struct{}

var okBody = `{"message":"All labels removed successfully"}`

func (stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(okBody)), Request: r}, nil
}

// TestDeleteLabelsAllocs guards the hot path against allocation creep. The
// budget covers the request, URL, header map, timeout context and the
// stub's own response.
func TestDeleteLabelsAllocs(t *testing.T) {
	c := newTestClient(t, "https://api.example.com", func(c *Config) { c.Transport = stubTransport{} })
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		if res := c.DeleteLabels(ctx, 123456789); res.Outcome != OutcomeReset {
			t.Fatalf("got %v", res.Outcome)
		}
	})
	t.Logf("%.0f allocations per DeleteLabels (client side, stub transport)", allocs)
	if allocs > 14 {
		t.Errorf("got %.0f allocations per call, want ≤ 14 (4 of them are the stub's)", allocs)
	}
}

func BenchmarkDeleteLabelsStub(b *testing.B) {
	c, _ := New(Config{APIKey: testKey, Server: "https://api.example.com", Transport: stubTransport{}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.DeleteLabels(ctx, 123456789)
	}
}
