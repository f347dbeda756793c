package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestAPIKeyEchoedByPDCP: PDCP (or a proxy in front of it) answers with
// error bodies that echo the API key — as sent, URL-encoded, JSON-escaped,
// in message, code and error_id, in 400s (final) and 500s (retried until
// the attempts run out), and in a response header. After the campaign,
// no copy of the key is in the ledger (every Redis value of the test's
// namespace), the CSV and JSONL reports, status or the worker's debug
// log; the report rows carry [REDACTED] instead.
func TestAPIKeyEchoedByPDCP(t *testing.T) {
	const key = "sk-LREcho/4e+Key=<&>-90ab12"
	const n = 40
	j, _ := json.Marshal(key)
	esc := strings.Trim(string(j), `"`)
	q := url.QueryEscape(key)
	hdr := map[string]string{"X-Echo-Api-Key": key}
	fail := func(status int, body string, times int) []pdcpfake.Reply {
		out := make([]pdcpfake.Reply, times)
		for i := range out {
			out[i] = pdcpfake.Reply{Status: status, Body: body, Header: hdr}
		}
		return out
	}
	script := map[int64][]pdcpfake.Reply{
		1: fail(400, `{"message":"`+esc+` is not valid here","code":"INVALID_KEY"}`, 1),
		2: fail(400, `{"error":"api_key=`+q+` rejected","error_id":"`+esc+`"}`, 1),
		3: fail(500, `{"message":"upstream","code":"`+esc+`","error_id":"req-`+esc+`"}`, 2),
		4: fail(500, "proxy said: X-Api-Key "+key+" unknown", 2),
		5: fail(502, "<html>"+lowerHex(q)+"</html>", 2),
		6: fail(422, `{"message":"`+strings.Repeat("x", 30)+esc+`"}`, 1),
	}
	e := newE2E(t, pdcpfake.Options{APIKey: key, Assets: n, Script: script})
	e.env = append(e.env, "LABELRESET_LOG_LEVEL=debug")
	w := e.startWorker()
	csv := e.writeIDs("ids.csv", 1, n)
	var out strings.Builder
	capture := func(args ...string) {
		stdout, stderr, code := e.run(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		out.WriteString(stdout + stderr)
	}
	capture("submit", "--campaign", "echo", "--csv", csv, "--yes", "--max-attempts", "2",
		"--backoff-base", "5ms", "--backoff-cap", "20ms", "--max-failure-ratio", "1")
	e.waitState("echo", time.Minute, "done")
	capture("status", "echo")
	capture("status", "echo", "--json")
	capture("report", "echo", "--format", "jsonl")
	rows := e.report("echo")
	for id := int64(1); id <= 6; id++ {
		row := strings.Join(rows[id], ",")
		out.WriteString(row + "\n")
		// Assets 4 and 5 end reset (two 5xx, then a 200): they keep no
		// error. The others keep theirs, the key in it redacted.
		if id != 4 && id != 5 && !strings.Contains(row, "[REDAC") {
			t.Errorf("report row of asset %d: %q, want its error with [REDACTED]", id, row)
		}
	}

	// Every Redis key and value of the namespace: campaign meta, ledger,
	// asynq task messages.
	ctx := context.Background()
	rdb := e.redis.Client
	var dump strings.Builder
	for _, pat := range []string{e.redis.Namespace + ":*", "asynq:{" + e.redis.Namespace + "-*"} {
		iter := rdb.Scan(ctx, 0, pat, 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			fmt.Fprintln(&dump, k)
			switch rdb.Type(ctx, k).Val() {
			case "hash":
				for f, v := range rdb.HGetAll(ctx, k).Val() {
					fmt.Fprintf(&dump, "%s=%s\n", f, v)
				}
			case "string":
				dump.WriteString(rdb.Get(ctx, k).Val())
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(dump.String(), "[REDACTED]") {
		t.Errorf("the ledger holds no redacted error: the test looked at the wrong keys (%d bytes)", dump.Len())
	}

	w.cmd.Process.Signal(syscall.SIGTERM)
	<-w.done
	copies := []string{key, q, lowerHex(q), esc, key[:12]}
	for name, text := range map[string]string{"CLI output and reports": out.String(), "ledger (Redis)": dump.String(), "worker log": w.output()} {
		for _, c := range copies {
			if i := strings.Index(text, c); i >= 0 {
				t.Errorf("%s hold a copy of the API key (%q): ...%s...", name, c, text[max(0, i-120):min(len(text), i+60)])
			}
		}
	}
}

// lowerHex is s with its %XX escapes in lower-case hex (%2f, not %2F).
func lowerHex(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			b.WriteString(strings.ToLower(s[i : i+3]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
