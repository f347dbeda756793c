package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labelreset/labelreset/client"
)

// ceiling measures the plain client loop: --concurrency goroutines calling
// DeleteLabels back to back over keep-alive connections. Nothing else runs,
// so this is what the machine can do for this work.
func (e *env) ceiling(ctx context.Context, r *results) error {
	c, err := client.New(client.Config{APIKey: benchKey, Server: e.url, MaxConns: e.cfg.concurrency, Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	// Warm up the connections so the timed loop measures steady state.
	if _, err := e.clientLoop(ctx, c, 300*time.Millisecond); err != nil {
		return err
	}
	cpu0, _ := procCPU(e.fake.cmd.Process.Pid)
	self0, _ := procCPU(os.Getpid())
	start := time.Now()
	n, err := e.clientLoop(ctx, c, e.cfg.ceilingFor)
	el := time.Since(start)
	if err != nil {
		return err
	}
	cpu1, _ := procCPU(e.fake.cmd.Process.Pid)
	self1, _ := procCPU(os.Getpid())
	rps := float64(n) / el.Seconds()
	if r.Ceiling == nil {
		r.Ceiling = &ceilingDetail{}
	}
	cd := r.Ceiling
	cd.Samples = append(cd.Samples, rps)
	cd.Requests += n
	cd.Seconds += el.Seconds()
	cd.clientCPU += self1 - self0
	cd.fakeCPU += cpu1 - cpu0
	cd.ClientCPUUsPerReq = cd.clientCPU * 1e6 / float64(cd.Requests)
	cd.FakeCPUUsPerReq = cd.fakeCPU * 1e6 / float64(cd.Requests)
	var sum float64
	for _, v := range cd.Samples {
		sum += v
	}
	r.CeilingRPS = sum / float64(len(cd.Samples))
	e.logf("ceiling: %d requests in %v = %.0f req/s", n, el.Round(time.Millisecond), rps)
	return nil
}

func (e *env) clientLoop(ctx context.Context, c *client.Client, d time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var next, done atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range e.cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				id := next.Add(1)%int64(e.cfg.assets) + 1
				res := c.DeleteLabels(context.Background(), id)
				if res.Outcome != client.OutcomeReset {
					firstErr.CompareAndSwap(nil, fmt.Errorf("asset %d: %v: %s", id, res.Outcome, res.Error()))
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return done.Load(), nil
}
