package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credentials.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveConfigPrecedence(t *testing.T) {
	// The official format written by pdtm / nuclei -auth: a list; the first
	// entry wins.
	file := writeFile(t, `- username: someone
  email: someone@example.com
  api-key: file-key
  server: https://file.example.com
  team-id: file-team
- api-key: second-entry-key
`)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	allEnv := map[string]string{EnvAPIKey: "env-key", EnvServer: "https://env.example.com", EnvTeamID: "env-team"}
	tests := []struct {
		name  string
		flags Config
		env   map[string]string
		file  string
		want  Config
	}{
		{"file only", Config{}, nil, file, Config{APIKey: "file-key", Server: "https://file.example.com", TeamID: "file-team"}},
		{"env over file", Config{}, allEnv, file, Config{APIKey: "env-key", Server: "https://env.example.com", TeamID: "env-team"}},
		{"flags over env", Config{APIKey: "flag-key", Server: "https://flag.example.com", TeamID: "flag-team"}, allEnv, file,
			Config{APIKey: "flag-key", Server: "https://flag.example.com", TeamID: "flag-team"}},
		{"field by field", Config{TeamID: "flag-team"}, map[string]string{EnvServer: "https://env.example.com"}, file,
			Config{APIKey: "file-key", Server: "https://env.example.com", TeamID: "flag-team"}},
		{"default server", Config{}, map[string]string{EnvAPIKey: "env-key"}, "", Config{APIKey: "env-key", Server: DefaultServer}},
		{"missing file is fine", Config{}, map[string]string{EnvAPIKey: "env-key"}, filepath.Join(t.TempDir(), "nope.yaml"),
			Config{APIKey: "env-key", Server: DefaultServer}},
		{"single mapping accepted", Config{}, nil, writeFile(t, "api-key: map-key\n"), Config{APIKey: "map-key", Server: DefaultServer}},
		{"other fields kept", Config{MaxConns: 9, AllowInsecureHTTP: true}, map[string]string{EnvAPIKey: "k"}, "",
			Config{APIKey: "k", Server: DefaultServer, MaxConns: 9, AllowInsecureHTTP: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveConfig(tc.flags, env(tc.env), tc.file)
			if err != nil {
				t.Fatalf("ResolveConfig: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b Config) bool {
				return a.APIKey == b.APIKey && a.Server == b.Server && a.TeamID == b.TeamID &&
					a.MaxConns == b.MaxConns && a.AllowInsecureHTTP == b.AllowInsecureHTTP
			})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveConfigErrors(t *testing.T) {
	secretish := "api-key: [" + testKey + "\n  unbalanced: {"
	malformed := writeFile(t, secretish)
	dir := t.TempDir() // a directory: opens, but cannot be read
	noEnv := func(string) string { return "" }
	tests := []struct {
		name   string
		path   string
		want   error
		inMsg  []string
		getenv func(string) string
	}{
		{"no key anywhere", "", ErrNoAPIKey, []string{EnvAPIKey, "credentials.yaml"}, noEnv},
		{"empty list", writeFile(t, "[]\n"), ErrNoAPIKey, nil, noEnv},
		{"malformed file", malformed, ErrConfig, []string{malformed, "malformed"}, noEnv},
		{"unreadable file", dir, ErrConfig, []string{dir}, noEnv},
		{"http server from env", "", ErrConfig, []string{"http://"}, func(k string) string {
			return map[string]string{EnvAPIKey: "k", EnvServer: "http://pdcp.example.com"}[k]
		}},
		{"key with newline", "", ErrConfig, []string{"newline"}, func(k string) string {
			return map[string]string{EnvAPIKey: "k\x00x"}[k]
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ResolveConfig(Config{}, tc.getenv, tc.path)
			observe(t, err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, s := range tc.inMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "unbalanced") {
				t.Errorf("error %q quotes the credentials file", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"ok", Config{APIKey: "k"}, nil},
		{"no key", Config{}, ErrNoAPIKey},
		{"negative timeout", Config{APIKey: "k", Timeout: -1}, ErrConfig},
		{"negative conns", Config{APIKey: "k", MaxConns: -1}, ErrConfig},
		{"team with CR", Config{APIKey: "k", TeamID: "a\rb"}, ErrConfig},
		{"user agent with LF", Config{APIKey: "k", UserAgent: "x\ny"}, ErrConfig},
		{"user agent with spaces", Config{APIKey: "k", UserAgent: "labelreset/1 (ci)"}, nil},
		{"bad url", Config{APIKey: "k", Server: "://x"}, ErrConfig},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		observe(t, err)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestDefaultCredentialsPath(t *testing.T) {
	t.Setenv("HOME", "/home/someone")
	if got, want := DefaultCredentialsPath(), "/home/someone/.pdcp/credentials.yaml"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestConfigAndClientNeverPrintKey(t *testing.T) {
	cfg := Config{APIKey: testKey, Server: "https://api.example.com", TeamID: "t"}
	observe(t, cfg)
	observe(t, &cfg)
	c := newTestClient(t, cfg.Server)
	observe(t, c)
	observe(t, *c)
	observe(t, c.WithTeam("x"))
	if s := cfg.String(); !strings.Contains(s, "APIKey: set") {
		t.Errorf("got %q, want it to say the key is set", s)
	}
}

// TestNormalizeServer: one server, one form (scheme, host case, default
// port, trailing slash, a host's trailing dot), so campaigns and workers compare equal.
func TestNormalizeServer(t *testing.T) {
	for in, want := range map[string]string{
		"":                                    DefaultServer,
		"https://API.ProjectDiscovery.io/":    DefaultServer,
		"HTTPS://api.projectdiscovery.io:443": DefaultServer,
		"http://127.0.0.1:80/":                "http://127.0.0.1",
		"http://127.0.0.1:8085//":             "http://127.0.0.1:8085",
		"https://pdcp.example.com:8443/api/":  "https://pdcp.example.com:8443/api",
		"http://[::1]:9000":                   "http://[::1]:9000",
		// A fully qualified name's trailing dot names the same host.
		"https://api.projectdiscovery.io.":      DefaultServer,
		"https://API.projectdiscovery.io.:443/": DefaultServer,
		"http://pdcp.example.com.:8085/api":     "http://pdcp.example.com:8085/api",
	} {
		got, err := NormalizeServer(in)
		if err != nil || got != want {
			t.Errorf("NormalizeServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ftp://x", "https://", "https://u:p@h", "https://h/?q=1", "not a url", "https://.", "https://.:443"} {
		if got, err := NormalizeServer(in); err == nil {
			t.Errorf("NormalizeServer(%q) = %q, want an error", in, got)
		}
	}
}
