package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests set up their campaigns through the HTTP API, as a CSV import
// or a script would, and check them there too; the browser only does what
// a person does in the console.

// campaign is the part of GET /v1/campaigns/{id} the tests read.
type campaign struct {
	ID        string           `json:"id"`
	State     string           `json:"state"`
	Total     int64            `json:"total"`
	Counts    map[string]int64 `json:"counts"`
	RestoreOf string           `json:"restore_of"`
}

// finished is the number of assets with a final outcome.
func (c campaign) finished() int64 {
	var n int64
	for outcome, v := range c.Counts {
		if outcome != "pending" {
			n += v
		}
	}
	return n
}

// apiClient bounds every API call, so that a hung serve fails the test
// that called it.
var apiClient = &http.Client{Timeout: 30 * time.Second}

// api sends a request with the token of role and returns the status and
// body. body is JSON-encoded unless it is nil.
func api(t *testing.T, role, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, env.serveURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env.tokens[role])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	return resp.StatusCode, b
}

var (
	usedMu  sync.Mutex
	usedIDs = map[string]int{}
)

// campaignID is base the first time, then base-2, base-3...: campaign IDs
// are unique in the run's namespace, so a test run again (-count) makes
// campaigns of its own.
func campaignID(base string) string {
	usedMu.Lock()
	defer usedMu.Unlock()
	usedIDs[base]++
	if n := usedIDs[base]; n > 1 {
		return fmt.Sprintf("%s-%d", base, n)
	}
	return base
}

// createCampaign creates campaign id over the assets first..first+n-1 as
// the operator, and cancels it when the test ends if it still runs, so
// that no test's leftovers share the worker's rate with the next test.
func createCampaign(t *testing.T, id string, first, n int) campaign {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(first + i)
	}
	code, b := api(t, "operator", http.MethodPost, "/v1/campaigns",
		map[string]any{"campaign_id": id, "asset_ids": ids, "priority": "high"})
	if code != http.StatusCreated {
		t.Fatalf("create campaign %s: %d %s", id, code, b)
	}
	t.Cleanup(func() { cancelIfLive(t, id) })
	var out struct {
		Campaign campaign `json:"campaign"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("create campaign %s: %v in %s", id, err, b)
	}
	return out.Campaign
}

// cancelIfLive cancels campaign id unless it has ended.
func cancelIfLive(t *testing.T, id string) {
	c := getCampaign(t, id)
	switch c.State {
	case "pending", "running", "paused", "blocked", "stopped":
		if code, b := api(t, "operator", http.MethodPost, "/v1/campaigns/"+id+"/cancel", nil); code != http.StatusOK {
			t.Logf("cancel %s at the end of the test: %d %s", id, code, b)
		}
	}
}

func getCampaign(t *testing.T, id string) campaign {
	t.Helper()
	code, b := api(t, "viewer", http.MethodGet, "/v1/campaigns/"+id, nil)
	if code != http.StatusOK {
		t.Fatalf("GET campaign %s: %d %s", id, code, b)
	}
	var c campaign
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("GET campaign %s: %v in %s", id, err, b)
	}
	return c
}

// waitCampaign polls campaign id until ok holds, or fails the test after
// timeout (a bound for a hung stack, not a speed requirement).
func waitCampaign(t *testing.T, id string, timeout time.Duration, what string, ok func(campaign) bool) campaign {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := getCampaign(t, id)
		if ok(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s is %s with counts %v after %v, want %s", id, c.State, c.Counts, timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitState(t *testing.T, id string, timeout time.Duration, state string) campaign {
	t.Helper()
	return waitCampaign(t, id, timeout, "state "+state, func(c campaign) bool { return c.State == state })
}

// failingAsset returns an asset of first..first+n-1 that the fake fails
// for good (every call answers 422), asking the fake's admin endpoint.
func failingAsset(t *testing.T, first, n int) int64 {
	t.Helper()
	for id := first; id < first+n; id++ {
		resp, err := apiClient.Get(fmt.Sprintf("%s/_fake/asset?id=%d", env.fakeURL, id))
		if err != nil {
			t.Fatal(err)
		}
		var a struct {
			Kind string `json:"kind"`
		}
		err = json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("/_fake/asset?id=%d: %v", id, err)
		}
		if a.Kind == "failing" {
			return int64(id)
		}
	}
	t.Fatalf("no asset of %d..%d fails: raise fakeFailShare or widen the range", first, first+n-1)
	return 0
}

// reportRows reads the campaign's CSV report through the API.
func reportRows(t *testing.T, id string) []string {
	t.Helper()
	code, b := api(t, "viewer", http.MethodGet, "/v1/campaigns/"+id+"/report?format=csv", nil)
	if code != http.StatusOK {
		t.Fatalf("report of %s: %d %s", id, code, b)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
