package worker

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func (w *Worker) janitor(ctx context.Context) {
	every(ctx, w.cfg.JanitorInterval, func(ctx context.Context) {
		if n, err := w.store.Janitor(ctx); err != nil {
			w.log.Warn("janitor failed", "err", err)
		} else if n > 0 {
			w.log.Info("expired campaigns deleted", "count", n)
		}
	})
}

// every calls fn each interval until ctx ends: the one lifecycle of the
// worker's background loops (state poll, orphan repair, janitor, replica
// count).
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
	}
}

// watchReplicas keeps the number of replicas of a standalone or Sentinel
// master current. With replicas, the writer waits for one to acknowledge
// each ledger write (WAIT, on the write's own connection:
// Ledger.RecordAndWait) before it counts the outcomes as recorded, so
// that a failover does not lose outcomes the worker considers recorded.
// (On Redis Cluster WAIT has no key to route it to the node that took the
// write, so it is not used there.)
func (w *Worker) watchReplicas(ctx context.Context) {
	if _, isCluster := w.rdb.(*redis.ClusterClient); isCluster {
		return
	}
	w.countReplicas(ctx)
	every(ctx, 10*time.Second, w.countReplicas)
}

// countReplicas counts the master's online replicas: one still syncing
// (or a master left without its replica after a failover) would make
// every WAIT last its whole timeout.
func (w *Worker) countReplicas(ctx context.Context) {
	info := w.rdb.InfoMap(ctx, "replication")
	if info.Err() != nil {
		return
	}
	n := 0
	for k, v := range info.Val()["Replication"] {
		if strings.HasPrefix(k, "slave") && strings.Contains(v, "state=online") {
			n++
		}
	}
	w.writer.replicas.Store(int32(n))
}
