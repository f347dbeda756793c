package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSecretsNeverLeak runs a full campaign with recognisable secrets —
// the PDCP API key, the Redis password and a trigger API token — through
// failures, a 401 block,
// a resume, reports and a re-drive, and searches every byte the binaries
// printed, every Redis key and value (task payloads, ledger) and the
// metrics for them.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const apiKey, redisPW, token = "LRSECRETKEY-7f3a9c0d", "LRSECRETPW-91b2e8", "LRSECRETTOKEN-5c6d7e8f90"
	const n = 1500
	mr := miniredis.NewMiniRedis()
	mr.RequireAuth(redisPW)
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	fake := pdcpfake.NewServer(pdcpfake.Options{APIKey: apiKey, Assets: n - 100, Seed: 9,
		FailFraction: 0.05, FailTimes: -1, InvalidFraction: 0.02, UnauthorizedAfter: 500})
	defer fake.Close()
	dir := t.TempDir()
	e := &e2e{t: t, fake: fake, dir: dir}
	e.env = append(os.Environ(), "REDIS_URL=redis://:"+redisPW+"@"+mr.Addr()+"/0", "LABELRESET_NAMESPACE=lr",
		"PDCP_API_KEY="+apiKey, "PDCP_API_SERVER="+fake.URL(), "HOME="+dir, "LABELRESET_LOG_LEVEL=debug",
		"LABELRESET_API_TOKENS="+token, "LABELRESET_RATE=0")
	var all bytes.Buffer
	capture := func(out, errs string, code int) (string, string, int) {
		all.WriteString(out)
		all.WriteString(errs)
		return out, errs, code
	}

	metricsAddr := freeAddr(t)
	w := e.start("worker", "--metrics-addr", metricsAddr, "--concurrency", "8")
	csv := e.writeIDs("ids.csv", 1, n)
	capture(e.run("submit", "--campaign", "leak", "--csv", csv, "--yes", "--max-attempts", "2",
		"--backoff-base", "5ms", "--backoff-cap", "20ms", "--max-failure-ratio", "1"))
	e.waitState("leak", time.Minute, "blocked")
	capture(e.run("status", "leak", "--json"))
	fake.Fake().Update(func(o *pdcpfake.Options) { o.UnauthorizedAfter = 0 })
	capture(e.run("resume", "leak"))
	e.waitState("leak", time.Minute, "done")
	for _, args := range [][]string{
		{"status", "leak"}, {"campaigns", "--json"}, {"report", "leak"}, {"report", "leak", "--format", "jsonl"},
		{"retry", "leak", "--outcome", "failed"}, {"campaigns"},
		// Errors must not echo secrets either.
		{"status", "leak", "--redis", "redis://:" + redisPW + "-wrong@" + mr.Addr()},
		{"status", "leak", "--redis", "redis://:" + redisPW + "@127.0.0.1:1"},
		{"status", "leak", "--redis", "redis://127.0.0.1:1?password=" + redisPW},
		{"status", "leak", "--redis", "rediss-sentinel://:" + redisPW + "@127.0.0.1:1/mymaster/x"},
		{"status", "leak", "--redis", "redis-cluster://:" + redisPW + "@127.0.0.1:1,,127.0.0.1:2"},
		{"run", "--ids", "1", "--max-attempts", "1", "--api-server", "http://127.0.0.1:1", "--redis", "redis://:" + redisPW + "@" + mr.Addr()},
		{"run", "--ids", "1", "--api-server", "http://10.0.0.1", "--api-key", apiKey},
	} {
		capture(e.run(args...))
	}
	// The trigger API: a campaign created with the token, requests with a
	// wrong one and a malformed body; every response body is captured.
	apiAddr := freeAddr(t)
	api := e.start("serve", "--addr", apiAddr)
	waitHTTP(t, "http://"+apiAddr+"/readyz", 200)
	for _, c := range []struct{ auth, ctype, body string }{
		{"Bearer " + token, "text/csv", "asset_id\n1\n2\nbad\n"},
		{"Bearer " + token + "x", "text/csv", "1\n"},
		{token, "text/csv", "1\n"},
		{"Bearer " + token, "application/json", `{"asset_ids":[1],"token":"` + token + `"}`},
	} {
		req, _ := http.NewRequest("POST", "http://"+apiAddr+"/v1/campaigns?campaign_id=api-leak", strings.NewReader(c.body))
		req.Header.Set("Authorization", c.auth)
		req.Header.Set("Content-Type", c.ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&all, "%d %s %v\n", resp.StatusCode, b, resp.Header)
	}
	for _, path := range []string{"/metrics", "/v1/campaigns"} {
		for _, addr := range []string{metricsAddr, apiAddr} {
			req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			all.Write(body)
		}
	}
	api.cmd.Process.Signal(os.Interrupt)
	<-api.done
	all.WriteString(api.output())
	time.Sleep(time.Second) // the re-drive runs
	w.cmd.Process.Signal(os.Interrupt)
	<-w.done
	all.WriteString(w.output())

	// Every key and value in Redis: campaign meta, ID bitmaps, ledger,
	// asynq task messages (payloads), queues.
	var redisDump bytes.Buffer
	for _, k := range mr.Keys() {
		fmt.Fprintf(&redisDump, "%s\n", k)
		switch mr.Type(k) {
		case "string":
			v, _ := mr.Get(k)
			redisDump.WriteString(v)
		case "hash":
			fields, _ := mr.HKeys(k)
			for _, f := range fields {
				redisDump.WriteString(f + "=" + mr.HGet(k, f) + "\n")
			}
		case "list":
			l, _ := mr.List(k)
			redisDump.WriteString(strings.Join(l, "\n"))
		case "set":
			s, _ := mr.Members(k)
			redisDump.WriteString(strings.Join(s, "\n"))
		case "zset":
			z, _ := mr.ZMembers(k)
			redisDump.WriteString(strings.Join(z, "\n"))
		}
	}
	if redisDump.Len() < 1000 || !strings.Contains(all.String(), "labelreset_assets_processed_total") ||
		!strings.Contains(all.String(), "blocked") {
		t.Fatalf("the test captured too little to mean anything (%d bytes of Redis, %d of output)", redisDump.Len(), all.Len())
	}
	for name, text := range map[string]string{"output and metrics": all.String(), "Redis": redisDump.String()} {
		for _, secret := range []string{apiKey, redisPW, token} {
			if i := strings.Index(text, secret); i >= 0 {
				t.Errorf("%s contain the secret %q: ...%s...", name, secret, text[max(0, i-200):min(len(text), i+100)])
			}
		}
	}
}
