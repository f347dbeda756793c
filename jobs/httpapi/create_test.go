package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

// TestCSVRunsAndIdempotencyKeyReplays: a CSV upload runs to completion
// against the fake; the same request with the same Idempotency-Key creates
// nothing new.
func TestCSVRunsAndIdempotencyKeyReplays(t *testing.T) {
	e := newEnv(t, nil)
	stop := e.startWorker(300)
	post := func() resp {
		return e.do(req{method: "POST", path: "/v1/campaigns?name=nightly&priority=normal", ctype: "text/csv",
			body: csvBody(idLines(1, 300)...), header: map[string]string{"Idempotency-Key": "run-42"}})
	}
	r := post()
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d, want 201: %s", r.status, r.body)
	}
	c := r.json(t)["campaign"].(map[string]any)
	id := c["id"].(string)
	if loc := r.header.Get("Location"); loc != "/v1/campaigns/"+id {
		t.Errorf("Location %q, want /v1/campaigns/%s", loc, id)
	}
	final := e.waitState(id, jobs.StateDone, time.Minute)
	counts := final["counts"].(map[string]any)
	if counts["reset"] != 300.0 || counts["pending"] != 0.0 {
		t.Errorf("counts %v, want 300 reset and 0 pending", counts)
	}
	if n := e.fake.Fake().Stats().LabelCalls; n != 300 {
		t.Errorf("fake saw %d label calls, want 300", n)
	}
	stop()

	keys, queued := e.keys(), e.queueSize()
	r = post()
	if r.status != http.StatusOK {
		t.Fatalf("replay: status %d, want 200: %s", r.status, r.body)
	}
	m := r.json(t)
	if got := m["campaign"].(map[string]any)["id"]; got != id || m["replayed"] != true || m["created"] != false {
		t.Errorf("replay: campaign %v replayed %v created %v, want %s true false", got, m["replayed"], m["created"], id)
	}
	if diff := cmp.Diff(keys, e.keys()); diff != "" {
		t.Errorf("replay changed Redis keys (-before +after):\n%s", diff)
	}
	if q := e.queueSize(); q != queued {
		t.Errorf("replay changed the queue size from %d to %d", queued, q)
	}
	list := e.do(req{method: "GET", path: "/v1/campaigns"}).json(t)["campaigns"].([]any)
	if len(list) != 1 {
		t.Errorf("%d campaigns after the replay, want 1", len(list))
	}

	// The same key for a different request is refused.
	r = e.do(req{method: "POST", path: "/v1/campaigns", ctype: "text/csv",
		body: csvBody(idLines(1, 301)...), header: map[string]string{"Idempotency-Key": "run-42"}})
	if r.status != http.StatusUnprocessableEntity || r.errCode(t) != "idempotency_key_reused" {
		t.Errorf("reused key: status %d %s, want 422 idempotency_key_reused", r.status, r.body)
	}
}

// TestAuth: a missing, malformed or wrong token is 401 and creates nothing.
func TestAuth(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ name, header string }{
		{"none", ""},
		{"wrong", "Bearer wrong-token-0123456789abcdef"},
		{"prefix", "Bearer " + token[:len(token)-1]},
		{"longer", "Bearer " + token + "x"},
		{"basic scheme", "Basic " + token},
		{"empty bearer", "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := req{method: "POST", path: "/v1/campaigns", ctype: "text/csv", body: csvBody("1", "2"), noAuth: true}
			if tc.header != "" {
				q.header = map[string]string{"Authorization": tc.header}
			}
			r := e.do(q)
			if r.status != http.StatusUnauthorized || r.errCode(t) != "unauthorized" {
				t.Fatalf("status %d %s, want 401 unauthorized", r.status, r.body)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q, want Bearer", r.header.Get("WWW-Authenticate"))
			}
			if bytes.Contains(r.body, []byte("token-0123")) {
				t.Errorf("response echoes the token: %s", r.body)
			}
		})
	}
	if k := e.keys(); len(k) != 0 {
		t.Errorf("unauthorized requests wrote keys %v", k)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml"} {
		if r := e.do(req{method: "GET", path: path, noAuth: true}); r.status != http.StatusOK {
			t.Errorf("GET %s without a token: status %d, want 200", path, r.status)
		}
	}
	for _, path := range []string{"/v1/campaigns", "/v1/campaigns/x", "/v1/campaigns/x/report"} {
		if r := e.do(req{method: "GET", path: path, noAuth: true}); r.status != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: status %d, want 401", path, r.status)
		}
	}
}

// repeatReader yields n bytes of a repeated pattern without allocating them.
type repeatReader struct {
	pat []byte
	n   int64
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := 0; i < len(p); {
		n := copy(p[i:], r.pat[r.off:])
		i += n
		r.off = (r.off + n) % len(r.pat)
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// TestLimits: a 100 MB body is 413 without being read whole; too many
// rows is 413 too.
func TestLimits(t *testing.T) {
	e := newEnv(t, nil)
	pr, pw := io.Pipe()
	go func() {
		// 256-byte rows: an ID and a comment column.
		row := "123456789," + strings.Repeat("x", 245) + "\n"
		_, err := io.Copy(pw, &repeatReader{pat: []byte(row), n: 100 << 20})
		pw.CloseWithError(err)
	}()
	r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: "text/csv", body: pr})
	pr.Close()
	if r.status != http.StatusRequestEntityTooLarge || r.errCode(t) != "body_too_large" {
		t.Fatalf("100 MB body: status %d %s, want 413 body_too_large", r.status, r.body)
	}

	r = newEnv(t, func(c *httpapi.Config) { c.MaxBodyBytes = 1 << 20 }).do(req{method: "POST", path: "/v1/campaigns", ctype: "application/json",
		body: io.MultiReader(strings.NewReader(`{"asset_ids":["1"`), &repeatReader{pat: []byte(`,"1234567890123"`), n: 2 << 20})})
	if r.status != http.StatusRequestEntityTooLarge || r.errCode(t) != "body_too_large" {
		t.Fatalf("2 MB JSON body over a 1 MiB limit: status %d %s, want 413 body_too_large", r.status, r.body)
	}

	small := newEnv(t, func(c *httpapi.Config) { c.MaxRows = 10 })
	r = small.do(req{method: "POST", path: "/v1/campaigns", ctype: "text/csv", body: csvBody(idLines(1, 11)...)})
	if r.status != http.StatusRequestEntityTooLarge || r.errCode(t) != "too_many_rows" {
		t.Errorf("11 rows with MaxRows 10: status %d %s, want 413 too_many_rows", r.status, r.body)
	}
	if !strings.Contains(string(r.body), "more than 10 rows") {
		t.Errorf("message does not name the limit: %s", r.body)
	}
	if k := small.keys(); len(k) != 0 {
		t.Errorf("refused uploads wrote keys %v", k)
	}
}

// TestBinaryBody: binary input is a 4xx JSON error naming bad rows.
func TestBinaryBody(t *testing.T) {
	e := newEnv(t, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	for i := 0; i < 4096; i++ {
		png = append(png, byte(rng.UintN(256)))
	}
	for _, tc := range []struct {
		name, ctype string
		body        []byte
	}{
		{"png as csv", "text/csv", png},
		{"zip as csv", "text/csv", []byte("PK\x03\x04\x14\x00\x00\x00")},
		{"png as json", "application/json", png},
		{"gzip garbage", "text/csv", []byte("\x1f\x8b\x08garbage")},
		{"png as image", "image/png", png},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: tc.ctype, body: bytes.NewReader(tc.body)})
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("status %d, want 4xx: %s", r.status, r.body)
			}
			code := r.errCode(t)
			t.Logf("%d %s: %s", r.status, code, r.body)
		})
	}
	if k := e.keys(); len(k) != 0 {
		t.Errorf("binary uploads wrote keys %v", k)
	}
}

// TestPartialAcceptance: 10% bad rows are reported with line numbers and
// the valid rows run.
func TestPartialAcceptance(t *testing.T) {
	e := newEnv(t, nil)
	e.startWorker(1000)
	lines := []string{"asset_id"}
	for i := 1; i <= 1000; i++ {
		if i%10 == 0 {
			lines = append(lines, fmt.Sprintf("x%d", i))
		} else {
			lines = append(lines, fmt.Sprint(i))
		}
	}
	r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=partial", ctype: "text/csv", body: csvBody(lines...)})
	if r.status != http.StatusCreated {
		t.Fatalf("status %d, want 201: %s", r.status, r.body)
	}
	var res struct {
		Plan struct {
			Rows, Valid, Bad int64
			BadRows          []string `json:"bad_rows"`
		}
	}
	json.Unmarshal(r.body, &res)
	if res.Plan.Rows != 1000 || res.Plan.Valid != 900 || res.Plan.Bad != 100 || len(res.Plan.BadRows) != 20 {
		t.Fatalf("plan rows %d valid %d bad %d shown %d, want 1000 900 100 20", res.Plan.Rows, res.Plan.Valid, res.Plan.Bad, len(res.Plan.BadRows))
	}
	if want := `body:11: "x10": `; !strings.HasPrefix(res.Plan.BadRows[0], want) {
		t.Errorf("first bad row %q, want prefix %q", res.Plan.BadRows[0], want)
	}
	final := e.waitState("partial", jobs.StateDone, time.Minute)
	if c := final["counts"].(map[string]any); c["reset"] != 900.0 {
		t.Errorf("counts %v, want 900 reset", c)
	}

	// strict refuses the same input whole.
	r = e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=strict&strict=true", ctype: "text/csv", body: csvBody(lines...)})
	if r.status != http.StatusUnprocessableEntity || r.errCode(t) != "strict_bad_rows" {
		t.Errorf("strict: status %d %s, want 422 strict_bad_rows", r.status, r.body)
	}
}

// TestJSONBody covers the JSON content type.
func TestJSONBody(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, body string
		status     int
		code, want string
	}{
		{"unknown field", `{"asset_ids":["1"],"labelz":["a"]}`, 400, "unknown_field", `unknown field "labelz"`},
		{"malformed", `{"asset_ids":["1",}`, 400, "malformed_json", "malformed JSON at byte"},
		{"truncated", `{"asset_ids":["1"`, 400, "malformed_json", "ends inside"},
		{"not an object", `["1"]`, 400, "malformed_json", "must be an object"},
		{"trailing data", `{"asset_ids":["1"]} {}`, 400, "malformed_json", "after the JSON object"},
		{"wrong type", `{"asset_ids":["1"],"dry_run":"yes"}`, 400, "malformed_json", `field "dry_run"`},
		{"ids not array", `{"asset_ids":"1,2"}`, 400, "malformed_json", "want an array"},
		{"missing ids", `{"name":"x"}`, 422, "no_ids", "asset_ids is missing"},
		{"empty ids", `{"asset_ids":[]}`, 422, "no_ids", "asset_ids is empty"},
		{"all bad", `{"asset_ids":["a",true,-1]}`, 422, "no_valid_ids", `asset_ids:1: "a"`},
		{"labels in delete mode", `{"asset_ids":[1],"labels":["a"],"mode":"delete"}`, 400, "invalid_parameter", "only used in mode remove"},
		{"labels null", `{"asset_ids":[1],"labels":null}`, 400, "invalid_parameter", "labels is empty"}, // not "all labels"
		{"labels null in mode remove", `{"asset_ids":[1],"labels":null,"mode":"remove"}`, 400, "invalid_parameter", "labels is empty"},
		{"bad priority", `{"asset_ids":[1],"priority":"urgent"}`, 400, "invalid_parameter", `priority "urgent"`},
		{"bad campaign id", `{"asset_ids":[1],"campaign_id":"a b"}`, 400, "invalid_campaign_id", "campaign ID"},
		{"field twice", `{"asset_ids":[1],"name":"a","name":"b"}`, 400, "invalid_parameter", `"name" given twice`},
		{"empty body", ``, 400, "malformed_json", "empty body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: "application/json", body: strings.NewReader(tc.body)})
			if r.status != tc.status || r.errCode(t) != tc.code || !strings.Contains(r.json(t)["error"].(string), tc.want) {
				t.Errorf("status %d %s, want %d %s containing %q", r.status, r.body, tc.status, tc.code, tc.want)
			}
		})
	}
	if r := e.do(req{method: "POST", path: "/v1/campaigns?name=x", ctype: "application/json", body: strings.NewReader(`{"asset_ids":[1]}`)}); r.status != 400 {
		t.Errorf("query parameter with a JSON body: status %d, want 400", r.status)
	}
	if k := e.keys(); len(k) != 0 {
		t.Errorf("refused requests wrote keys %v", k)
	}

	r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: "application/json", body: strings.NewReader(
		`{"campaign_id":"j1","name":"json","asset_ids":["1", 2, " 3 ", 2, 1.5, null],"labels":["env:dev","team:x"],"team_id":"t1","priority":"high"}`)})
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d, want 201: %s", r.status, r.body)
	}
	var res struct {
		Campaign struct {
			Total int64
		}
		Plan struct {
			Valid, Duplicates, Bad int64
			BadRows                []string `json:"bad_rows"`
		}
	}
	json.Unmarshal(r.body, &res)
	want := []string{`asset_ids:5: "1.5": must be ASCII decimal digits`, `asset_ids:6: "null": must be a string or a number`}
	if res.Plan.Valid != 3 || res.Plan.Duplicates != 1 || res.Plan.Bad != 2 || res.Campaign.Total != 3 {
		t.Errorf("plan %+v total %d, want 3 valid, 1 duplicate, 2 bad, total 3", res.Plan, res.Campaign.Total)
	}
	if len(res.Plan.BadRows) != 2 || !strings.HasPrefix(res.Plan.BadRows[1], want[1]) {
		t.Errorf("bad rows %q, want %q", res.Plan.BadRows, want)
	}
	c, err := e.store.Get(context.Background(), "j1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != jobs.ModeRemove || c.Priority != jobs.PriorityHigh || c.TeamID != "t1" || !slices.Equal(c.Labels, []string{"env:dev", "team:x"}) ||
		!regexp.MustCompile(`^tok:[0-9a-f]{12}$`).MatchString(c.Owner) || c.Owner != httpapi.OwnerID(token) {
		t.Errorf("stored campaign mode %s priority %s team %s labels %v owner %q", c.Mode, c.Priority, c.TeamID, c.Labels, c.Owner)
	}
}

// TestMultipart uploads a file with form fields.
func TestMultipart(t *testing.T) {
	e := newEnv(t, nil)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("campaign_id", "mp")
	mw.WriteField("labels", "a,b")
	fw, _ := mw.CreateFormFile("file", "ids.csv")
	fw.Write([]byte("id\n1\n2\nbad\n"))
	mw.Close()
	r := e.do(req{method: "POST", path: "/v1/campaigns?priority=low", ctype: mw.FormDataContentType(), body: &buf})
	if r.status != http.StatusCreated {
		t.Fatalf("status %d, want 201: %s", r.status, r.body)
	}
	m := r.json(t)
	c := m["campaign"].(map[string]any)
	bad := m["plan"].(map[string]any)["bad_rows"].([]any)
	if c["name"] != "ids.csv" || c["mode"] != "remove" || c["priority"] != "low" || len(bad) != 1 || !strings.HasPrefix(bad[0].(string), `ids.csv:4: "bad"`) {
		t.Errorf("campaign %v bad rows %v", c, bad)
	}

	buf.Reset()
	mw = multipart.NewWriter(&buf)
	mw.WriteField("colour", "red")
	mw.Close()
	r = e.do(req{method: "POST", path: "/v1/campaigns", ctype: mw.FormDataContentType(), body: &buf})
	if r.status != 400 || !strings.Contains(r.json(t)["error"].(string), `unknown form field "colour"`) {
		t.Errorf("unknown form field: status %d %s", r.status, r.body)
	}
}

// TestDryRunWritesNothing: dry_run returns the plan and no key appears.
func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.Defaults.ConfirmAbove = 5 })
	before := e.keys()
	r := e.do(req{method: "POST", path: "/v1/campaigns?dry_run=true&labels=x", ctype: "text/csv", body: csvBody(idLines(1, 10)...),
		header: map[string]string{"Idempotency-Key": "dry"}})
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	m := r.json(t)
	if m["dry_run"] != true || m["approval_required"] != true || m["plan"].(map[string]any)["valid"] != 10.0 || m["campaign"] != nil {
		t.Errorf("dry run response %s", r.body)
	}
	if diff := cmp.Diff(before, e.keys()); diff != "" {
		t.Errorf("dry run wrote keys (-before +after):\n%s", diff)
	}
}

// TestResubmitAndConflicts: same campaign_id and IDs is 200, different IDs
// 409 unless append.
func TestResubmitAndConflicts(t *testing.T) {
	e := newEnv(t, nil)
	post := func(path string, n int) resp {
		return e.do(req{method: "POST", path: path, ctype: "text/csv", body: csvBody(idLines(1, n)...)})
	}
	if r := post("/v1/campaigns?campaign_id=c1", 10); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	keys := e.keys()
	if r := post("/v1/campaigns?campaign_id=c1", 10); r.status != 200 || r.json(t)["created"] != false {
		t.Errorf("same content: %d %s, want 200 created=false", r.status, r.body)
	}
	if diff := cmp.Diff(keys, e.keys()); diff != "" {
		t.Errorf("re-submit changed keys:\n%s", diff)
	}
	if r := post("/v1/campaigns?campaign_id=c1", 11); r.status != 409 || r.errCode(t) != "campaign_exists" {
		t.Errorf("different content: %d %s, want 409 campaign_exists", r.status, r.body)
	}
	if r := post("/v1/campaigns?campaign_id=c1&append=true", 11); r.status != 200 || r.json(t)["appended"] != 1.0 {
		t.Errorf("append: %d %s, want 200 appended 1", r.status, r.body)
	}
	// A label holding a comma is quoted in the query; a team ID with a
	// space is refused like the CLI refuses it.
	if r := post("/v1/campaigns?campaign_id=q1&labels="+url.QueryEscape(`"a,b",c`), 3); r.status != 201 {
		t.Errorf("quoted labels: %d %s, want 201", r.status, r.body)
	} else if c, _ := e.store.Get(context.Background(), "q1"); !slices.Equal(c.Labels, []string{"a,b", "c"}) {
		t.Errorf("quoted labels stored as %q, want [a,b c]", c.Labels)
	}
	if r := post("/v1/campaigns?campaign_id=q2&team_id="+url.QueryEscape("tm 1"), 3); r.status != 400 {
		t.Errorf("team ID with a space: %d %s, want 400", r.status, r.body)
	}
	if r := post("/v1/campaigns?campaign_id=c1&labels=a", 10); r.status != 409 {
		t.Errorf("other mode: %d %s, want 409", r.status, r.body)
	}
	for _, tc := range []struct{ path, code string }{
		{"/v1/campaigns?campaign_id=a%20b", "invalid_campaign_id"},
		{"/v1/campaigns?priority=urgent", "invalid_parameter"},
		{"/v1/campaigns?mode=delete&labels=a", "invalid_parameter"},
		{"/v1/campaigns?labels=", "invalid_parameter"},
		{"/v1/campaigns?dry_run=maybe", "invalid_parameter"},
		{"/v1/campaigns?dryrun=1", "unknown_parameter"},
		{"/v1/campaigns?name=a&name=b", "invalid_parameter"},
	} {
		if r := post(tc.path, 3); r.status != 400 || r.errCode(t) != tc.code {
			t.Errorf("POST %s: %d %s, want 400 %s", tc.path, r.status, r.body, tc.code)
		}
	}
	if r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: "text/csv", body: csvBody("id")}); r.status != 422 || r.errCode(t) != "no_ids" {
		t.Errorf("header only: %d %s, want 422 no_ids", r.status, r.body)
	}
	if r := e.do(req{method: "POST", path: "/v1/campaigns", body: csvBody("1")}); r.status != 415 {
		t.Errorf("no content type: %d %s, want 415", r.status, r.body)
	}
}

// TestApprovalAndActions covers pending campaigns and the control routes.
func TestApprovalAndActions(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.Defaults.ConfirmAbove = 5 })
	r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=big", ctype: "text/csv", body: csvBody(idLines(1, 6)...)})
	if r.status != 201 || r.json(t)["approval_required"] != true || r.json(t)["campaign"].(map[string]any)["state"] != "pending" {
		t.Fatalf("create above threshold: %d %s, want 201 pending", r.status, r.body)
	}
	// A pending campaign takes its snapshot while it waits (listing is
	// read-only, and its approver sees the result), but resets nothing.
	if q := e.queuedTypes(); q[jobs.TypeBatch] != 0 || q[jobs.TypeSnapshot] != 1 {
		t.Errorf("pending campaign queued %v, want no batch and its snapshot task", q)
	}
	act := func(a string) resp { return e.do(req{method: "POST", path: "/v1/campaigns/big/" + a}) }
	for _, step := range []struct {
		action string
		status int
		state  string
	}{
		{"pause", 409, ""}, {"approve", 200, "running"}, {"approve", 409, ""}, {"pause", 200, "paused"},
		{"resume", 200, "running"}, {"cancel", 200, "cancelled"}, {"resume", 409, ""},
	} {
		r := act(step.action)
		if r.status != step.status {
			t.Fatalf("%s: %d %s, want %d", step.action, r.status, r.body, step.status)
		}
		if step.state != "" && r.json(t)["campaign"].(map[string]any)["state"] != step.state {
			t.Errorf("%s: state %v, want %s", step.action, r.json(t)["campaign"], step.state)
		}
	}
	if r := e.do(req{method: "POST", path: "/v1/campaigns/nope/approve"}); r.status != 404 || r.errCode(t) != "not_found" {
		t.Errorf("unknown campaign: %d %s, want 404", r.status, r.body)
	}
	if r := e.do(req{method: "GET", path: "/v1/campaigns/a%20b"}); r.status != 400 {
		t.Errorf("invalid ID: %d %s, want 400", r.status, r.body)
	}
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/v1/campaigns/big/retry?outcome=failed,invalid", "", 409}, // cancelled campaigns cannot be re-driven
		{"/v1/campaigns/big/retry?outcome=reset", "", 400},
		{"/v1/campaigns/big/retry?outcome=bogus", "", 400},
		{"/v1/campaigns/big/retry", `{"outcomes":["failed"],"x":1}`, 400},
		{"/v1/campaigns/big/retry?outcome=failed", `{"outcomes":["failed"]}`, 400},
	} {
		r := e.do(req{method: "POST", path: tc.path, ctype: "application/json", body: strings.NewReader(tc.body)})
		if r.status != tc.status {
			t.Errorf("POST %s %s: %d %s, want %d", tc.path, tc.body, r.status, r.body, tc.status)
		}
	}
	if r := e.do(req{method: "DELETE", path: "/v1/campaigns/big"}); r.status != 405 || r.header.Get("Allow") == "" {
		t.Errorf("DELETE: %d %s (Allow %q), want 405", r.status, r.body, r.header.Get("Allow"))
	}
	if r := e.do(req{method: "GET", path: "/v2/nothing"}); r.status != 404 || r.errCode(t) != "not_found" {
		t.Errorf("unknown path: %d %s, want 404", r.status, r.body)
	}
}

// TestReport streams both formats with a filter.
func TestReport(t *testing.T) {
	e := newEnv(t, nil)
	// IDs 9 and 10 are unknown to the fake: the snapshot does not find
	// them, so they end not_in_inventory without a call.
	e.startWorker(8)
	e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=rep", ctype: "text/csv", body: csvBody(idLines(1, 10)...)})
	e.waitState("rep", jobs.StateDone, time.Minute)
	r := e.do(req{method: "GET", path: "/v1/campaigns/rep/report?format=csv&only=not_in_inventory"})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "asset_id,outcome") || !strings.HasPrefix(lines[1], "9,not_in_inventory") {
		t.Errorf("csv report:\n%s", r.body)
	}
	r = e.do(req{method: "GET", path: "/v1/campaigns/rep/report?format=jsonl"})
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" || bytes.Count(r.body, []byte("\n")) != 10 {
		t.Errorf("jsonl: %d %q\n%s", r.status, r.header.Get("Content-Type"), r.body)
	}
	for _, path := range []string{"/v1/campaigns/rep/report?format=xml", "/v1/campaigns/rep/report?only=bogus"} {
		if r := e.do(req{method: "GET", path: path}); r.status != 400 {
			t.Errorf("GET %s: %d, want 400", path, r.status)
		}
	}
	if r := e.do(req{method: "GET", path: "/v1/campaigns/none/report"}); r.status != 404 {
		t.Errorf("unknown campaign: %d, want 404", r.status)
	}
}

// TestDefaultTeam: a campaign whose request names no team_id records the
// server's (workers send the campaign's team, not their own); one that
// names a team keeps it.
func TestDefaultTeam(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.Defaults.TeamID = "server-team" })
	for _, tc := range []struct{ id, body, want string }{
		{"d1", `{"campaign_id":"d1","asset_ids":[1]}`, "server-team"},
		{"d2", `{"campaign_id":"d2","asset_ids":[1],"team_id":"own-team"}`, "own-team"},
		{"d3", `{"campaign_id":"d3","asset_ids":[1],"mode":"delete","labels":null}`, "server-team"}, // null does not contradict delete
	} {
		r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: "application/json", body: strings.NewReader(tc.body)})
		if r.status != http.StatusCreated {
			t.Fatalf("%s: status %d: %s", tc.id, r.status, r.body)
		}
		c, err := e.store.Get(context.Background(), tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if c.TeamID != tc.want {
			t.Errorf("campaign %s: team %q, want %q", tc.id, c.TeamID, tc.want)
		}
	}
}

// TestCampaignRecordsServer: every campaign created over HTTP records the
// API server serve was configured with, so workers of another server
// leave it alone.
func TestCampaignRecordsServer(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.Defaults.Server = "https://pdcp.example.com" })
	r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: "application/json", body: strings.NewReader(`{"campaign_id":"s1","asset_ids":[1]}`)})
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	c, err := e.store.Get(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != "https://pdcp.example.com" {
		t.Errorf("campaign s1: API server %q, want https://pdcp.example.com", c.Server)
	}
}
