package httpapi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
	"github.com/labelreset/labelreset/jobs/redistest"
)

const secretTok = "s3cret-token-value-0123456789"

// TestTokenFileErrors: a token file that would grant more than it says,
// or is ambiguous, is refused at start with the entry named - and never
// the token itself.
func TestTokenFileErrors(t *testing.T) {
	store := jobs.NewStore(redistest.New(t).Client, jobs.StoreOptions{})
	entry := func(extra string) string {
		return "tokens:\n  - name: ci\n    token: " + secretTok + "\n" + extra
	}
	for _, tc := range []struct{ name, file, want string }{
		{"no teams", entry("    roles: [operator]\n"), "no teams"},
		{"empty teams", entry("    roles: [operator]\n    teams: []\n"), "no teams"},
		{"no roles", entry("    teams: [a]\n"), "no roles"},
		{"unknown role", entry("    roles: [admin]\n    teams: [a]\n"), `role "admin"`},
		{"typo in a key", entry("    roles: [viewer]\n    teams: [a]\n    self_aprove: true\n"), "self_aprove"},
		{"role list of a string", entry("    roles: " + secretTok + "x\n    teams: [a]\n"), "line 4"},
		{"no token", "tokens:\n  - name: ci\n    roles: [viewer]\n    teams: [a]\n", "no token"},
		{"both", entry("    token_sha256: " + strings.Repeat("ab", 32) + "\n    roles: [viewer]\n    teams: [a]\n"), "not both"},
		{"bad digest", "tokens:\n  - name: ci\n    token_sha256: xyz\n    roles: [viewer]\n    teams: [a]\n", "64 hex"},
		{"short token", "tokens:\n  - name: ci\n    token: short\n    roles: [viewer]\n    teams: [a]\n", "5 characters"},
		{"bad name", "tokens:\n  - name: \"a b\"\n    token: " + secretTok + "\n    roles: [viewer]\n    teams: [a]\n", "name"},
		{"same name twice", entry("    roles: [viewer]\n    teams: [a]\n  - name: ci\n    token: other-token-0123456789\n    roles: [viewer]\n    teams: [a]\n"), "used twice"},
		{"same token twice", entry("    roles: [viewer]\n    teams: [a]\n  - name: ci2\n    token: " + secretTok + "\n    roles: [viewer]\n    teams: [a]\n"), "listed twice"},
		{"yaml syntax", "tokens:\n  - name: ci\n    token: \"" + secretTok + "\n", "line"},
		{"no entries", "tokens: []\n", "holds no token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tokens.yaml")
			os.WriteFile(p, []byte(tc.file), 0o600)
			_, err := httpapi.New(httpapi.Config{Store: store, TokenFile: p, Logger: quietLogger()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error echoes a token: %v", err)
			}
		})
	}
}

// TestTokenFileFormats: the same principals from YAML and JSON, and the
// plain list in a file still works.
func TestTokenFileFormats(t *testing.T) {
	store := jobs.NewStore(redistest.New(t).Client, jobs.StoreOptions{})
	for name, file := range map[string]string{
		"yaml":  "# ops\ntokens:\n  - name: ci\n    token: " + secretTok + "\n    roles: [viewer]\n    teams: [\"*\"]\n",
		"json":  `{"tokens": [{"name": "ci", "token": "` + secretTok + `", "roles": ["viewer"], "teams": ["*"]}]}`,
		"plain": "# ops\n" + secretTok + "\n",
	} {
		p := filepath.Join(t.TempDir(), "tokens")
		os.WriteFile(p, []byte(file), 0o600)
		s, err := httpapi.New(httpapi.Config{Store: store, TokenFile: p, Logger: quietLogger()})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !s.MatchToken(secretTok) || s.MatchToken(secretTok+"x") {
			t.Errorf("%s: the file's token is not matched exactly", name)
		}
	}
}
