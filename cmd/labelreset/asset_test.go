package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestAssetE2E: labelreset asset shows an asset's outcome in every
// campaign that holds it, newest first, as a table and as the JSON of GET
// /v1/assets/{id}; an asset in no campaign says so; a bad ID is a usage
// error naming it.
func TestAssetE2E(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	if _, errs, code := e.run("submit", "--campaign", "asset-one", "--ids", "1,2,3", "--yes"); code != 0 {
		t.Fatalf("submit asset-one: exit %d: %s", code, errs)
	}
	e.startWorker()
	e.waitState("asset-one", 60*time.Second, "done")
	// Above --confirm-above without --yes: pending, so asset 2 stays pending there.
	if _, errs, code := e.run("submit", "--campaign", "asset-two", "--ids", "2,4", "--confirm-above", "1"); code != 0 {
		t.Fatalf("submit asset-two: exit %d: %s", code, errs)
	}

	out, errs, code := e.run("asset", "2", "--json")
	if code != 0 {
		t.Fatalf("asset 2 --json: exit %d: %s", code, errs)
	}
	var got struct {
		AssetID   int64 `json:"asset_id"`
		Campaigns []struct {
			Campaign, State, Mode, Outcome string
			Status                         int `json:"http_status"`
			Attempts                       int
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("asset --json output %q: %v", out, err)
	}
	c := got.Campaigns
	if got.AssetID != 2 || len(c) != 2 || c[0].Campaign != "asset-two" || c[0].Outcome != "pending" || c[0].State != "pending" ||
		c[1].Campaign != "asset-one" || c[1].Outcome != "reset" || c[1].Status != 200 || c[1].Attempts < 1 || c[1].Mode != "delete" {
		t.Errorf("asset 2 --json: %+v; want asset-two pending, then asset-one reset (200)", got)
	}

	out, errs, code = e.run("asset", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "CAMPAIGN") ||
		!strings.HasPrefix(lines[1], "asset-two") || !strings.HasPrefix(lines[2], "asset-one") || !strings.Contains(lines[2], "reset") {
		t.Errorf("asset 2: exit %d, want a table of asset-two then asset-one:\n%s%s", code, out, errs)
	}
	if out, _, code := e.run("asset", "999"); code != 0 || !strings.Contains(out, "in no campaign") {
		t.Errorf("asset 999: exit %d %q, want 0 saying it is in no campaign", code, out)
	}
	if out, _, code := e.run("asset", "999", "--json"); code != 0 || !strings.Contains(out, `"campaigns": []`) {
		t.Errorf("asset 999 --json: exit %d %q, want an empty campaigns list", code, out)
	}
	for _, args := range [][]string{{"asset", "12x"}, {"asset"}, {"asset", "1", "2"}} {
		if _, errs, code := e.run(args...); code != 2 || (args[len(args)-1] == "12x" && !strings.Contains(errs, `"12x"`)) {
			t.Errorf("%v: exit %d %q, want 2 (naming a bad ID)", args, code, errs)
		}
	}
}
