package notify

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// BenchmarkIdlePass is the cost of one poll over 10,000 campaigns with
// empty outboxes: what every dispatcher pays each PollInterval.
func BenchmarkIdlePass(b *testing.B) {
	env := redistest.New(b)
	ctx := context.Background()
	const n = 10000
	zs := make([]redis.Z, n)
	for i := range zs {
		zs[i] = redis.Z{Score: float64(i), Member: "c" + strconv.Itoa(i)}
	}
	if err := env.Client.ZAdd(ctx, jobs.IndexKey(env.Namespace), zs...).Err(); err != nil {
		b.Fatal(err)
	}
	d, err := New(env.Client, Options{Namespace: env.Namespace,
		Config: &Config{Notifiers: []Notifier{{Name: "ops", URL: "https://hooks.example.com", Secret: "s"}}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := d.pass(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "campaigns/pass")
}
