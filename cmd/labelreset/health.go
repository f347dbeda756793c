package main

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// redisHealth pings Redis every few seconds for labelreset_redis_up and
// readiness of the API server and the scheduler.
type redisHealth struct {
	rdb redis.UniversalClient
	up  prometheus.Gauge
}

func newRedisHealth(rdb redis.UniversalClient, reg prometheus.Registerer) *redisHealth {
	h := &redisHealth{rdb: rdb, up: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "labelreset_redis_up", Help: "1 when the last Redis health check succeeded.",
	})}
	reg.MustRegister(h.up)
	return h
}

func (h *redisHealth) check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := h.rdb.Ping(cctx).Err()
	if err != nil {
		h.up.Set(0)
		return errors.New("not ready: Redis unreachable")
	}
	h.up.Set(1)
	return nil
}

func (h *redisHealth) run(ctx context.Context) {
	for {
		h.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}
