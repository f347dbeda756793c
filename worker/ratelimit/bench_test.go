package ratelimit

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkWait measures Wait under parallel load on one process, against
// REDIS_ADDR when set and miniredis otherwise, and reports the Redis
// commands sent per grant.
func BenchmarkWait(b *testing.B) {
	for _, rate := range []float64{0, 1e6} {
		b.Run(fmt.Sprintf("rate=%g", rate), func(b *testing.B) {
			tr := setup(b)
			l, h := tr.limiter(b, Config{Rate: rate})
			ctx := context.Background()
			before := h.cmds.Load()
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
