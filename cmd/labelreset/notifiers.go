package main

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs/notify"
)

// notifiersUsage is the help of --notifiers (env LABELRESET_NOTIFIERS_FILE),
// the operator's notifiers file.
const notifiersUsage = "notifiers file: named webhook URLs and their secrets, which campaigns name with notify (docs/notifications.md)"

// loadNotifiers reads the notifiers file; "" is none (nil).
func loadNotifiers(path string) (*notify.Config, error) {
	if path == "" {
		return nil, nil
	}
	cfg, err := notify.LoadFile(path)
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}

// startDispatcher runs a notification dispatcher for cfg (none when nil)
// until ctx ends; the returned wait blocks until it has stopped.
func (a *app) startDispatcher(ctx context.Context, rdb redis.UniversalClient, ns string, cfg *notify.Config, reg prometheus.Registerer) (wait func(), err error) {
	if cfg == nil {
		return func() {}, nil
	}
	d, err := notify.New(rdb, notify.Options{Namespace: ns, Config: cfg, Registerer: reg, Logger: a.log})
	if err != nil {
		return nil, usageError{err}
	}
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	a.log.Info("notifications: delivering", "notifiers", len(cfg.Notifiers))
	return wg.Wait, nil
}
