package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Ready reports whether the worker is processing: Redis answers and the
// asynq server runs.
func (w *Worker) Ready() error {
	if !w.ready.Load() {
		return errors.New("not ready: Redis unreachable or worker not started")
	}
	return nil
}

// health pings Redis every second and keeps readiness and redis_up
// current.
func (w *Worker) health(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := w.rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			w.metrics.redisUp.Set(1)
			w.ready.Store(!w.stopping.Load())
		} else if ctx.Err() == nil {
			w.metrics.redisUp.Set(0)
			w.ready.Store(false)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// OpsHandler serves /metrics from g, /healthz (process alive) and /readyz
// (ready() == nil).
func OpsHandler(g prometheus.Gatherer, ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttpHandler(g))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
