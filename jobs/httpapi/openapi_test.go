package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

func loadDoc(t *testing.T, e *env) (*openapi3.T, routers.Router) {
	t.Helper()
	r := e.do(req{method: "GET", path: "/openapi.yaml", noAuth: true})
	if r.status != 200 || r.header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml: %d %q", r.status, r.header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.body)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is invalid: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, router
}

// TestOpenAPIRoutes: every route the mux serves is documented and every
// documented operation is served.
func TestOpenAPIRoutes(t *testing.T) {
	e := newEnv(t, nil)
	doc, _ := loadDoc(t, e)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	served := e.srv.Routes()
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("documented operations\n  %v\nserved routes\n  %v", documented, served)
	}
}

// TestOpenAPIContract validates real requests and the handler's real
// responses against the document, for every route.
func TestOpenAPIContract(t *testing.T) {
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/tab-separated-values", openapi3filter.PlainBodyDecoder)
	e := newEnv(t, nil)
	_, router := loadDoc(t, e)
	// No worker: the campaign must stay running for pause and resume.

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("campaign_id", "oa-mp")
	mw.WriteField("labels", "a,b")
	fw, _ := mw.CreateFormFile("file", "ids.csv")
	fw.Write([]byte("id\n1\n2\n"))
	mw.Close()

	type call struct {
		req
		body    string
		status  int
		invalid bool // a deliberately invalid request: validate the response only
	}
	calls := []call{
		{req: req{method: "GET", path: "/healthz", noAuth: true}, status: 200},
		{req: req{method: "GET", path: "/readyz", noAuth: true}, status: 200},
		{req: req{method: "GET", path: "/metrics", noAuth: true}, status: 200},
		{req: req{method: "GET", path: "/openapi.yaml", noAuth: true}, status: 200},
		{req: req{method: "POST", path: "/v1/campaigns?campaign_id=oa&name=contract&priority=high&strict=false", ctype: "text/csv",
			header: map[string]string{"Idempotency-Key": "k1"}}, body: "id\n1\n2\n3\nbad\n", status: 201},
		{req: req{method: "POST", path: "/v1/campaigns?campaign_id=oa&name=contract&priority=high&strict=false", ctype: "text/csv",
			header: map[string]string{"Idempotency-Key": "k1"}}, body: "id\n1\n2\n3\nbad\n", status: 200},
		{req: req{method: "POST", path: "/v1/campaigns?dry_run=true", ctype: "text/plain"}, body: "5\n6\n", status: 200},
		{req: req{method: "POST", path: "/v1/campaigns", ctype: "application/json"},
			body: `{"campaign_id":"oa-json","asset_ids":["4",5],"labels":["x"],"team_id":"t","dry_run":false,"append":false}`, status: 201},
		{req: req{method: "POST", path: "/v1/campaigns", ctype: mw.FormDataContentType()}, body: mp.String(), status: 201},
		{req: req{method: "POST", path: "/v1/campaigns", ctype: "application/json"}, body: `{"asset_ids":[1],"nope":1}`, status: 400, invalid: true},
		{req: req{method: "POST", path: "/v1/campaigns?campaign_id=oa", ctype: "text/csv"}, body: "7\n", status: 409},
		{req: req{method: "POST", path: "/v1/campaigns?strict=true", ctype: "text/csv"}, body: "x\n1\nbad\n", status: 422},
		{req: req{method: "POST", path: "/v1/campaigns", ctype: "application/xml"}, body: "<a/>", status: 415, invalid: true},
		{req: req{method: "GET", path: "/v1/campaigns", noAuth: true}, status: 401},
		{req: req{method: "GET", path: "/v1/campaigns?limit=10"}, status: 200},
		{req: req{method: "GET", path: "/v1/campaigns?limit=0"}, status: 400, invalid: true},
		{req: req{method: "GET", path: "/v1/campaigns/oa"}, status: 200},
		{req: req{method: "GET", path: "/v1/campaigns/missing"}, status: 404},
		{req: req{method: "GET", path: "/v1/campaigns/oa/report?format=csv&only=reset,pending"}, status: 200},
		{req: req{method: "GET", path: "/v1/campaigns/oa/report?format=jsonl"}, status: 200},
		{req: req{method: "GET", path: "/v1/campaigns/oa/failures?outcome=failed,invalid&limit=10"}, status: 200},
		{req: req{method: "GET", path: "/v1/campaigns/oa/failures?asset=2&reason=HTTP+500"}, status: 200},
		{req: req{method: "GET", path: "/v1/campaigns/oa/failures?limit=0"}, status: 400, invalid: true},
		{req: req{method: "GET", path: "/v1/campaigns/missing/failures"}, status: 404},
		{req: req{method: "POST", path: "/v1/campaigns/oa/approve"}, status: 409},
		{req: req{method: "POST", path: "/v1/campaigns/oa/pause"}, status: 200},
		{req: req{method: "POST", path: "/v1/campaigns/oa/resume"}, status: 200},
		{req: req{method: "POST", path: "/v1/campaigns/oa/retry?outcome=failed,not_found"}, status: 200},
		{req: req{method: "POST", path: "/v1/campaigns/oa/retry", ctype: "application/json"}, body: `{"outcomes":["invalid"]}`, status: 200},
		{req: req{method: "POST", path: "/v1/campaigns/oa/cancel"}, status: 200},
		{req: req{method: "GET", path: "/v1/campaigns/oa-exp"}, status: 200},
		{req: req{method: "POST", path: "/v1/campaigns/oa-exp/cancel"}, status: 200},
		{req: req{method: "POST", path: "/v1/campaigns/missing/cancel"}, status: 404},
		{req: req{method: "GET", path: "/v1/campaigns/oa/events"}, status: 200},
		{req: req{method: "GET", path: "/v1/campaigns/missing/events"}, status: 404},
		{req: req{method: "GET", path: "/v1/campaigns/oa-json/snapshot"}, status: 409},
		{req: req{method: "GET", path: "/v1/campaigns/oa-snap/snapshot"}, status: 200},
		{req: req{method: "GET", path: "/v1/campaigns/missing/snapshot"}, status: 404},
		{req: req{method: "POST", path: "/v1/campaigns/oa-snap/undo", ctype: "application/json"}, body: `{"exact":false,"name":"back"}`, status: 201},
		{req: req{method: "POST", path: "/v1/campaigns/oa-snap/undo", ctype: "application/json"}, body: `{"exact":false,"name":"back"}`, status: 200},
		{req: req{method: "POST", path: "/v1/campaigns/oa-json/undo"}, status: 409},
		{req: req{method: "POST", path: "/v1/campaigns/missing/undo"}, status: 404},
		{req: req{method: "GET", path: "/v1/assets/1"}, status: 200},
		{req: req{method: "GET", path: "/v1/assets/404"}, status: 200},
		{req: req{method: "GET", path: "/v1/assets/x1"}, status: 400},
	}
	// A campaign whose snapshot is complete, for the snapshot and undo
	// calls.
	if r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=oa-snap", ctype: "text/csv", body: csvBody("1", "2")}); r.status != http.StatusCreated {
		t.Fatalf("create oa-snap: %d %s", r.status, r.body)
	}
	e.takeSnapshot(t, "oa-snap", map[int64][]string{1: {"a"}})
	// An express campaign whose bulk call was sent: its status has
	// express, and its cancel a note.
	e.sendBulk(t, e.submitExpress(t, "oa-exp"), time.Now(), 4)
	seen := map[string]bool{}
	for _, c := range calls {
		name := c.method + " " + c.path
		hr := e.newRequest(c.req)
		if c.body != "" {
			hr = e.newRequest(req{method: c.method, path: c.path, ctype: c.ctype, header: c.header, noAuth: c.noAuth, body: strings.NewReader(c.body)})
		}
		route, params, err := router.FindRoute(hr)
		if err != nil {
			t.Errorf("%s: not in the document: %v", name, err)
			continue
		}
		seen[route.Method+" "+route.Path] = true
		in := &openapi3filter.RequestValidationInput{
			Request: hr, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		}
		if !c.invalid {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("%s: request does not match the document: %v", name, err)
			}
		}
		// The validator consumed the body: send a fresh request.
		hr2 := e.newRequest(req{method: c.method, path: c.path, ctype: c.ctype, header: c.header, noAuth: c.noAuth, body: strings.NewReader(c.body)})
		w := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(w, hr2)
		if w.Code != c.status {
			t.Errorf("%s: status %d, want %d: %s", name, w.Code, c.status, w.Body)
		}
		in.Request = hr2
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: w.Code, Header: w.Header(),
			Body:    io.NopCloser(bytes.NewReader(w.Body.Bytes())),
			Options: &openapi3filter.Options{IncludeResponseStatus: true},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s: response %d does not match the document: %v\n%s", name, w.Code, err, w.Body)
		}
	}
	for _, r := range e.srv.Routes() {
		if !seen[r] {
			t.Errorf("route %s is not exercised by the contract test", r)
		}
	}

	// The validator does reject a response that breaks the document.
	hr := e.newRequest(req{method: "GET", path: "/healthz"})
	route, params, _ := router.FindRoute(hr)
	bad := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route},
		Status:                 http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"status":"ok","extra":1}`)),
	}
	if err := openapi3filter.ValidateResponse(context.Background(), bad); err == nil {
		t.Error("a response with an undocumented field passed validation")
	}
}
