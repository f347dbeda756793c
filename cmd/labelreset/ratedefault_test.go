package main

import (
	"slices"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestDefaultRateAdapts: a worker given no rate shares DefaultRate, and
// --adaptive (on by default) lowers the shared rate when PDCP throttles:
// against a fake answering half of the calls with 429, the effective-rate
// gauge drops below the configured rate, never rises above it and never
// falls below the floor (1/s). --rate 0 stays unlimited.
func TestDefaultRateAdapts(t *testing.T) {
	t.Parallel()
	const n = 300
	e := newE2E(t, pdcpfake.Options{Assets: n, Seed: 21, ThrottleFraction: 0.5})
	e.env = append(slices.Clone(e.env), "LABELRESET_RATE=") // the default, not the tests' unlimited
	addr := freeAddr(t)
	e.start("worker", "--metrics-addr", addr, "--concurrency", "8", "--shutdown-timeout", "5s")
	// In a namespace of its own: it takes none of the campaign's batches,
	// which would leave the worker under test without a throttled answer.
	unlimited := freeAddr(t)
	e.start("worker", "--metrics-addr", unlimited, "--namespace", "unlimited", "--concurrency", "1", "--rate", "0", "--shutdown-timeout", "5s")
	csv := e.writeIDs("ids.csv", 1, n)
	if out, errs, code := e.run("submit", "--campaign", "adapt", "--csv", csv, "--yes", "--max-throttled", "1000",
		"--backoff-base", "10ms", "--backoff-cap", "50ms", "--max-failure-ratio", "1"); code != 0 {
		t.Fatalf("submit: exit %d: %s %s", code, out, errs)
	}
	const configured = "labelreset_ratelimit_configured_rate"
	const effective = "labelreset_ratelimit_effective_rate"
	deadline := time.Now().Add(60 * time.Second)
	lowest := float64(DefaultRate)
	for {
		if got := metricValue(t, addr, configured); got != -1 && got != DefaultRate {
			t.Fatalf("%s = %v, want the default %d", configured, got, DefaultRate)
		}
		eff := metricValue(t, addr, effective)
		if eff > DefaultRate {
			t.Fatalf("%s = %v, above the configured %d", effective, eff, DefaultRate)
		}
		if eff != -1 && eff < 1 {
			t.Fatalf("%s = %v, below the floor of 1/s", effective, eff)
		}
		if eff > 0 {
			lowest = min(lowest, eff)
		}
		if lowest < DefaultRate && e.fake.Fake().Stats().Throttled >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("effective rate still %v after %d throttled answers", lowest, e.fake.Fake().Stats().Throttled)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("effective rate lowered to %.2f/s from %d/s after %d throttled answers", lowest, DefaultRate, e.fake.Fake().Stats().Throttled)
	if got := metricValue(t, unlimited, configured); got != 0 {
		t.Errorf("--rate 0: %s = %v, want 0 (unlimited)", configured, got)
	}
}
