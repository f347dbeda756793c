package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/labelreset/labelreset/client/pdcpfake"
)

// specPath is the project's copy of the official PDCP OpenAPI excerpt the
// client and the fake are checked against. It lives in the repository so
// that `go test ./...` passes on a clone with nothing beside it; .ci/run
// fails when it drifts from the official excerpt. PDCP_OPENAPI_SPEC
// overrides it, to check against another version of the document.
const specPath = "testdata/openapi-asset-labels.yaml"

func findSpec(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PDCP_OPENAPI_SPEC"); p != "" {
		return p
	}
	if _, err := os.Stat(specPath); err != nil {
		t.Fatalf("the PDCP OpenAPI excerpt: %v", err)
	}
	return specPath
}

// loadSpec loads the spec as OpenAPI 3.1: kin-openapi v0.153 supports 3.1
// natively, so the version string is not rewritten.
func loadSpec(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	path := findSpec(t)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("%s: got openapi %q, want 3.1", path, doc.OpenAPI)
	}
	// The official document has one defect: EnumerationContent.asn repeats
	// its properties as stray keywords beside "properties". Tolerate exactly
	// those, nothing else.
	tolerate := openapi3.AllowExtraSiblingFields("as_country", "as_name", "as_number", "as_range")
	if err := doc.Validate(loader.Context, tolerate); err != nil {
		t.Fatalf("validate %s: %v", path, err)
	}
	// Match paths on any host: the test servers listen on random ports.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc, tolerate)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return doc, router
}

// validatingTransport checks every request against the spec and every
// response against the operation's responses, and records which
// (operation, status) pairs it saw.
type validatingTransport struct {
	t       *testing.T
	router  routers.Router
	base    http.RoundTripper
	mu      sync.Mutex
	seen    map[string]bool
	skipReq bool // for deliberately invalid requests
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := v.router.FindRoute(vreq)
	if err != nil {
		v.t.Errorf("%s %s: no route in the spec: %v", req.Method, req.URL.Path, err)
		return v.base.RoundTrip(req)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: requireAPIKey},
	}
	if !v.skipReq {
		if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
			v.t.Errorf("%s %s: request violates the spec: %v", req.Method, req.URL, err)
		}
	}
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rb, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	if rerr != nil {
		return resp, nil // truncated on purpose; nothing to validate
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(rb)),
		Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		v.t.Errorf("%s %s: %d response %s violates the spec: %v", req.Method, req.URL, resp.StatusCode, rb, err)
	}
	v.mu.Lock()
	v.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, resp.StatusCode)] = true
	v.mu.Unlock()
	return resp, nil
}

// requireAPIKey implements the spec's X-API-Key security scheme.
func requireAPIKey(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecurityScheme.In != "header" || in.RequestValidationInput.Request.Header.Get(in.SecurityScheme.Name) == "" {
		return errors.New("missing " + in.SecurityScheme.Name + " header")
	}
	return nil
}

// pickKind returns a seeded asset ID of the given kind.
func pickKind(t *testing.T, f *pdcpfake.Fake, kind string) int64 {
	t.Helper()
	for _, id := range f.AssetIDs() {
		if f.Kind(id) == kind {
			return id
		}
	}
	t.Fatalf("no asset of kind %s", kind)
	return 0
}

func TestOpenAPIConformance(t *testing.T) {
	_, router := loadSpec(t)
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 200, Seed: 3,
		InvalidFraction: 0.1, FailFraction: 0.1, FailTimes: -1})
	defer srv.Close()
	f := srv.Fake()
	vt := &validatingTransport{t: t, router: router, base: http.DefaultTransport.(*http.Transport).Clone(), seen: map[string]bool{}}
	defer vt.base.(*http.Transport).CloseIdleConnections()
	c := newTestClient(t, srv.URL(), func(c *Config) { c.Transport = vt; c.TeamID = "team-1" })
	bad := newTestClient(t, srv.URL(), func(c *Config) { c.Transport = vt; c.APIKey = "wrong" })
	ctx := context.Background()
	ok, invalid, failing := pickKind(t, f, pdcpfake.KindOK), pickKind(t, f, pdcpfake.KindInvalid), pickKind(t, f, pdcpfake.KindFailing)

	// The client's requests, each answer class.
	for _, id := range []int64{ok, invalid, failing, 999_999} {
		observe(t, c.RemoveLabels(ctx, id, []string{"env:prod"}))
		observe(t, c.DeleteLabels(ctx, id))
	}
	observe(t, bad.DeleteLabels(ctx, ok))
	observe(t, bad.RemoveLabels(ctx, ok, []string{"a"}))
	// Restore calls: POST (append) and PATCH replace, with labels that
	// need escaping, each answer class.
	for _, id := range []int64{ok, invalid, failing, 999_999} {
		observe(t, c.AddLabels(ctx, id, []string{"owner: Zoë", "a,b", `say "hi"`}))
		observe(t, c.ReplaceLabels(ctx, id, []string{"Ünïcødé 标签", "path/to/x"}))
	}
	observe(t, c.ReplaceLabels(ctx, ok, nil))
	observe(t, bad.AddLabels(ctx, ok, []string{"a"}))
	observe(t, bad.ReplaceLabels(ctx, ok, []string{"a"}))
	// The snapshot's listing: sorted pages, and a page that fails.
	sorted := AssetFilter{Extra: url.Values{"sort_asc": {"created_at"}}}
	if _, err := c.ListPage(ctx, sorted, 0, 50); err != nil {
		t.Errorf("ListPage sort_asc=created_at: %v", err)
	}
	for _, throttle := range []bool{false, true} {
		f.Update(func(o *pdcpfake.Options) { o.ListFailFraction, o.ListThrottle, o.RetryAfter = 1, throttle, "0" })
		if _, err := c.ListPage(ctx, sorted, 50, 50); err == nil {
			t.Errorf("ListPage with ListFailFraction 1 (throttle %v): no error", throttle)
		}
	}
	f.Update(func(o *pdcpfake.Options) { o.ListFailFraction, o.ListThrottle, o.RetryAfter = 0, false, "" })
	yes := true
	filters := []AssetFilter{{}, {Labels: []string{"critical", "pci"}, NotSeenForDays: 3, Search: "asset", Host: "asset-1.example.org",
		Domain: "example.org,example.com", Time: TimeLast12Months, IsInternal: &yes, CustomFilter: "x"}}
	for _, flt := range filters {
		for _, err := range c.ListAssets(ctx, flt, 50) {
			if err != nil {
				t.Errorf("ListAssets: %v", err)
			}
		}
	}
	for _, err := range bad.ListAssets(ctx, AssetFilter{}, 0) {
		observe(t, err)
	}

	// The fake's other endpoints, through the same validating transport.
	hc := &http.Client{Transport: vt}
	send := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL()+path, strings.NewReader(body))
		req.Header.Set("X-API-Key", testKey)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
	}
	id := fmt.Sprint(ok)
	send("POST", "/v1/asset/"+id+"/labels", `{"labels":["new"]}`)
	send("PATCH", "/v1/asset/"+id+"/labels?update_type=append", `{"labels":["more"]}`)
	send("PATCH", "/v1/asset/"+id+"/labels?update_type=replace", `{"labels":["only"]}`)
	send("PATCH", "/v1/asset/"+id+"/labels", `{"labels":["default-append"]}`)
	send("POST", "/v1/asset/999999/labels", `{"labels":["x"]}`)
	send("PATCH", "/v1/asset/labels?update_type=delete", `{"filters":{"labels":"critical","domain":["example.com"]},"labels":["critical"]}`)
	send("PATCH", "/v1/asset/labels", `{"filters":{},"labels":["everywhere"]}`)
	vt.skipReq = true // the spec forbids these requests; check the answers only
	send("PATCH", "/v1/asset/labels", `{"filters":{"labels":"x"}}`)
	send("DELETE", "/v1/asset/abc/labels", "")
	send("GET", "/v1/asset/enumerate/contents?limit=-1", "")
	vt.skipReq = false

	f.Update(func(o *pdcpfake.Options) { o.ThrottleFraction = 1; o.RetryAfter = "1" })
	observe(t, c.DeleteLabels(ctx, ok))

	want := []string{
		"delete-v1-asset-id-labels 200", "delete-v1-asset-id-labels 400", "delete-v1-asset-id-labels 401",
		"delete-v1-asset-id-labels 404", "delete-v1-asset-id-labels 500", "delete-v1-asset-id-labels 429",
		"patch-v1-asset-id-labels 200", "patch-v1-asset-id-labels 400", "patch-v1-asset-id-labels 401",
		"patch-v1-asset-id-labels 404", "patch-v1-asset-id-labels 500",
		"post-v1-asset-id-labels 200", "post-v1-asset-id-labels 400", "post-v1-asset-id-labels 401",
		"post-v1-asset-id-labels 404", "post-v1-asset-id-labels 500",
		"patch-v1-asset-labels 200", "patch-v1-asset-labels 400",
		"get-v1-asset-enumerate-contents 200", "get-v1-asset-enumerate-contents 400", "get-v1-asset-enumerate-contents 401",
		"get-v1-asset-enumerate-contents 429", "get-v1-asset-enumerate-contents 500",
	}
	for _, w := range want {
		if !vt.seen[w] {
			t.Errorf("no %s exchange was validated", w)
		}
	}
	if t.Failed() {
		var got []string
		for k := range vt.seen {
			got = append(got, k)
		}
		slices.Sort(got)
		t.Logf("validated: %v", got)
	}
}
