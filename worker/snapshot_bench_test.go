package worker_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
	"github.com/labelreset/labelreset/worker"
)

// BenchmarkSnapshot lists a 200,000-asset inventory (the benchmark label
// distribution, pages of 1,000) for a campaign holding every other asset,
// once per op, checkpointing after every page or once a second. It is what
// Config.SnapshotCheckpointEvery's default rests on: pages/s, and Redis CPU
// per page, which the checkpoint's script dominates. The campaigns wait
// for approval, so no reset runs meanwhile (a pending campaign snapshots).
func BenchmarkSnapshot(b *testing.B) {
	for _, bc := range []struct {
		name  string
		every time.Duration
	}{{"checkpoint=page", time.Nanosecond}, {"checkpoint=1s", time.Second}} {
		b.Run(bc.name, func(b *testing.B) { benchSnapshot(b, bc.every) })
	}
}

func benchSnapshot(b *testing.B, every time.Duration) {
	const inventory = 200000
	fake := pdcpfake.NewServer(pdcpfake.Options{Assets: inventory, Labels: pdcpfake.LabelsBench, NoLog: true})
	defer fake.Close()
	c, err := client.New(client.Config{APIKey: "test-key", Server: fake.URL(), MaxConns: 8})
	if err != nil {
		b.Fatal(err)
	}
	env := redistest.New(b)
	ropts, err := jobs.ParseRedisURL(env.URL)
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w, err := worker.New(worker.Config{
		Redis: ropts, Namespace: env.Namespace, Concurrency: 8, Registerer: reg,
		API:                     func(team string) worker.Caller { return c.WithTeam(team) },
		SnapshotCheckpointEvery: every,
		Logger:                  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for w.Ready() != nil {
		time.Sleep(10 * time.Millisecond)
	}
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	vals := make([]string, 0, inventory/2)
	for id := 1; id <= inventory; id += 2 {
		vals = append(vals, strconv.Itoa(id))
	}
	b.ResetTimer()
	rcpu0 := redisCPU(ctx, env.Client)
	start := time.Now()
	for i := range b.N {
		def := &jobs.Campaign{ID: "bench" + strconv.Itoa(i), Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
			BatchSize: jobs.DefaultBatchSize, Policy: jobs.DefaultPolicy(), Snapshot: true}
		plan, err := jobs.ReadPlan(def, jobs.IDList("bench", vals))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{ConfirmAbove: 1}); err != nil {
			b.Fatal(err)
		}
		for counterValue(b, reg, "labelreset_snapshot_segments_completed_total") < float64(i+1) {
			time.Sleep(time.Millisecond)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	pages := counterValue(b, reg, "labelreset_snapshot_pages_total")
	b.ReportMetric(pages/el.Seconds(), "pages/s")
	b.ReportMetric(counterValue(b, reg, "labelreset_snapshot_assets_listed_total")/el.Seconds(), "listed/s")
	b.ReportMetric(counterValue(b, reg, "labelreset_snapshot_checkpoints_total")/float64(b.N), "checkpoints/op")
	if rcpu0 >= 0 {
		if rcpu1 := redisCPU(ctx, env.Client); rcpu1 >= 0 {
			b.ReportMetric((rcpu1-rcpu0)*1e6/pages, "redis-cpu-µs/page")
		}
	}
}

// counterValue is the value of a counter without labels in reg.
func counterValue(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
