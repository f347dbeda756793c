package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client"
)

// peerTask is the task type of the per-asset baseline.
const peerTask = "bench:asset"

// peerRun is the per-asset-task baseline's figures.
type peerRun struct {
	Assets       int     `json:"assets"`
	Seconds      float64 `json:"seconds"`
	EnqueueSecs  float64 `json:"enqueue_seconds"`
	RPS          float64 `json:"assets_per_s"`
	RedisCmds    int64   `json:"redis_cmds"`
	CmdsPerAsset float64 `json:"redis_cmds_per_asset"`
	PeakMemory   int64   `json:"redis_used_memory_peak_delta_bytes"`
}

// peer runs the same campaign the obvious way: one asynq task per asset
// (asynq.Client.Enqueue each), one asynq.Server with Concurrency =
// --concurrency whose handler calls DeleteLabels. Enqueueing runs from 4
// goroutines while the server is already processing; the clock runs from
// the first enqueue to the last processed task.
func (e *env) peer(ctx context.Context, r *results) error {
	if err := e.flush(ctx); err != nil {
		return err
	}
	n := e.cfg.assets
	c, err := client.New(client.Config{APIKey: benchKey, Server: e.url, MaxConns: e.cfg.concurrency, Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	var processed atomic.Int64
	all := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc(peerTask, func(ctx context.Context, t *asynq.Task) error {
		id, err := strconv.ParseInt(string(t.Payload()), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		if res := c.DeleteLabels(ctx, id); res.Outcome != client.OutcomeReset {
			return fmt.Errorf("asset %d: %s", id, res.Error())
		}
		if processed.Add(1) == int64(n) {
			close(all)
		}
		return nil
	})
	srv := asynq.NewServerFromRedisClient(e.rdb, asynq.Config{
		Concurrency: e.cfg.concurrency, Queues: map[string]int{benchNS + "-peer": 1},
		Logger: asynqLogger{slog.New(slog.NewTextHandler(io.Discard, nil))}, LogLevel: asynq.ErrorLevel,
	})
	if err := srv.Start(mux); err != nil {
		return err
	}
	defer srv.Shutdown()
	time.Sleep(300 * time.Millisecond)
	ac := asynq.NewClientFromRedisClient(e.rdb)
	cs0, err := e.commandStats(ctx)
	if err != nil {
		return err
	}
	mem0, _ := e.usedMemory(ctx)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var enqErr atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id := next.Add(1)
				if id > int64(n) {
					return
				}
				t := asynq.NewTask(peerTask, []byte(strconv.FormatInt(id, 10)))
				if _, err := ac.EnqueueContext(ctx, t, asynq.Queue(benchNS+"-peer"), asynq.MaxRetry(5)); err != nil {
					enqErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	enq := time.Since(start)
	if err, _ := enqErr.Load().(error); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	mem1, _ := e.usedMemory(ctx)
	select {
	case <-all:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("%d of %d tasks processed after 10 minutes", processed.Load(), n)
	}
	el := time.Since(start)
	cs1, err := e.commandStats(ctx)
	if err != nil {
		return err
	}
	d := cs1.sub(cs0)
	delete(d, "info")
	r.PerAssetTaskRPS = float64(n) / el.Seconds()
	r.Peer = &peerRun{Assets: n, Seconds: el.Seconds(), EnqueueSecs: enq.Seconds(), RPS: r.PerAssetTaskRPS,
		RedisCmds: d.total(), CmdsPerAsset: float64(d.total()) / float64(n), PeakMemory: mem1 - mem0}
	e.logf("per-asset tasks: %d in %v (enqueue %v) = %.0f assets/s, %.2f Redis commands/asset",
		n, el.Round(time.Millisecond), enq.Round(time.Millisecond), r.PerAssetTaskRPS, r.Peer.CmdsPerAsset)
	return nil
}

// asynqLogger routes asynq's logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
