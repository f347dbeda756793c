package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// echoKey is an API key with characters that URL-encoding and JSON
// escaping change, so each encoding is a different string.
const echoKey = "sk-Echo/9f+Key=<&>-77a1c3"

// keyCopies are the forms of echoKey a leak check looks for: as sent,
// URL-encoded both ways, JSON-escaped, and its first 12 bytes (a clipped
// copy).
func keyCopies() []string {
	j, _ := json.Marshal(echoKey)
	return []string{echoKey, url.QueryEscape(echoKey), url.PathEscape(echoKey),
		lowerHex(url.QueryEscape(echoKey)), string(j[1 : len(j)-1]), echoKey[:12]}
}

// TestErrorBodiesEchoingTheKey: a PDCP (or a proxy in front of it) that
// echoes the API key in an error body, in any encoding and in any field,
// leaves no copy of it in anything the client keeps: the Result's
// Error() (the ledger's last error), its APIError fields and its Err.
func TestErrorBodiesEchoingTheKey(t *testing.T) {
	q, j := url.QueryEscape(echoKey), strings.Trim(mustJSON(echoKey), `"`)
	lowerQ := lowerHex(q)
	uEsc := ""
	for _, r := range echoKey {
		uEsc += fmt.Sprintf(`\u%04x`, r)
	}
	pad := strings.Repeat("x", maxFieldBytes-6) // the key straddles the clip
	bodies := []struct {
		name   string
		status int
		body   string
	}{
		{"400 message", 400, `{"message":"` + j + ` is not valid here","code":"INVALID_KEY"}`},
		{"400 error field", 400, `{"error":"key ` + j + ` rejected"}`},
		{"500 error_id and code", 500, `{"message":"boom","code":"` + j + `","error_id":"` + j + `"}`},
		{"400 URL-encoded", 400, `{"message":"GET /v1?api_key=` + q + ` denied"}`},
		{"400 URL-encoded lower-case hex", 400, `{"message":"GET /v1?api_key=` + lowerQ + ` denied"}`},
		{"400 fully \\u-escaped", 400, `{"message":"` + uEsc + `"}`},
		{"400 key at the clip", 400, `{"message":"` + pad + j + `"}`},
		{"500 plain text", 500, "upstream rejected X-Api-Key: " + echoKey},
		{"500 plain text URL-encoded", 500, "proxy: /v1/asset?key=" + lowerQ},
		{"500 plain text JSON-escaped", 500, `{"message":"` + uEsc + `"` /* unparsable: cut short */},
		{"502 key after 80 bytes", 502, strings.Repeat("y", 70) + echoKey},
	}
	script := map[int64][]pdcpfake.Reply{}
	for i, b := range bodies {
		script[int64(i+1)] = []pdcpfake.Reply{{Status: b.status, Body: b.body,
			Header: map[string]string{"X-Echo-Api-Key": echoKey}}}
	}
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: echoKey, Assets: len(bodies), Script: script})
	defer srv.Close()
	c := newTestClient(t, srv.URL(), func(c *Config) { c.APIKey = echoKey })
	for i, b := range bodies {
		res := c.DeleteLabels(context.Background(), int64(i+1))
		observe(t, res)
		if res.Status != b.status {
			t.Fatalf("%s: status %d (%s), want %d", b.name, res.Status, res.Error(), b.status)
		}
		texts := renderings(res)
		if res.API != nil {
			texts = append(texts, res.API.Message, res.API.Code, res.API.ErrorID, fmt.Sprintf("%+v", *res.API))
		}
		if !strings.Contains(strings.Join(texts, "\n"), redactedMark[:6]) { // the clip may cut the mark
			t.Errorf("%s: no %s in %q: the echoed key was not recognised", b.name, redactedMark, res.Error())
		}
	check:
		for _, text := range texts {
			for _, k := range keyCopies() {
				if strings.Contains(text, k) {
					t.Errorf("%s: a copy of the API key (%q) in %q", b.name, k, text)
					break check
				}
			}
		}
	}
}

func mustJSON(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestRedactLeavesOtherTextAlone: text without the key is returned as it
// is, escapes included.
func TestRedactLeavesOtherTextAlone(t *testing.T) {
	r := newRedactor(echoKey)
	for _, s := range []string{"", "HTTP 500: boom", `path %2F and \u00e9 stay`, "sk-Echo/9f+Key",
		strings.ToLower(echoKey) /* another key */} {
		if got := r.redact(s); got != s {
			t.Errorf("redact(%q) = %q, want it unchanged", s, got)
		}
	}
	if got := (redactor{}).redact("anything " + echoKey); got != "anything "+echoKey {
		t.Errorf("a client without a key changed text: %q", got)
	}
}
