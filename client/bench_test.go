package client

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// BenchmarkClientDelete measures DeleteLabels throughput with ~64
// concurrent callers against an in-process fake over real loopback HTTP.
// Client and server share the CPUs, so the figure is a lower bound.
func BenchmarkClientDelete(b *testing.B) {
	const assets, conc = 100_000, 64
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: assets, NoLog: true})
	defer srv.Close()
	c, err := New(Config{APIKey: testKey, Server: srv.URL(), MaxConns: conc})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism((conc + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := next.Add(1)%assets + 1
			if res := c.DeleteLabels(ctx, id); res.Outcome != OutcomeReset {
				b.Errorf("asset %d: %v (%s)", id, res.Outcome, res.Error())
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkClassify covers the pure classification path.
func BenchmarkClassify(b *testing.B) {
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		classify(200+i%400, nil, now)
	}
}

// BenchmarkRawHTTPDelete is the baseline for BenchmarkClientDelete: the
// same fake and concurrency with bare net/http requests, so the difference
// is the client's own cost (and a loaded machine shows in both).
func BenchmarkRawHTTPDelete(b *testing.B) {
	const assets, conc = 100_000, 64
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: assets, NoLog: true})
	defer srv.Close()
	tr := newTransport(conc)
	defer tr.CloseIdleConnections()
	var next atomic.Int64
	b.SetParallelism((conc + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := next.Add(1)%assets + 1
			req, _ := http.NewRequest(http.MethodDelete, srv.URL()+"/v1/asset/"+strconv.FormatInt(id, 10)+"/labels", nil)
			req.Header.Set("X-Api-Key", testKey)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
