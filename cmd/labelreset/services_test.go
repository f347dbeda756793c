package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

const testToken = "e2e-token-0123456789abcdef"

// waitHTTP polls url until it answers want.
func waitHTTP(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d", url, want)
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d", url, resp.StatusCode)
	}
	return string(b)
}

// TestServeSchedulerAndMetrics starts a worker, the trigger API and the
// scheduler as real processes: a CSV POSTed with a token runs to
// completion, a schedule fires, every /metrics passes the Prometheus lint
// (what `promtool check metrics` runs), and every metric that the Grafana
// dashboard and the alert rules query is exported by one of them.
func TestServeSchedulerAndMetrics(t *testing.T) {
	t.Parallel()
	e := newE2E(t, pdcpfake.Options{Assets: 2000, Seed: 2, FailFraction: 0.05, FailTimes: 1})
	e.env = append(e.env, "LABELRESET_API_TOKENS="+testToken)
	workerAddr, apiAddr, schedAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	e.start("worker", "--metrics-addr", workerAddr, "--concurrency", "16", "--rate", "5000")
	e.start("serve", "--addr", apiAddr)
	csvPath := e.writeIDs("sched.csv", 1, 300)
	cfg := filepath.Join(e.dir, "schedules.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("schedules:\n  - name: every-second\n    cron: \"@every 1s\"\n    max_assets: 1000\n    source:\n      csv:\n        path: %s\n", csvPath)), 0o600)
	e.start("scheduler", "--config", cfg, "--metrics-addr", schedAddr)
	waitHTTP(t, "http://"+workerAddr+"/readyz", 200)
	waitHTTP(t, "http://"+apiAddr+"/readyz", 200)
	waitHTTP(t, "http://"+schedAddr+"/readyz", 200)

	body := "asset_id\n" + strings.Repeat("", 0)
	for i := 1; i <= 1500; i++ {
		body += fmt.Sprintf("%d\n", i)
	}
	post := func(token string) *http.Response {
		req, _ := http.NewRequest("POST", "http://"+apiAddr+"/v1/campaigns?campaign_id=api&name=import", strings.NewReader(body))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Idempotency-Key", "import-1")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := post(""); resp.StatusCode != 401 {
		t.Errorf("no token: %d, want 401", resp.StatusCode)
	}
	if resp := post("wrong-token-0123456789"); resp.StatusCode != 401 {
		t.Errorf("wrong token: %d, want 401", resp.StatusCode)
	}
	resp := post(testToken)
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST csv: %d %s", resp.StatusCode, b)
	}
	// Above the default confirm-above (1000): pending until approved.
	req, _ := http.NewRequest("POST", "http://"+apiAddr+"/v1/campaigns/api/approve", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("approve: %v %v", resp.StatusCode, err)
	}
	e.waitState("api", time.Minute, "done")
	if resp := post(testToken); resp.StatusCode != 200 {
		t.Errorf("same Idempotency-Key again: %d, want 200", resp.StatusCode)
	}

	// The scheduler fires every second; its campaigns complete.
	deadline := time.Now().Add(30 * time.Second)
	var scheduled []statusOut
	for time.Now().Before(deadline) {
		out, _, _ := e.run("campaigns", "--json")
		scheduled = scheduled[:0]
		var all []statusOut
		json.Unmarshal([]byte(out), &all)
		for _, c := range all {
			if strings.HasPrefix(c.ID, "every-second-") && c.State == "done" {
				scheduled = append(scheduled, c)
			}
		}
		if len(scheduled) >= 2 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(scheduled) < 2 {
		t.Fatalf("scheduler: %d finished campaigns, want >= 2", len(scheduled))
	}
	if out, _, code := e.run("schedules", "--config", cfg, "--json"); code != 0 || !strings.Contains(out, "every-second-") {
		t.Errorf("schedules --json: exit %d: %s", code, out)
	}

	exported := map[string]bool{}
	for _, addr := range []string{workerAddr, apiAddr, schedAddr} {
		text := scrape(t, "http://"+addr+"/metrics")
		problems, err := promlint.New(strings.NewReader(text)).Lint()
		if err != nil {
			t.Fatalf("%s: parse metrics: %v", addr, err)
		}
		for _, p := range problems {
			t.Errorf("%s: metric %s: %s", addr, p.Metric, p.Text)
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "# TYPE ") {
				f := strings.Fields(line)
				exported[f[2]] = true
				if f[3] == "histogram" {
					for _, s := range []string{"_bucket", "_sum", "_count"} {
						exported[f[2]+s] = true
					}
				}
			}
		}
	}
	// Queries of the dashboard and the alert rules.
	var queried []string
	nameRe := regexp.MustCompile(`\blabelreset_[a-z0-9_]+`)
	for _, f := range []string{"../../deploy/grafana/dashboards/labelreset.json", "../../deploy/prometheus/rules.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") && !json.Valid(b) {
			t.Fatalf("%s is not valid JSON", f)
		}
		queried = append(queried, nameRe.FindAllString(string(b), -1)...)
	}
	sort.Strings(queried)
	if len(queried) < 10 {
		t.Fatalf("found only %d metric references in the dashboard and rules", len(queried))
	}
	recorded := regexp.MustCompile(`record:\s*(\S+)`)
	rules, _ := os.ReadFile("../../deploy/prometheus/rules.yml")
	for _, m := range recorded.FindAllStringSubmatch(string(rules), -1) {
		exported[m[1]] = true // recording rules define their own names
	}
	for _, m := range queried {
		if !exported[m] {
			t.Errorf("dashboard or rules query %s, which no binary exports", m)
		}
	}
}
