package console_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/console"
	"github.com/labelreset/labelreset/jobs/httpapi"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// Tokens of the test token file: a viewer of team-a, an operator of
// team-a, an approver of every team and an operator of team-b.
const (
	viewerToken   = "viewer-token-0123456789abcdef"
	operatorToken = "operator-token-0123456789abcd"
	approverToken = "approver-token-0123456789abcd"
	otherToken    = "other-team-token-0123456789ab"
)

const tokenFile = `tokens:
  - name: vera
    token: ` + viewerToken + `
    roles: [viewer]
    teams: [team-a]
  - name: otto
    token: ` + operatorToken + `
    roles: [operator]
    teams: [team-a]
  - name: anna
    token: ` + approverToken + `
    roles: [approver]
    teams: ["*"]
  - name: bob
    token: ` + otherToken + `
    roles: [operator]
    teams: [team-b]
`

// ui is one test's API server with the console, served over real HTTP.
type ui struct {
	t         testing.TB
	redis     *redistest.Env
	store     *jobs.Store
	api       *httpapi.Server
	srv       *httptest.Server
	tokenPath string
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newUI(t testing.TB, mod func(*httpapi.Config)) *ui {
	t.Helper()
	u := &ui{t: t, redis: redistest.New(t)}
	u.store = jobs.NewStore(u.redis.Client, jobs.StoreOptions{Namespace: u.redis.Namespace})
	u.tokenPath = filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(u.tokenPath, []byte(tokenFile), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.Config{Store: u.store, TokenFile: u.tokenPath, TokenReloadInterval: -1,
		Defaults: httpapi.Defaults{ConfirmAbove: 100}, Logger: quietLogger(),
		Console: &console.Config{}}
	if mod != nil {
		mod(&cfg)
	}
	api, err := httpapi.New(cfg)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	u.api = api
	u.srv = httptest.NewServer(api.Handler())
	t.Cleanup(u.srv.Close)
	return u
}

// browser is a client with a cookie jar that does not follow redirects,
// so that tests see them.
func (u *ui) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn returns a browser signed in with tok.
func (u *ui) signIn(tok string) *http.Client {
	u.t.Helper()
	c := u.browser()
	res := u.post(c, "/ui/login", url.Values{"token": {tok}})
	if res.status != http.StatusSeeOther {
		u.t.Fatalf("sign in: status %d: %s", res.status, res.body)
	}
	return c
}

type page struct {
	status int
	header http.Header
	body   string
}

func (u *ui) get(c *http.Client, path string) page {
	u.t.Helper()
	return u.do(c, http.MethodGet, path, nil, nil)
}

func (u *ui) post(c *http.Client, path string, form url.Values) page {
	u.t.Helper()
	return u.do(c, http.MethodPost, path, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func (u *ui) do(c *http.Client, method, path string, body io.Reader, header map[string]string) page {
	u.t.Helper()
	req, err := http.NewRequest(method, u.srv.URL+path, body)
	if err != nil {
		u.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(b)}
}

// create makes a campaign through the HTTP API with tok and returns its ID.
func (u *ui) create(tok string, body map[string]any) string {
	u.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, u.srv.URL+"/v1/campaigns", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		u.t.Fatalf("create: %d %s", res.StatusCode, rb)
	}
	var out struct {
		Campaign struct {
			ID string `json:"id"`
		} `json:"campaign"`
	}
	if err := json.Unmarshal(rb, &out); err != nil || out.Campaign.ID == "" {
		u.t.Fatalf("create: %v: %s", err, rb)
	}
	return out.Campaign.ID
}

// ids returns n asset IDs from first.
func ids(first, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = first + i
	}
	return out
}
