package httpapi_test

// Token scope: a token's rights come from one place, team-scoped tokens
// learn nothing of other teams' campaigns, and list what is theirs.

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs/httpapi"
)

const (
	scopeTokA = "scope-token-a-0123456789abcdef"
	scopeTokB = "scope-token-b-0123456789abcdef"
)

// withToken returns q sent with the bearer token tok.
func withToken(tok string, q req) req {
	h := map[string]string{"Authorization": "Bearer " + tok}
	for k, v := range q.header {
		h[k] = v
	}
	q.header = h
	return q
}

func writeTokenFile(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
	return p
}

func teamEntry(name, tok, roles, team string) string {
	return "  - name: " + name + "\n    token: " + tok + "\n    roles: [" + roles + "]\n    teams: [" + team + "]\n"
}

// TestTokenInFileAndPlainListIsRefused: the same secret in the token file
// and in the plain list (LABELRESET_API_TOKENS: operator and approver of
// every team) would act with the file's rights while both hold it and with
// the plain list's once removed from the file, so that revoking it there
// would widen its rights. It is a configuration error at start and at a
// reload, naming the entry and never the token; while a reload is refused
// for it, the token is refused altogether.
func TestTokenInFileAndPlainListIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	dup := "tokens:\n" + teamEntry("dash", scopeTokA, "viewer", "team-a") + teamEntry("keep", scopeTokB, "viewer", "team-a")
	p := writeTokenFile(t, dup, 0o600)
	_, err := httpapi.New(httpapi.Config{Store: e.store, Tokens: []string{"plain-other-0123456789", scopeTokA},
		TokenFile: p, TokenReloadInterval: -1, Logger: quietLogger()})
	if err == nil {
		t.Fatal("a token both in the plain list and in the token file was accepted at start")
	}
	if !strings.Contains(err.Error(), `"dash"`) || !strings.Contains(err.Error(), "plain") || strings.Contains(err.Error(), scopeTokA) {
		t.Fatalf("start error %q: want the entry \"dash\" and the plain list named, and no token", err)
	}

	// Reload: the file gains the plain list's token.
	p = writeTokenFile(t, "tokens:\n"+teamEntry("keep", scopeTokB, "viewer", "team-a"), 0o600)
	var logs bytes.Buffer
	s, err := httpapi.New(httpapi.Config{Store: e.store, Tokens: []string{scopeTokA}, TokenFile: p,
		TokenReloadInterval: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(dup), 0o600); err != nil {
		t.Fatal(err)
	}
	err = s.ReloadTokens()
	if err == nil || !strings.Contains(err.Error(), `"dash"`) || strings.Contains(err.Error(), scopeTokA) {
		t.Fatalf("reload error %v: want one naming \"dash\" and no token", err)
	}
	if s.MatchToken(scopeTokA) {
		t.Fatal("after a reload refused for a token in both the file and the plain list, the token is still accepted (with the plain list's rights)")
	}
	if strings.Contains(logs.String(), scopeTokA) {
		t.Fatal("the log holds the token")
	}
}

// TestTokenFileNamesAreUniqueIgnoringCase: "Op" and "op" would read as one
// actor in the audit log.
func TestTokenFileNamesAreUniqueIgnoringCase(t *testing.T) {
	e := newEnv(t, nil)
	p := writeTokenFile(t, "tokens:\n"+teamEntry("op", scopeTokA, "viewer", "team-a")+teamEntry("Op", scopeTokB, "viewer", "team-a"), 0o600)
	_, err := httpapi.New(httpapi.Config{Store: e.store, TokenFile: p, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Fatalf("names op and Op: err %v, want \"used twice\"", err)
	}
}

// TestTokenFileReadableByOthersWarns: a token file holding plaintext
// tokens that group or others may read is worth a warning at load (once);
// one holding only token_sha256 digests is not. A digest cannot prove the
// token's length, so only the plaintext forms are held to MinTokenLength
// (see docs/http-api.md).
func TestTokenFileReadableByOthersWarns(t *testing.T) {
	e := newEnv(t, nil)
	digest := "  - name: ci\n    token_sha256: " + strings.Repeat("ab", 32) + "\n    roles: [viewer]\n    teams: [team-a]\n"
	for _, tc := range []struct {
		name, body string
		mode       os.FileMode
		warn       bool
	}{
		{"plaintext 0644", "tokens:\n" + teamEntry("op", scopeTokA, "viewer", "team-a"), 0o644, true},
		{"plaintext 0640", "tokens:\n" + teamEntry("op", scopeTokA, "viewer", "team-a"), 0o640, true},
		{"plain list 0604", scopeTokA + "\n", 0o604, true},
		{"plaintext 0600", "tokens:\n" + teamEntry("op", scopeTokA, "viewer", "team-a"), 0o600, false},
		{"digests only 0644", "tokens:\n" + digest, 0o644, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTokenFile(t, tc.body, tc.mode)
			var logs bytes.Buffer
			s, err := httpapi.New(httpapi.Config{Store: e.store, TokenFile: p, TokenReloadInterval: -1,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			n := strings.Count(logs.String(), "readable by")
			if tc.warn && n != 1 || !tc.warn && n != 0 {
				t.Fatalf("%d warnings, want warn=%v; log:\n%s", n, tc.warn, logs.String())
			}
			if strings.Contains(logs.String(), scopeTokA) {
				t.Fatal("the log holds the token")
			}
			_ = s
		})
	}
}

// TestCreateWithAnotherTeamsCampaignIDIsRefusedAsForbidden: GET hides a
// campaign of another team as "not found". Creating with its ID cannot
// succeed (campaign IDs are one namespace), but the refusal must not say
// "taken" (409, as for a conflict among the token's own campaigns): it is
// the 403 campaign_id_unavailable, which says nothing about who holds the
// ID or whether anybody does.
func TestCreateWithAnotherTeamsCampaignIDIsRefusedAsForbidden(t *testing.T) {
	p := writeTokenFile(t, "tokens:\n"+teamEntry("a", scopeTokA, "operator", "team-a")+teamEntry("b", scopeTokB, "operator", "team-b"), 0o600)
	e := newEnv(t, func(c *httpapi.Config) { c.Tokens, c.TokenFile, c.TokenReloadInterval = nil, p, -1 })
	create := func(tok, team string) resp {
		return e.do(withToken(tok, req{method: http.MethodPost, path: "/v1/campaigns?team_id=" + team + "&campaign_id=merger-2027",
			ctype: "text/csv", body: csvBody(idLines(1, 5)...)}))
	}
	if r := create(scopeTokB, "team-b"); r.status != http.StatusCreated {
		t.Fatalf("b create: %d %s", r.status, r.body)
	}
	get := e.do(withToken(scopeTokA, req{method: http.MethodGet, path: "/v1/campaigns/merger-2027"}))
	post := create(scopeTokA, "team-a")
	if get.status != http.StatusNotFound || post.status != http.StatusForbidden || post.errCode(t) != "campaign_id_unavailable" {
		t.Fatalf("token of team-a, team-b's campaign ID: GET %d, POST %d %s; want 404 and 403 campaign_id_unavailable", get.status, post.status, post.body)
	}
	for _, leak := range []string{"team-b", "taken", "exists", `"b"`} {
		if strings.Contains(string(post.body), leak) {
			t.Fatalf("POST body %s tells %q", post.body, leak)
		}
	}
	appendR := e.do(withToken(scopeTokA, req{method: http.MethodPost, path: "/v1/campaigns?team_id=team-a&campaign_id=merger-2027&append=true",
		ctype: "text/csv", body: csvBody(idLines(10, 5)...)}))
	if appendR.status != post.status || string(appendR.body) != string(post.body) {
		t.Fatalf("append with team-b's ID: %d %s; want the same answer as create: %d %s", appendR.status, appendR.body, post.status, post.body)
	}
}

// TestListCampaignsFillsLimitWithTheTokensTeams: a team-scoped token gets
// up to limit of its own teams' campaigns however many newer campaigns of
// other teams there are.
func TestListCampaignsFillsLimitWithTheTokensTeams(t *testing.T) {
	p := writeTokenFile(t, "tokens:\n"+teamEntry("a", scopeTokA, "operator", "team-a")+teamEntry("b", scopeTokB, "operator", "team-b"), 0o600)
	e := newEnv(t, func(c *httpapi.Config) { c.Tokens, c.TokenFile, c.TokenReloadInterval = nil, p, -1 })
	create := func(tok, team, id string) {
		t.Helper()
		r := e.do(withToken(tok, req{method: http.MethodPost, path: "/v1/campaigns?team_id=" + team + "&campaign_id=" + id,
			ctype: "text/csv", body: csvBody(idLines(1, 2)...)}))
		if r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, r.status, r.body)
		}
	}
	for i := range 3 {
		create(scopeTokA, "team-a", fmt.Sprintf("a-%d", i))
	}
	for i := range 150 {
		create(scopeTokB, "team-b", fmt.Sprintf("b-%03d", i))
	}
	list := func(q string) []any {
		t.Helper()
		r := e.do(withToken(scopeTokA, req{method: http.MethodGet, path: "/v1/campaigns" + q}))
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		return r.json(t)["campaigns"].([]any)
	}
	if got := list("?limit=2"); len(got) != 2 {
		t.Fatalf("limit=2: %d campaigns of team-a, want 2", len(got))
	}
	got := list("")
	if len(got) != 3 {
		t.Fatalf("default limit: %d campaigns of team-a listed, want all 3 (150 newer campaigns of team-b must not crowd them out)", len(got))
	}
	for _, c := range got {
		if id := c.(map[string]any)["id"]; !strings.HasPrefix(fmt.Sprint(id), "a-") {
			t.Fatalf("token of team-a sees %v", id)
		}
	}
}
