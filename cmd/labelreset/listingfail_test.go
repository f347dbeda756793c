package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestStatusShowsListingFailing: while every listing request fails, the
// campaign keeps running and status (text and --json) says that the
// snapshot's listing is failing, with the error and the attempts.
func TestStatusShowsListingFailing(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 50, ListFailFraction: 1})
	e.startWorker()
	if out, errs, code := e.run("submit", "--campaign", "stuck", "--ids", idRange(1, 50), "--yes"); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	deadline := time.Now().Add(time.Minute)
	var out string
	for !strings.Contains(out, "listing failing: ") {
		if time.Now().After(deadline) {
			t.Fatalf("status never said the listing fails:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
		out, _, _ = e.run("status", "stuck")
	}
	if !strings.Contains(out, "500") || !strings.Contains(out, "attempt") || !strings.Contains(out, "keeps retrying") {
		t.Errorf("status of a failing listing lacks the error, attempts or retrying:\n%s", out)
	}
	js, errs, code := e.run("status", "stuck", "--json")
	var st struct {
		State    string `json:"state"`
		Snapshot struct {
			ListingFailing *struct {
				Error    string `json:"error"`
				Failures int64  `json:"failures"`
			} `json:"listing_failing"`
		} `json:"snapshot"`
	}
	if code != 0 || json.Unmarshal([]byte(js), &st) != nil {
		t.Fatalf("status --json: exit %d\n%s\n%s", code, js, errs)
	}
	if lf := st.Snapshot.ListingFailing; lf == nil || lf.Failures < 1 || !strings.Contains(lf.Error, "500") || st.State != "running" {
		t.Errorf("status --json: state %s, listing_failing %+v; want running with the 500", st.State, lf)
	}
}
