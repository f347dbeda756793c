package worker

import (
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// TestBackoffSpan: each delay lies in [c/2, c] for the capped exponential
// c, so the default policy's retries of one asset span at least 30s: an
// outage shorter than that fails no asset.
func TestBackoffSpan(t *testing.T) {
	p := jobs.DefaultPolicy()
	var least time.Duration
	for n := 1; n < p.MaxAttempts; n++ {
		c := min(p.BackoffCap, p.BackoffBase<<(n-1))
		lo := c
		for range 1000 {
			d := assetBackoff(p, n)
			if d < c/2 || d > c {
				t.Fatalf("assetBackoff(%d) = %v, want within [%v, %v]", n, d, c/2, c)
			}
			lo = min(lo, d)
		}
		least += c / 2
		if lo > c/2+c/10 {
			t.Errorf("assetBackoff(%d): smallest of 1000 draws %v; the jitter does not reach down to %v", n, lo, c/2)
		}
	}
	if least < 30*time.Second {
		t.Errorf("default policy: the retries of one asset may all land within %v, want at least 30s", least)
	}
	if d := assetBackoff(p, 100); d < p.BackoffCap/2 || d > p.BackoffCap {
		t.Errorf("assetBackoff(100) = %v, want within the cap's [%v, %v]", d, p.BackoffCap/2, p.BackoffCap)
	}
}
