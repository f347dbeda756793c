package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRunServesAndShutsDown(t *testing.T) {
	ids := filepath.Join(t.TempDir(), "ids.txt")
	if err := os.WriteFile(ids, []byte("# extra\n500\n\n501\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--assets", "3", "--api-key", "k", "--ids-file", ids}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the banner: %v", err)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`^pdcp-fake listening on (http://127\.0\.0\.1:\d+) \(5 assets\)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("banner %q, want the real address and 5 assets", line)
	}
	req, _ := http.NewRequest("DELETE", m[1]+"/v1/asset/501/labels", nil)
	req.Header.Set("X-Api-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("DELETE seeded ID from --ids-file: got %d, want 200", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown 10s after cancellation")
	}
}

func TestRunRejectsBadIDsFile(t *testing.T) {
	ids := filepath.Join(t.TempDir(), "ids.txt")
	os.WriteFile(ids, []byte("12\nnope\n"), 0o600)
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--ids-file", ids}, io.Discard)
	if err == nil || !regexp.MustCompile(`ids.txt:2`).MatchString(err.Error()) {
		t.Errorf("got %v, want an error naming line 2", err)
	}
}

// startFake runs the command with args and returns its base URL.
func startFake(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the banner: %v", err)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("banner %q", line)
	}
	return m[1]
}

func TestLabelAndListingFlags(t *testing.T) {
	base := startFake(t, "--assets", "40", "--labels", "varied", "--seed", "3", "--list-limit-cap", "4",
		"--edit-after-reset", "1", "--edit-label", "again", "--list-fail-fraction", "0.5", "--list-throttle", "--retry-after", "0")
	do := func(method, path string) (int, http.Header, []byte) {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("X-Api-Key", "test-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	var ok, throttled int
	for range 20 {
		st, hdr, b := do("GET", "/v1/asset/enumerate/contents?limit=100")
		switch st {
		case 200:
			ok++
			var p struct{ Data []json.RawMessage }
			if err := json.Unmarshal(b, &p); err != nil || len(p.Data) != 4 {
				t.Fatalf("page of %d rows (%v), want the cap of 4", len(p.Data), err)
			}
		case 429:
			throttled++
			if hdr.Get("Retry-After") != "0" {
				t.Errorf("429 without Retry-After 0: %v", hdr)
			}
		default:
			t.Fatalf("listing: %d %s", st, b)
		}
	}
	if ok == 0 || throttled == 0 {
		t.Errorf("%d pages served, %d throttled: want both", ok, throttled)
	}
	if st, _, b := do("DELETE", "/v1/asset/7/labels"); st != 200 {
		t.Fatalf("DELETE: %d %s", st, b)
	}
	_, _, b := do("GET", "/_fake/labels")
	var all map[int64][]string
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 40 || len(all[7]) != 1 || all[7][0] != "again" {
		t.Errorf("/_fake/labels: %d assets, asset 7 %q", len(all), all[7])
	}
	varied := false
	for _, ls := range all {
		for _, l := range ls {
			varied = varied || strings.ContainsAny(l, ", \"") || strings.ContainsFunc(l, func(r rune) bool { return r > 127 })
		}
	}
	if !varied {
		t.Error("--labels varied seeded no label with a comma, space, quote or non-ASCII")
	}
}

func TestRunRejectsUnknownLabels(t *testing.T) {
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--labels", "fancy"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "fancy") {
		t.Errorf("got %v, want an error naming --labels fancy", err)
	}
}

// TestBulkFlags: the --bulk-* flags reach the Fake's options (as POST
// /_fake/config answers them) and a bulk call under them; a late change
// still waiting when the command stops is dropped without delaying the
// shutdown.
func TestBulkFlags(t *testing.T) {
	base := startFake(t, "--assets", "50", "--seed", "6", "--bulk-async-above", "3", "--bulk-async-delay", "1h",
		"--bulk-skip-fraction", "0.5", "--bulk-late-delay", "250ms", "--bulk-fail-status", "0")
	resp, err := http.Post(base+"/_fake/config", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"bulk_async_above": 3.0, "bulk_async_delay_ms": 3.6e6, "bulk_skip_fraction": 0.5, "bulk_late_delay_ms": 250.0}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("%s = %v, want %v", k, cfg[k], v)
		}
	}
	req, _ := http.NewRequest("PATCH", base+"/v1/asset/labels?update_type=delete", strings.NewReader(`{"filters":{"labels":"critical"},"labels":["critical"]}`))
	req.Header.Set("X-Api-Key", "test-key")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"async":true`) {
		t.Errorf("bulk call above --bulk-async-above: %d %s, want 200 async", resp.StatusCode, b)
	}
	resp, err = http.Get(base + "/_fake/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		BulkCalls   int64 `json:"bulk_calls"`
		BulkPending int64 `json:"bulk_pending"`
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.BulkCalls != 1 || st.BulkPending != 1 {
		t.Errorf("stats: %+v, want 1 bulk call, 1 pending", st)
	}
}

func TestBulkFailStatusFlag(t *testing.T) {
	base := startFake(t, "--assets", "5", "--bulk-fail-status", "503")
	req, _ := http.NewRequest("PATCH", base+"/v1/asset/labels?update_type=delete", strings.NewReader(`{"filters":{"labels":"critical"},"labels":["critical"]}`))
	req.Header.Set("X-Api-Key", "test-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("bulk call with --bulk-fail-status 503: got %d", resp.StatusCode)
	}
}
