package console_test

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs/console"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

func TestSignInSetsAStrictHttpOnlyCookieAndGoesToTheList(t *testing.T) {
	u := newUI(t, nil)
	c := u.browser()
	res := u.post(c, "/ui/login", url.Values{"token": {operatorToken}, "next": {"/ui/?state=running"}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/ui/?state=running" {
		t.Fatalf("sign in: %d to %q", res.status, res.header.Get("Location"))
	}
	ck := res.header.Get("Set-Cookie")
	for _, want := range []string{console.CookieName + "=", "HttpOnly", "SameSite=Strict", "Path=/ui/"} {
		if !strings.Contains(ck, want) {
			t.Errorf("cookie %q lacks %s", ck, want)
		}
	}
	if strings.Contains(ck, "Secure") {
		t.Errorf("cookie %q is Secure on a server without TLS: no browser would send it back", ck)
	}
	if strings.Contains(ck, operatorToken) {
		t.Fatal("the cookie holds the token")
	}
	list := u.get(c, "/ui/")
	if list.status != http.StatusOK || !strings.Contains(list.body, `id="campaigns"`) || !strings.Contains(list.body, `id="whoami"`) {
		t.Fatalf("list after sign in: %d %s", list.status, list.body)
	}
	// Nothing Redis holds is the cookie or the token.
	for _, k := range u.redis.Client.Keys(t.Context(), u.redis.Namespace+":ui:*").Val() {
		for _, v := range u.redis.Client.HGetAll(t.Context(), k).Val() {
			if strings.Contains(v, operatorToken) || strings.Contains(k+v, strings.TrimPrefix(strings.Split(ck, ";")[0], console.CookieName+"=")) {
				t.Fatalf("session %s holds a secret", k)
			}
		}
	}
}

func TestSignInRefusesABadTokenAndAnOffSiteNext(t *testing.T) {
	u := newUI(t, nil)
	c := u.browser()
	res := u.post(c, "/ui/login", url.Values{"token": {"not-a-token-of-this-server"}})
	if res.status != http.StatusUnauthorized || !strings.Contains(res.body, `id="error"`) || !strings.Contains(res.body, `id="login"`) {
		t.Fatalf("bad token: %d %s", res.status, res.body)
	}
	if strings.Contains(res.body, "not-a-token-of-this-server") {
		t.Fatal("the refused token is echoed in the page")
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/ui/", "/v1/campaigns", "/ui/\\evil"} {
		res := u.post(u.browser(), "/ui/login", url.Values{"token": {viewerToken}, "next": {next}})
		if loc := res.header.Get("Location"); res.status != http.StatusSeeOther || loc != "/ui/" {
			t.Errorf("next=%q: %d to %q, want /ui/", next, res.status, loc)
		}
	}
}

func TestWithoutASessionPagesGoToSignInAndPostsAreRefused(t *testing.T) {
	u := newUI(t, nil)
	c := u.browser()
	res := u.get(c, "/ui/campaigns/x1?flash=a")
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/ui/login?next="+url.QueryEscape("/ui/campaigns/x1?flash=a") {
		t.Fatalf("page without session: %d to %q", res.status, res.header.Get("Location"))
	}
	if res := u.post(c, "/ui/campaigns/x1/pause", nil); res.status != http.StatusUnauthorized {
		t.Fatalf("POST without session: %d", res.status)
	}
	if res := u.get(c, "/ui/?fragment=1"); res.status != http.StatusUnauthorized {
		t.Fatalf("fragment without session: %d", res.status)
	}
	// A forged cookie is no session.
	req, _ := http.NewRequest(http.MethodGet, u.srv.URL+"/ui/", nil)
	req.AddCookie(&http.Cookie{Name: console.CookieName, Value: "forged"})
	r2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusSeeOther {
		t.Fatalf("forged cookie: %d", r2.StatusCode)
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	u := newUI(t, nil)
	c := u.signIn(viewerToken)
	if res := u.post(c, "/ui/logout", nil); res.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.status)
	}
	if res := u.get(c, "/ui/"); res.status != http.StatusSeeOther {
		t.Fatalf("after logout: %d", res.status)
	}
	if n := len(u.redis.Client.Keys(t.Context(), u.redis.Namespace+":ui:*").Val()); n != 0 {
		t.Fatalf("%d sessions left in Redis after logout", n)
	}
}

func TestExpiredSessionReturnsToSignIn(t *testing.T) {
	u := newUI(t, func(c *httpapi.Config) { c.Console.SessionTTL = 300 * time.Millisecond })
	c := u.signIn(viewerToken)
	if res := u.get(c, "/ui/"); res.status != http.StatusOK {
		t.Fatalf("fresh session: %d", res.status)
	}
	if u.redis.Mini != nil {
		u.redis.Mini.FastForward(time.Second)
	} else {
		time.Sleep(600 * time.Millisecond)
	}
	if res := u.get(c, "/ui/"); res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/ui/login") {
		t.Fatalf("expired session: %d to %q", res.status, res.header.Get("Location"))
	}
}

func TestATokenRemovedFromTheFileEndsItsSessions(t *testing.T) {
	u := newUI(t, nil)
	c := u.signIn(operatorToken)
	keep := strings.Replace(tokenFile, operatorToken, "operator-token-rotated-0123456", 1)
	if err := os.WriteFile(u.tokenPath, []byte(keep), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := u.api.ReloadTokens(); err != nil {
		t.Fatal(err)
	}
	if res := u.get(c, "/ui/"); res.status != http.StatusSeeOther {
		t.Fatalf("session of a removed token: %d", res.status)
	}
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	u := newUI(t, nil)
	c := u.signIn(operatorToken)
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		h["Content-Type"] = "application/x-www-form-urlencoded"
		for _, path := range []string{"/ui/logout", "/ui/login", "/ui/campaigns/x1/cancel"} {
			if res := u.do(c, http.MethodPost, path, strings.NewReader("token="+operatorToken), h); res.status != http.StatusForbidden {
				t.Errorf("POST %s with %v: %d, want 403", path, h, res.status)
			}
		}
	}
	// The session survived: the refused logout did nothing.
	if res := u.get(c, "/ui/"); res.status != http.StatusOK {
		t.Fatalf("after refused cross-site logout: %d", res.status)
	}
}

func TestEveryPageCarriesAStrictCSP(t *testing.T) {
	u := newUI(t, nil)
	c := u.signIn(operatorToken)
	for _, path := range []string{"/ui/login", "/ui/", "/ui/nowhere", "/ui/static/console.css"} {
		res := u.get(c, path)
		csp := res.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
		if strings.Contains(res.body, "<script>") || strings.Contains(res.body, " style=") || strings.Contains(res.body, " onclick=") {
			t.Errorf("%s: inline script or style in the page", path)
		}
	}
}

func TestSigningInAgainReplacesTheOldSession(t *testing.T) {
	u := newUI(t, nil)
	c := u.signIn(viewerToken)
	u.signIn(operatorToken) // another browser
	if res := u.post(c, "/ui/login", url.Values{"token": {operatorToken}}); res.status != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", res.status)
	}
	if n := len(u.redis.Client.Keys(t.Context(), u.redis.Namespace+":ui:session:*").Val()); n != 2 {
		t.Fatalf("%d sessions, want 2: the first browser's old session must go when it signs in again", n)
	}
	if body := u.get(c, "/ui/").body; !strings.Contains(body, "otto") {
		t.Fatal("the browser does not act for the token it signed in with last")
	}
}

// TestRootLeadsToTheConsole: a person who opens the server's address
// without /ui/ lands on the console (its sign-in), not on a JSON 404;
// other unmatched paths stay the API's 404, and without the console the
// root is the API's 404 too.
func TestRootLeadsToTheConsole(t *testing.T) {
	u := newUI(t, nil)
	c := u.browser()
	res := u.get(c, "/")
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/ui/" {
		t.Errorf("GET /: status %d Location %q, want 303 to /ui/", res.status, res.header.Get("Location"))
	}
	if res := u.get(c, "/nothing"); res.status != http.StatusNotFound {
		t.Errorf("GET /nothing: status %d, want 404", res.status)
	}
	if res := u.do(c, http.MethodPost, "/", nil, nil); res.status == http.StatusSeeOther {
		t.Errorf("POST /: status %d, want no redirect", res.status)
	}
	api := newUI(t, func(c *httpapi.Config) { c.Console = nil })
	if res := api.get(api.browser(), "/"); res.status != http.StatusNotFound {
		t.Errorf("GET / without the console: status %d, want 404", res.status)
	}
}
