package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkWait measures Wait under parallel load on one process, against
// REDIS_ADDR when set and miniredis otherwise, and reports the Redis
// commands sent per grant.
func BenchmarkWait(b *testing.B) {
	for _, rate := range []float64{0, 1e6} {
		b.Run(fmt.Sprintf("rate=%g", rate), func(b *testing.B) {
			tr := setup(b)
			l, h := tr.limiter(b, Config{Rate: rate})
			// A broken script would block Wait forever (fail-safe): bound it.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			before := h.cmds.Load()
			// Many workers per process, as in production: chunking only
			// pays when several callers wait at once.
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Wait(ctx, ""); err != nil {
						b.Errorf("Wait: %v", err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(h.cmds.Load()-before)/float64(b.N), "redis-cmds/op")
		})
	}
}
