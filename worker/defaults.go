package worker

import "time"

// Defaults of Config, which the labelreset commands also show as their
// flags' defaults.
const (
	// DefaultConcurrency is Config.Concurrency when left zero: enough calls
	// in flight to keep a shared rate of a few hundred requests/s busy at
	// PDCP's latency, few enough for one process's connections.
	DefaultConcurrency = 64
	// DefaultShutdownTimeout is Config.ShutdownTimeout when left zero. It
	// stays below Kubernetes' default terminationGracePeriodSeconds (30s)
	// so that in-flight calls finish before SIGKILL.
	DefaultShutdownTimeout = 25 * time.Second
)
