package httpapi_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
	"github.com/labelreset/labelreset/jobs/redistest"
)

func TestTokenComparison(t *testing.T) {
	toks := []string{"first-token-0123456789", "second-token-abcdefghij", "third-token-ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
	store := jobs.NewStore(redistest.New(t).Client, jobs.StoreOptions{})
	s, err := httpapi.New(httpapi.Config{Store: store, Tokens: toks, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if !s.MatchToken(tok) {
			t.Errorf("configured token %.6s... rejected", tok)
		}
	}
	for _, tok := range []string{"", "first-token-012345678", "first-token-0123456789 ", "FIRST-TOKEN-0123456789",
		"second-token-abcdefghijk", strings.Repeat("x", 4096), "first-token-0123456789second-token-abcdefghij"} {
		if s.MatchToken(tok) {
			t.Errorf("token %q accepted", tok)
		}
	}
	if a, b := httpapi.OwnerID(toks[0]), httpapi.OwnerID(toks[1]); a == b || len(a) != 16 || !strings.HasPrefix(a, "tok:") || strings.Contains(a, "token") {
		t.Errorf("owner IDs %q %q: want distinct tok:<12 hex>", a, b)
	}
}

func TestNewConfigErrors(t *testing.T) {
	store := jobs.NewStore(redistest.New(t).Client, jobs.StoreOptions{})
	for _, tc := range []struct {
		name string
		cfg  httpapi.Config
		want string
	}{
		{"no store", httpapi.Config{Tokens: []string{"0123456789abcdef"}}, "Store is required"},
		{"no tokens", httpapi.Config{Store: store}, "no API tokens"},
		{"short token", httpapi.Config{Store: store, Tokens: []string{"0123456789abcdef", "secret"}}, "token 2 of 2: 6 characters"},
		{"spaces", httpapi.Config{Store: store, Tokens: []string{"0123456789 abcdef"}}, "whitespace"},
		{"both", httpapi.Config{Store: store, Tokens: []string{"0123456789abcdef"}, InsecureNoAuth: true}, "InsecureNoAuth"},
		{"batch", httpapi.Config{Store: store, InsecureNoAuth: true, Defaults: httpapi.Defaults{BatchSize: jobs.MaxBatchSize + 1}}, "batch size"},
		{"priority", httpapi.Config{Store: store, InsecureNoAuth: true, Defaults: httpapi.Defaults{Priority: "urgent"}}, "priority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := httpapi.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error echoes a token: %v", err)
			}
		})
	}
}

func TestParseTokens(t *testing.T) {
	got := httpapi.ParseTokens(" a ,b\n\n c\r\n,, d ")
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("ParseTokens = %q, want %q", got, want)
	}
	if got := httpapi.ParseTokens(" , \n"); len(got) != 0 {
		t.Errorf("ParseTokens of separators = %q, want none", got)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens")
	os.WriteFile(p, []byte("# ops team\ntoken-one-0123456789\n  token-two-0123456789  \n"), 0o600)
	toks, err := httpapi.LoadTokenFile(p)
	if err != nil || !slices.Equal(toks, []string{"token-one-0123456789", "token-two-0123456789"}) {
		t.Errorf("LoadTokenFile = %q, %v", toks, err)
	}
	os.WriteFile(p, []byte("# nothing\n\n"), 0o600)
	if _, err := httpapi.LoadTokenFile(p); err == nil {
		t.Error("LoadTokenFile of a file without tokens: no error")
	}
	if _, err := httpapi.LoadTokenFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadTokenFile of a missing file: no error")
	}
}
