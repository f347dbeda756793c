package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestRedactKeyShapes (second review of issue 15 item 15, finding 6): a
// server or proxy that echoes the API key in a shape other than the
// key's URL or JSON encodings — base64 (a proxy logging the
// Authorization/X-Api-Key header it decoded), upper case, or the first
// part of the key followed by an ellipsis ("key sk-live-3f9a2b7c… is
// revoked", a common API idiom) — must not leave the key or a long
// prefix of it in anything the client keeps (Result.Error(), which the
// ledger and reports store).
func TestRedactKeyShapes(t *testing.T) {
	const key = "sk-live-3f9a2b7c1d4e5f60718293a4b5c6d7e8"
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	bodies := []struct {
		name, body, secret string
	}{
		{"base64", `{"message":"invalid credentials ` + b64 + `"}`, b64},
		{"upper case", `{"message":"KEY ` + strings.ToUpper(key) + ` NOT VALID"}`, strings.ToUpper(key)},
		{"prefix with ellipsis", `{"message":"key ` + key[:30] + `... is revoked"}`, key[:30]},
	}
	script := map[int64][]pdcpfake.Reply{}
	for i, b := range bodies {
		script[int64(i+1)] = []pdcpfake.Reply{{Status: 400, Body: b.body}}
	}
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: key, Assets: len(bodies), Script: script})
	defer srv.Close()
	cfg := Config{APIKey: key, Server: srv.URL()}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer c.CloseIdleConnections()
	for i, b := range bodies {
		res := c.DeleteLabels(context.Background(), int64(i+1))
		texts := []string{res.Error(), fmt.Sprintf("%+v", res)}
		for _, text := range texts {
			if strings.Contains(text, b.secret) {
				t.Errorf("%s: the API key (as %q) is kept in %q", b.name, b.secret, text)
				break
			}
		}
	}
}

// TestRedactKeyShapesDirect: every base64 alphabet with and without
// padding, any case of a single-case key, and a prefix of 8 or more
// characters cut with an ellipsis are redacted (also "sk-live-…": the
// brief chose over-redaction there); shorter prefixes, a prefix shorter
// than 16 characters not followed by an ellipsis, and another key stay.
func TestRedactKeyShapesDirect(t *testing.T) {
	const key = "sk-live-3f9a2b7c1d4e5f60718293a4b5c6d7e8"
	r := newRedactor(key)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		k2 := key + "??>" // a key whose encodings differ by alphabet
		r2 := newRedactor(k2)
		for _, c := range []struct {
			r      redactor
			secret string
		}{{r, enc.EncodeToString([]byte(key))}, {r2, enc.EncodeToString([]byte(k2))}} {
			if got := c.r.redact("auth " + c.secret + " denied"); strings.Contains(got, c.secret) || !strings.Contains(got, redactedMark) {
				t.Errorf("base64 %q kept: %q", c.secret, got)
			}
		}
	}
	for _, s := range []string{
		"KEY SK-LIVE-3F9A2B7C1D4E5F60718293A4B5C6D7E8 NOT VALID",
		"key Sk-Live-3F9a2b7c1d4e5f60718293a4b5c6d7e8 not valid",
		"key sk-live-3f9a… is revoked",
		"keys look like sk-live-… here",
		"key SK-LIVE-3F9A2B7C... is revoked",
		"key sk-live-3f9a2b7c1d4e5 is revoked", // 21 characters, whatever follows
		`{"message":"key sk-live-3f9a2b7c\u2026 is revoked"}`,
	} {
		got := r.redact(s)
		if !strings.Contains(got, redactedMark) || strings.Contains(asciiLower(got), "sk-live-") {
			t.Errorf("redact(%q) = %q, want the key or its prefix gone", s, got)
		}
	}
	for _, s := range []string{
		"keys look like sk-live… and are 40 characters", // 7 characters
		"prefix sk-live-3f9a2b7 ends the text",
		"sk-live-3f9a2b7",
		"SK-LIVE-4F9A2B7C1D4E5F60718293A4B5C6D7E8 is another key",
	} {
		if got := r.redact(s); got != s {
			t.Errorf("redact(%q) = %q, want it unchanged", s, got)
		}
	}
}
