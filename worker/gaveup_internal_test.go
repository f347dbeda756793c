package worker

import (
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs"
)

// TestGaveUpKeepsTheReason: a server message too long for the report is
// what gets cut; the attempt count after it always survives.
func TestGaveUpKeepsTheReason(t *testing.T) {
	long := "HTTP 500 INTERNAL_ERROR: " + strings.Repeat("upstream connect error or disconnect ", 20)
	got := gaveUp(long, "gave up after 8 attempts")
	if len(got) > jobs.MaxErrorBytes || len(got) < 200 || !strings.HasSuffix(got, "… (gave up after 8 attempts)") {
		t.Errorf("gaveUp of a %d-byte message: %q (%d bytes), want at least 200 and at most %d bytes ending in the reason",
			len(long), got, len(got), jobs.MaxErrorBytes)
	}
	if got := gaveUp("HTTP 500", "gave up after 3 attempts"); got != "HTTP 500 (gave up after 3 attempts)" {
		t.Errorf("short message: %q", got)
	}
}
