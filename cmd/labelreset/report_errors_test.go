package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestReportKeepsErrorAndErrorID: through the binary against the fake
// PDCP, a failed asset's report row keeps the whole error, "gave up after
// N attempts" included, and the error_id of PDCP's last answer; an invalid
// asset keeps the error_id of its one answer.
func TestReportKeepsErrorAndErrorID(t *testing.T) {
	const n = 40
	e := newE2E(t, pdcpfake.Options{Assets: n, Seed: 5, FailFraction: 0.2, FailTimes: -1, InvalidFraction: 0.1})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(i + 1)
	}
	_, errs, code := e.run("run", "--campaign", "errid", "--ids", strings.Join(ids, ","), "--max-attempts", "3",
		"--backoff-base", "5ms", "--backoff-cap", "10ms", "--max-failure-ratio", "1", "--yes")
	if code != 1 {
		t.Fatalf("run: exit %d, want 1 (failed and invalid assets): %s", code, errs)
	}
	out, errs, code := e.run("report", "errid", "--format", "jsonl", "--only", "failed,invalid")
	if code != 0 {
		t.Fatalf("report: exit %d: %s", code, errs)
	}
	f := e.fake.Fake()
	seen := map[string]int{}
	for line := range strings.Lines(out) {
		var row struct {
			AssetID int64  `json:"asset_id"`
			Outcome string `json:"outcome"`
			Error   string `json:"error"`
			ErrorID string `json:"error_id"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("report line %q: %v", line, err)
		}
		seen[row.Outcome]++
		switch row.Outcome {
		case "failed":
			if k := f.Kind(row.AssetID); k != pdcpfake.KindFailing {
				t.Errorf("asset %d (%s) failed", row.AssetID, k)
			}
			if want := "HTTP 500 INTERNAL_ERROR: Internal Server Error (gave up after 3 attempts)"; row.Error != want {
				t.Errorf("asset %d: error %q, want %q", row.AssetID, row.Error, want)
			}
			if want := fmt.Sprintf("fake-%d-2", row.AssetID); row.ErrorID != want {
				t.Errorf("asset %d: error_id %q, want %q (the third answer's)", row.AssetID, row.ErrorID, want)
			}
		case "invalid":
			if want := fmt.Sprintf("fake-%d-0", row.AssetID); row.ErrorID != want || !strings.HasPrefix(row.Error, "HTTP 400 INVALID_ID") {
				t.Errorf("asset %d: error %q, error_id %q; want HTTP 400 INVALID_ID and %q", row.AssetID, row.Error, row.ErrorID, want)
			}
		}
	}
	if seen["failed"] == 0 || seen["invalid"] == 0 {
		t.Fatalf("report rows by outcome %v: want some failed and some invalid (pick another seed)", seen)
	}
}
