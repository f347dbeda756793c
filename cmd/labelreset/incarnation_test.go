package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// TestRecreatedCampaignAcrossProcesses (issue 15 item 1, process
// boundary): one `serve` and one `worker` process run campaign "imp" over
// assets 1,2,3 in delete mode; its data is deleted; "imp" is created
// again through the same serve, in remove mode over 7,8,9. Both
// processes cached the first campaign (serve its IDs, the worker its
// definition): the second must call 7,8,9 only, with PATCH (remove), and
// its report must hold 7,8,9 only.
func TestRecreatedCampaignAcrossProcesses(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 20})
	e.env = append(e.env, "LABELRESET_API_TOKENS="+testToken)
	apiAddr := freeAddr(t)
	e.startWorker()
	e.start("serve", "--addr", apiAddr)
	waitHTTP(t, "http://"+apiAddr+"/readyz", 200)
	post := func(query, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+apiAddr+"/v1/campaigns?campaign_id=imp&"+query, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("POST %s: %d %s", query, resp.StatusCode, b)
		}
	}
	post("mode=delete", "asset_id\n1\n2\n3\n")
	e.waitState("imp", time.Minute, "done")
	store := jobs.NewStore(e.redis.Client, jobs.StoreOptions{Namespace: e.redis.Namespace})
	if err := store.Delete(context.Background(), "imp"); err != nil {
		t.Fatal(err)
	}
	before := len(e.fake.Fake().Log())
	post("mode=remove&labels=stale", "asset_id\n7\n8\n9\n")
	s := e.waitState("imp", time.Minute, "done")

	var called []int64
	methods := map[string]int{}
	for _, c := range e.fake.Fake().Log()[before:] {
		methods[c.Method]++
		if !slices.Contains(called, c.AssetID) {
			called = append(called, c.AssetID)
		}
	}
	slices.Sort(called)
	if want := []int64{7, 8, 9}; !slices.Equal(called, want) {
		t.Errorf("the re-created campaign called assets %v, want %v", called, want)
	}
	if methods["DELETE"] != 0 {
		t.Errorf("the re-created remove-mode campaign made calls by method %v, want PATCH only", methods)
	}
	var reported []int64
	for id, row := range e.report("imp") {
		reported = append(reported, id)
		if row[1] != "reset" {
			t.Errorf("report: asset %d %s, want reset", id, row[1])
		}
	}
	slices.Sort(reported)
	if want := []int64{7, 8, 9}; !slices.Equal(reported, want) {
		t.Errorf("report of the re-created campaign holds %v, want %v", reported, want)
	}
	if s.Total != 3 || s.Counts["reset"] != 3 {
		t.Errorf("status: total %d, counts %v; want 3 reset", s.Total, s.Counts)
	}
}
