package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labelreset/labelreset/client"
)

// ceilingSample is one measurement of the plain client loop.
type ceilingSample struct {
	RPS       float64 `json:"rps"`
	Requests  int64   `json:"requests"`
	Seconds   float64 `json:"seconds"`
	ClientCPU float64 `json:"client_cpu_s"`
	FakeCPU   float64 `json:"fake_cpu_s"`
	StealPct  float64 `json:"steal_pct"`
}

// ceiling measures the plain client loop: --concurrency goroutines calling
// DeleteLabels back to back over keep-alive connections. Nothing else runs,
// so this is what the machine can do for this work.
func (e *env) ceiling(ctx context.Context) (*ceilingSample, error) {
	c, err := client.New(client.Config{APIKey: benchKey, Server: e.url, MaxConns: e.cfg.concurrency, Timeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	defer c.CloseIdleConnections()
	// Warm up the connections so the timed loop measures steady state.
	if _, err := e.clientLoop(ctx, c, 300*time.Millisecond); err != nil {
		return nil, err
	}
	cpu0, _ := procCPU(e.fake.cmd.Process.Pid)
	self0, _ := procCPU(os.Getpid())
	st0 := readSteal()
	start := time.Now()
	n, err := e.clientLoop(ctx, c, e.cfg.ceilingFor)
	el := time.Since(start)
	if err != nil {
		return nil, err
	}
	cpu1, _ := procCPU(e.fake.cmd.Process.Pid)
	self1, _ := procCPU(os.Getpid())
	s := &ceilingSample{RPS: float64(n) / el.Seconds(), Requests: n, Seconds: el.Seconds(),
		ClientCPU: self1 - self0, FakeCPU: cpu1 - cpu0, StealPct: readSteal().pctSince(st0)}
	e.logf("ceiling: %d requests in %v = %.0f req/s (steal %.1f%%)", n, el.Round(time.Millisecond), s.RPS, s.StealPct)
	return s, nil
}

// addCeiling folds a sample into the ceiling totals.
func (r *results) addCeiling(s *ceilingSample) {
	if r.Ceiling == nil {
		r.Ceiling = &ceilingDetail{}
	}
	cd := r.Ceiling
	cd.Samples = append(cd.Samples, s.RPS)
	cd.Requests += s.Requests
	cd.Seconds += s.Seconds
	cd.clientCPU += s.ClientCPU
	cd.fakeCPU += s.FakeCPU
	cd.ClientCPUUsPerReq = cd.clientCPU * 1e6 / float64(cd.Requests)
	cd.FakeCPUUsPerReq = cd.fakeCPU * 1e6 / float64(cd.Requests)
}

// ratioRounds measures ceiling and pipeline alternately: C0 P1 C1 P2 C2 …
// Round i's ratio is P_i over the mean of the ceilings on either side of
// it, so a change in the host's load between rounds moves both. The
// headline figures are those of the round with the median ratio: on a
// shared host one round can be hit by a neighbour's burst, and one
// unlucky (or lucky) round should not decide the figure.
func (e *env) ratioRounds(ctx context.Context, r *results) error {
	before, err := e.ceiling(ctx)
	if err != nil {
		return err
	}
	r.addCeiling(before)
	for i := range e.cfg.rounds {
		e.logf("round %d of %d", i+1, e.cfg.rounds)
		run, err := e.runCampaign(ctx, fmt.Sprintf("bench-pipeline-%d", i+1), e.cfg.concurrency, e.cfg.workerMode)
		if err != nil {
			return err
		}
		after, err := e.ceiling(ctx)
		if err != nil {
			return err
		}
		r.addCeiling(after)
		cRPS := (before.RPS + after.RPS) / 2
		cReq := float64(before.Requests + after.Requests)
		rd := round{CeilingBefore: before.RPS, CeilingAfter: after.RPS, CeilingRPS: cRPS, Pipeline: run,
			Ratio: run.RPS / cRPS, CeilingStealPct: (before.StealPct + after.StealPct) / 2}
		// (client + fake CPU per request) / (worker + Redis + fake CPU per asset).
		rd.CPURatio = (before.ClientCPU + after.ClientCPU + before.FakeCPU + after.FakeCPU) * 1e6 / cReq /
			(run.WorkerCPUUs + run.RedisCPUUs + run.FakeCPUUs)
		e.logf("round %d: ratio %.3f (pipeline %.0f assets/s, ceiling %.0f req/s), cpu_ratio %.3f", i+1, rd.Ratio, run.RPS, cRPS, rd.CPURatio)
		r.Rounds = append(r.Rounds, rd)
		before = after
	}
	m := medianRound(r.Rounds)
	r.CeilingRPS, r.PipelineRPS, r.Ratio, r.CPURatio = m.CeilingRPS, m.Pipeline.RPS, m.Ratio, m.CPURatio
	r.RedisCmdsPerAsset = m.Pipeline.CmdsPerAsset
	r.Pipeline = m.Pipeline
	return nil
}

// medianRound returns the round with the median ratio (the lower middle
// one for an even count).
func medianRound(rs []round) round {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b round) int { return cmp.Compare(a.Ratio, b.Ratio) })
	return s[(len(s)-1)/2]
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
