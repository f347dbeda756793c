package worker_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
	"github.com/labelreset/labelreset/worker"
)

// BenchmarkProcessBatch runs b.N assets (at least 2,000) as one campaign
// through a worker with 64 call slots against an in-process fake over
// loopback HTTP, from submit to done. Fake, worker and Redis share the
// CPUs; compare assets/s with BenchmarkClientDelete in package client. On
// the embedded Redis (no REDIS_ADDR) the figure measures miniredis.
func BenchmarkProcessBatch(b *testing.B) {
	n := max(b.N, 2000)
	fake := pdcpfake.NewServer(pdcpfake.Options{Assets: n, NoLog: true})
	defer fake.Close()
	c, err := client.New(client.Config{APIKey: "test-key", Server: fake.URL(), MaxConns: 64})
	if err != nil {
		b.Fatal(err)
	}
	benchCampaign(b, n, c)
}

// BenchmarkWorkerOverhead is BenchmarkProcessBatch with an API that
// answers at once without I/O: what remains is the job runner's own cost
// per asset (asynq, ledger writes, slots, metrics), in the worker and in
// Redis. Its ns/op and allocs/op are per asset.
func BenchmarkWorkerOverhead(b *testing.B) {
	benchCampaign(b, max(b.N, 2000), instantAPI{})
}

// instantAPI resets every asset at once.
type instantAPI struct{}

func (instantAPI) DeleteLabels(context.Context, int64) client.Result {
	return client.Result{Outcome: client.OutcomeReset, Status: 200}
}

func (instantAPI) RemoveLabels(context.Context, int64, []string) client.Result {
	return client.Result{Outcome: client.OutcomeReset, Status: 200}
}

func (instantAPI) AddLabels(context.Context, int64, []string) client.Result {
	return client.Result{Outcome: client.OutcomeReset, Status: 200}
}

func (instantAPI) ReplaceLabels(context.Context, int64, []string) client.Result {
	return client.Result{Outcome: client.OutcomeReset, Status: 200}
}

// ListPage answers an empty inventory.
func (instantAPI) ListPage(context.Context, client.AssetFilter, int, int) ([]client.Asset, error) {
	return nil, nil
}
func (instantAPI) BulkUpdateLabels(context.Context, client.BulkFilter, client.UpdateType, []string) client.BulkResult {
	return client.BulkResult{Result: client.Result{Outcome: client.OutcomePermanent}}
}

// benchCampaign submits an n-asset campaign and times it until done.
func benchCampaign(b *testing.B, n int, c worker.Caller) {
	env := redistest.New(b)
	ropts, err := jobs.ParseRedisURL(env.URL)
	if err != nil {
		b.Fatal(err)
	}
	w, err := worker.New(worker.Config{
		Redis: ropts, Namespace: env.Namespace, Concurrency: 64,
		API:    func(string) worker.Caller { return c },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	vals := make([]string, n)
	for i := range vals {
		vals[i] = strconv.Itoa(i + 1)
	}
	def := &jobs.Campaign{ID: "bench", Name: "bench", Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: jobs.DefaultBatchSize, Policy: jobs.DefaultPolicy()}
	plan, err := jobs.ReadPlan(def, jobs.IDList("bench", vals))
	if err != nil {
		b.Fatal(err)
	}
	for w.Ready() != nil {
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, rcpu0 := selfCPU(), redisCPU(ctx, env.Client)
	start := time.Now()
	if _, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{Approved: true}); err != nil {
		b.Fatal(err)
	}
	for {
		c, err := store.Get(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if c.State == jobs.StateDone {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/el.Seconds(), "assets/s")
	// CPU per asset says more than wall time on a shared 2-core host.
	b.ReportMetric((selfCPU()-cpu0).Seconds()*1e6/float64(n), "cpu-µs/asset")
	if rcpu0 >= 0 {
		if rcpu1 := redisCPU(ctx, env.Client); rcpu1 >= 0 {
			b.ReportMetric((rcpu1-rcpu0)*1e6/float64(n), "redis-cpu-µs/asset")
		}
	}
	if n != b.N {
		// b.N below the 2,000-asset floor: per-op figures would mislead.
		b.ReportMetric(0, "ns/op")
	}
}

// selfCPU is this process's user and system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the Redis server's CPU seconds, or -1 where INFO has none
// (the embedded Redis runs in this process).
func redisCPU(ctx context.Context, rdb redis.UniversalClient) float64 {
	info := rdb.InfoMap(ctx, "cpu")
	user, err1 := strconv.ParseFloat(info.Item("CPU", "used_cpu_user"), 64)
	sys, err2 := strconv.ParseFloat(info.Item("CPU", "used_cpu_sys"), 64)
	if info.Err() != nil || err1 != nil || err2 != nil {
		return -1
	}
	return user + sys
}
