package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labelreset/labelreset/client/pdcpfake"
)

func mustQuery(t *testing.T, s string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestExpressFilters: accepted queries, their normalised listing query and
// their typed AssetFilters.
func TestExpressFilters(t *testing.T) {
	for _, tc := range []struct {
		query, wantQuery, wantJSON string
	}{
		{"labels=stale", "labels=stale", `{"labels":"stale"}`},
		{"labels=+stale,old+&not_seen_for_days=30", "labels=stale%2Cold&not_seen_for_days=30", `{"labels":"stale,old","not_seen_for_days":30}`},
		{"not_seen_for_days=007", "not_seen_for_days=7", `{"not_seen_for_days":7}`},
		{"time=last_week&is_new=true&only_dns=false", "is_new=true&only_dns=false&time=last_week", `{"is_new":true,"only_dns":false,"time":"last_week"}`},
		{"host=a.example.com&port=443&status_code=200&content_length=512&title=Login&cname=cdn.example.net&technologies=nginx&ip=10.0.0.1&search=login",
			"cname=cdn.example.net&content_length=512&host=a.example.com&ip=10.0.0.1&port=443&search=login&status_code=200&technologies=nginx&title=Login",
			`{"cname":"cdn.example.net","content_length":"512","host":"a.example.com","ip":"10.0.0.1","port":"443","search":"login","status_code":"200","technologies":"nginx","title":"Login"}`},
		{"labels=x&is_tech=true&is_favicon=false&is_screenshot=true&only_ip=true&time=all_time",
			"is_favicon=false&is_screenshot=true&is_tech=true&labels=x&only_ip=true&time=all_time",
			`{"is_favicon":false,"is_screenshot":true,"is_tech":true,"labels":"x","only_ip":true,"time":"all_time"}`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			f, err := ExpressFilters(mustQuery(t, tc.query))
			if err != nil {
				t.Fatalf("ExpressFilters(%s): %v", tc.query, err)
			}
			if got := f.Query().Encode(); got != tc.wantQuery {
				t.Errorf("Query() = %s, want %s", got, tc.wantQuery)
			}
			b, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.wantJSON {
				t.Errorf("JSON = %s, want %s", b, tc.wantJSON)
			}
			// The normalised query is itself accepted, unchanged.
			again, err := ExpressFilters(f.Query())
			if err != nil || again.Query().Encode() != tc.wantQuery {
				t.Errorf("ExpressFilters(Query()) = %v, %v; want the same filter", again.Query(), err)
			}
		})
	}
}

// TestExpressFiltersRefuses: every key that does not mean the same in the
// listing and in AssetFilters, unknown and repeated keys, malformed values
// and queries that narrow nothing; each error names the key.
func TestExpressFiltersRefuses(t *testing.T) {
	tests := []struct {
		query, key, err string
		notNarrowing    bool
	}{
		{query: "labels=x&domain=example.com", key: "domain", err: "array"},
		{query: "labels=x&custom_filter=a%253Db", key: "custom_filter", err: "double-encoded"},
		{query: "labels=x&is_internal=true", key: "is_internal", err: "listing only"},
		{query: "labels=x&favicon=123", key: "favicon", err: "listing only"},
		{query: "labels=x&sort_asc=created_at", key: "sort_asc", err: "listing only"},
		{query: "labels=x&sort_desc=created_at", key: "sort_desc", err: "listing only"},
		{query: "labels=x&offset=0", key: "offset", err: "listing only"},
		{query: "labels=x&limit=100", key: "limit", err: "listing only"},
		{query: "labels=x&start_date=2026-01-01", key: "start_date", err: "bulk filter only"},
		{query: "labels=x&end_date=2026-01-01", key: "end_date", err: "bulk filter only"},
		{query: "labels=x&enumeration_ids=e1", key: "enumeration_ids", err: "bulk filter only"},
		{query: "labels=x&id=5", key: "id", err: "unknown"},
		{query: "labels=x&Labels=y", key: "Labels", err: "unknown"},
		{query: "labels=x&labels=y", key: "labels", err: "given 2 times"},
		{query: "labels=x&host=", key: "host", err: "blank"},
		{query: "labels=x&is_new=+", key: "is_new", err: "blank"},
		{query: "labels=x&is_new=1", key: "is_new", err: "true or false"},
		{query: "labels=x&only_dns=TRUE", key: "only_dns", err: "true or false"},
		{query: "labels=x&is_tech=yes", key: "is_tech", err: "true or false"},
		{query: "not_seen_for_days=0", key: "not_seen_for_days", err: ">= 1"},
		{query: "not_seen_for_days=-3", key: "not_seen_for_days", err: ">= 1"},
		{query: "not_seen_for_days=%2B3", key: "not_seen_for_days", err: ">= 1"},
		{query: "not_seen_for_days=1.5", key: "not_seen_for_days", err: ">= 1"},
		{query: "labels=x&time=forever", key: "time", err: "last_day"},
		// Narrow nothing.
		{query: "", notNarrowing: true},
		{query: "is_new=true&only_dns=true", notNarrowing: true},
		{query: "time=all_time", key: "time", notNarrowing: true},
		{query: "labels=*", key: "labels", notNarrowing: true},
		{query: "labels=stale,%2A", key: "labels", notNarrowing: true},
		{query: "search=io", key: "search", notNarrowing: true},
		{query: "host=%2A.example.com", key: "host", notNarrowing: true},
		{query: "labels=%E2%80%8B", key: "labels", notNarrowing: true}, // a zero-width space
	}
	tested := map[string]bool{}
	for _, tc := range tests {
		tested[tc.key] = true
		t.Run(tc.query, func(t *testing.T) {
			f, err := ExpressFilters(mustQuery(t, tc.query))
			if err == nil {
				t.Fatalf("ExpressFilters(%s) = %v, want an error", tc.query, f.Query())
			}
			if got := errors.Is(err, ErrNotNarrowing); got != tc.notNarrowing {
				t.Errorf("errors.Is(%v, ErrNotNarrowing) = %v, want %v", err, got, tc.notNarrowing)
			}
			if tc.key != "" && !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q does not name %q", err, tc.key)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %q does not say %q", err, tc.err)
			}
			if f.q != nil {
				t.Errorf("refused filter carries %v, want the zero BulkFilter", f.q)
			}
		})
	}
	for key := range expressRefused {
		if !tested[key] {
			t.Errorf("refused key %q has no test case", key)
		}
	}
}

// TestExpressKnowsTheSpec: every listing parameter and every AssetFilters
// property is either accepted by ExpressFilters or refused with a reason;
// an accepted one is a parameter of both, typed as ExpressFilters sends
// it.
func TestExpressKnowsTheSpec(t *testing.T) {
	doc, _ := loadSpec(t)
	listing := map[string]string{} // name -> schema type
	for _, p := range doc.Paths.Find("/v1/asset/enumerate/contents").Get.Parameters {
		if p.Value.In == "query" {
			listing[p.Value.Name] = schemaType(p.Value.Schema.Value.Type.Slice())
		}
	}
	props := doc.Components.Schemas["AssetFilters"].Value.Properties
	all := map[string]bool{}
	for k := range listing {
		all[k] = true
	}
	for k := range props {
		all[k] = true
	}
	for name := range all {
		_, accepted := expressKeys[name]
		_, refused := expressRefused[name]
		if accepted == refused {
			t.Errorf("%s: accepted %v, refused %v: want exactly one", name, accepted, refused)
		}
	}
	want := map[expressKind]string{expressString: "string", expressBool: "boolean", expressDays: "integer", expressTime: "string"}
	for name, kind := range expressKeys {
		prop, ok := props[name]
		if !ok || listing[name] == "" {
			t.Errorf("%s: accepted, but in AssetFilters %v and in the listing %v", name, ok, listing[name] != "")
			continue
		}
		got := schemaType(prop.Value.Type.Slice())
		if got != want[kind] || listing[name] != want[kind] {
			t.Errorf("%s: AssetFilters type %q, listing type %q; ExpressFilters sends %q", name, got, listing[name], want[kind])
		}
		if kind == expressDays && (prop.Value.Min == nil || *prop.Value.Min != 1) {
			t.Errorf("%s: AssetFilters minimum %v, ExpressFilters requires 1", name, prop.Value.Min)
		}
		if kind == expressTime && len(prop.Value.Enum) == 0 {
			t.Errorf("%s: AssetFilters has no enum, ExpressFilters checks one", name)
		}
	}
}

func schemaType(types []string) string {
	if len(types) != 1 {
		return strings.Join(types, "|")
	}
	return types[0]
}

// countingServer answers every request with reply and counts requests.
func countingServer(t *testing.T, reply http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		reply(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestBulkUpdateLabelsRefusesWithoutRequest: filters that narrow nothing
// (the zero BulkFilter, one built by hand), a malformed filter, an empty
// delete and an unknown update type never reach the server.
func TestBulkUpdateLabelsRefusesWithoutRequest(t *testing.T) {
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"message":"ok","asset_count":1,"async":false}`)
	})
	c := newTestClient(t, srv.URL)
	narrow, err := ExpressFilters(mustQuery(t, "labels=stale"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		f            BulkFilter
		ut           UpdateType
		labels       []string
		notNarrowing bool
		err          string
	}{
		{name: "zero filter", f: BulkFilter{}, ut: UpdateDelete, labels: []string{"stale"}, notNarrowing: true},
		{name: "empty query", f: BulkFilter{q: url.Values{}}, ut: UpdateDelete, labels: []string{"stale"}, notNarrowing: true},
		{name: "booleans only", f: BulkFilter{q: url.Values{"is_new": {"true"}}}, ut: UpdateDelete, labels: []string{"stale"}, notNarrowing: true, err: "is_new"},
		{name: "catch-all labels", f: BulkFilter{q: url.Values{"labels": {"*"}}}, ut: UpdateAppend, labels: []string{"x"}, notNarrowing: true, err: "labels"},
		{name: "all_time", f: BulkFilter{q: url.Values{"time": {"all_time"}}}, ut: UpdateReplace, labels: []string{"x"}, notNarrowing: true, err: "all_time"},
		{name: "unknown key", f: BulkFilter{q: url.Values{"bogus": {"1"}}}, ut: UpdateDelete, labels: []string{"stale"}, err: "bogus"},
		{name: "delete without labels", f: narrow, ut: UpdateDelete, labels: nil, err: "no labels"},
		{name: "delete with empty labels", f: narrow, ut: UpdateDelete, labels: []string{}, err: "no labels"},
		{name: "no update type", f: narrow, ut: "", labels: []string{"stale"}, err: "update_type"},
		{name: "bad update type", f: narrow, ut: "remove", labels: []string{"stale"}, err: "update_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := c.BulkUpdateLabels(context.Background(), tc.f, tc.ut, tc.labels)
			observe(t, res)
			if res.Outcome != OutcomePermanent || res.Status != 0 || res.Err == nil || res.AssetCount != -1 {
				t.Fatalf("got %v/%d/%v/count %d, want permanent/0/an error/-1", res.Outcome, res.Status, res.Err, res.AssetCount)
			}
			if got := errors.Is(res.Err, ErrNotNarrowing); got != tc.notNarrowing {
				t.Errorf("errors.Is(%v, ErrNotNarrowing) = %v, want %v", res.Err, got, tc.notNarrowing)
			}
			if !strings.Contains(res.Err.Error(), tc.err) {
				t.Errorf("error %q does not say %q", res.Err, tc.err)
			}
		})
	}
	if got := n.Load(); got != 0 {
		t.Errorf("server got %d requests, want 0", got)
	}
	// The server does answer a narrowing call: the count above is not 0
	// because the server is unreachable.
	if res := c.BulkUpdateLabels(context.Background(), narrow, UpdateDelete, []string{"stale"}); res.Outcome != OutcomeReset || n.Load() != 1 {
		t.Errorf("narrowing call: got %v (%v) and %d requests, want reset and 1", res.Outcome, res.Err, n.Load())
	}
}

// TestBulkUpdateLabelsRequest: method, path, update_type (always sent,
// append included), headers and the typed JSON body; and the decoded
// AssetCountResponse.
func TestBulkUpdateLabelsRequest(t *testing.T) {
	type seen struct {
		method, path, query, team, key, ctype, body string
	}
	got := make(chan seen, 1)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Team-Id"), r.Header.Get("X-Api-Key"), r.Header.Get("Content-Type"), string(b)}
		io.WriteString(w, `{"message":"Labels updated","asset_count":42,"async":true}`)
	})
	c := newTestClient(t, srv.URL, func(c *Config) { c.TeamID = "team-7" })
	f, err := ExpressFilters(mustQuery(t, "labels=stale&not_seen_for_days=30&is_new=false"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ut     UpdateType
		labels []string
		body   string
	}{
		{UpdateDelete, []string{"stale", "a,b"}, `{"filters":{"is_new":false,"labels":"stale","not_seen_for_days":30},"labels":["stale","a,b"]}`},
		{UpdateAppend, []string{"x"}, `{"filters":{"is_new":false,"labels":"stale","not_seen_for_days":30},"labels":["x"]}`},
		{UpdateReplace, nil, `{"filters":{"is_new":false,"labels":"stale","not_seen_for_days":30},"labels":[]}`},
	} {
		res := c.BulkUpdateLabels(context.Background(), f, tc.ut, tc.labels)
		observe(t, res)
		if res.Outcome != OutcomeReset || res.Status != 200 || res.Err != nil || res.AssetCount != 42 || !res.Async {
			t.Errorf("%s: got %v/%d/%v count %d async %v, want reset/200/nil 42 true", tc.ut, res.Outcome, res.Status, res.Err, res.AssetCount, res.Async)
		}
		want := seen{"PATCH", "/v1/asset/labels", "update_type=" + string(tc.ut), "team-7", testKey, "application/json", tc.body}
		if diff := cmp.Diff(want, <-got, cmp.AllowUnexported(seen{})); diff != "" {
			t.Errorf("%s: request (-want +got):\n%s", tc.ut, diff)
		}
	}
}

// TestBulkUpdateLabelsAnswers: non-2xx answers are classified as for the
// per-asset calls; a 2xx that does not decode is reset with AssetCount -1
// and an error (the change may have happened).
func TestBulkUpdateLabelsAnswers(t *testing.T) {
	f, err := ExpressFilters(mustQuery(t, "labels=stale"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		truncate   bool
		want       Outcome
		count      int64
		async      bool
		wantErr    bool
		code       string
		retryAfter time.Duration
	}{
		{name: "200 sync", status: 200, body: `{"message":"ok","asset_count":8000,"async":false}`, want: OutcomeReset, count: 8000},
		{name: "200 zero", status: 200, body: `{"message":"ok","asset_count":0,"async":false}`, want: OutcomeReset, count: 0},
		{name: "202 async", status: 202, body: `{"message":"queued","asset_count":100001,"async":true}`, want: OutcomeReset, count: 100001, async: true},
		{name: "200 not json", status: 200, body: `<html>ok</html>`, want: OutcomeReset, count: -1, wantErr: true},
		{name: "200 empty", status: 200, body: ``, want: OutcomeReset, count: -1, wantErr: true},
		{name: "200 no async", status: 200, body: `{"message":"ok","asset_count":3}`, want: OutcomeReset, count: -1, wantErr: true},
		{name: "200 no asset_count", status: 200, body: `{"message":"ok","async":false}`, want: OutcomeReset, count: -1, wantErr: true},
		{name: "200 string count", status: 200, body: `{"message":"ok","asset_count":"3","async":false}`, want: OutcomeReset, count: -1, wantErr: true},
		{name: "200 truncated", status: 200, body: `{"message":"ok","asset_count":3,"async":false}`, truncate: true, want: OutcomeReset, count: -1, wantErr: true},
		{name: "400", status: 400, body: `{"message":"bad filters","code":"INVALID_PARAM"}`, want: OutcomeInvalid, count: -1, code: "INVALID_PARAM"},
		{name: "401", status: 401, body: `{"message":"Invalid or missing API key","code":"UNAUTHORIZED"}`, want: OutcomeUnauthorized, count: -1, code: "UNAUTHORIZED"},
		{name: "403", status: 403, body: `{"message":"no","code":"FORBIDDEN"}`, want: OutcomeUnauthorized, count: -1, code: "FORBIDDEN"},
		{name: "404", status: 404, body: `{"message":"Not found","code":"NOT_FOUND"}`, want: OutcomeNotFound, count: -1, code: "NOT_FOUND"},
		{name: "429", status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"message":"Rate limit exceeded","code":"RATE_LIMITED"}`, want: OutcomeThrottled, count: -1, code: "RATE_LIMITED", retryAfter: 7 * time.Second},
		{name: "500", status: 500, body: `{"message":"boom","code":"INTERNAL"}`, want: OutcomeRetryable, count: -1, code: "INTERNAL"},
		{name: "503 retry-after", status: 503, header: map[string]string{"Retry-After": "3"}, body: `{"message":"later"}`, want: OutcomeThrottled, count: -1, retryAfter: 3 * time.Second},
		{name: "501", status: 501, body: `{"message":"no"}`, want: OutcomePermanent, count: -1},
		{name: "500 echoing the key", status: 500, body: `{"message":"bad key ` + testKey + `"}`, want: OutcomeRetryable, count: -1},
		{name: "200 echoing the key", status: 200, body: `key ` + testKey, want: OutcomeReset, count: -1, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				if tc.truncate {
					w.Header().Set("Content-Length", "500")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			c := newTestClient(t, srv.URL)
			res := c.BulkUpdateLabels(context.Background(), f, UpdateDelete, []string{"stale"})
			observe(t, res)
			if res.Outcome != tc.want || res.Status != tc.status || res.AssetCount != tc.count || res.Async != tc.async {
				t.Fatalf("got %v/%d count %d async %v (%v), want %v/%d count %d async %v",
					res.Outcome, res.Status, res.AssetCount, res.Async, res.Err, tc.want, tc.status, tc.count, tc.async)
			}
			if tc.want == OutcomeReset && (res.Err != nil) != tc.wantErr {
				t.Errorf("got Err %v, want an error: %v", res.Err, tc.wantErr)
			}
			if tc.code != "" && (res.API == nil || res.API.Code != tc.code) {
				t.Errorf("got APIError %+v, want code %q", res.API, tc.code)
			}
			if res.RetryAfter != tc.retryAfter {
				t.Errorf("got RetryAfter %v, want %v", res.RetryAfter, tc.retryAfter)
			}
		})
	}
}

// TestBulkUpdateLabelsCancelled: a cancelled call is retryable with the
// context's error, as for DeleteLabels.
func TestBulkUpdateLabelsCancelled(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := newTestClient(t, srv.URL)
	f, _ := ExpressFilters(mustQuery(t, "labels=stale"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res := c.BulkUpdateLabels(ctx, f, UpdateDelete, []string{"stale"})
	observe(t, res)
	if res.Outcome != OutcomeRetryable || res.Status != 0 || !errors.Is(res.Err, context.DeadlineExceeded) || res.AssetCount != -1 {
		t.Errorf("got %v/%d/%v count %d, want retryable/0/deadline exceeded/-1", res.Outcome, res.Status, res.Err, res.AssetCount)
	}
}

// TestBulkUpdateLabelsConformsToSpec sends bulk calls, every accepted
// parameter included, through the spec-validating transport to the fake
// PDCP: the request must be a valid UpdateAssetLabelsRequest
// (additionalProperties false, each property typed) and the answer a valid
// AssetCountResponse. The count PDCP answers is what Query() lists.
func TestBulkUpdateLabelsConformsToSpec(t *testing.T) {
	_, router := loadSpec(t)
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 500, Seed: 9})
	defer srv.Close()
	vt := &validatingTransport{t: t, router: router, base: http.DefaultTransport.(*http.Transport).Clone(), seen: map[string]bool{}}
	defer vt.base.(*http.Transport).CloseIdleConnections()
	c := newTestClient(t, srv.URL(), func(c *Config) { c.Transport = vt; c.TeamID = "team-1" })
	ctx := context.Background()
	for _, query := range []string{
		"labels=stale&not_seen_for_days=30",
		"labels=critical,pci&time=last_12_months&port=443&technologies=nginx",
		"search=asset-1&status_code=200,404&content_length=520&title=Asset+10&cname=cdn-0.example.net&ip=198.18.0.10&host=asset-10.example.org",
		"labels=team:a&is_tech=true&is_favicon=true&is_new=false&is_screenshot=false&only_dns=false&only_ip=false&time=all_time",
	} {
		f, err := ExpressFilters(mustQuery(t, query))
		if err != nil {
			t.Fatalf("ExpressFilters(%s): %v", query, err)
		}
		var listed int64
		for _, err := range c.ListAssets(ctx, AssetFilter{Extra: f.Query()}, 200) {
			if err != nil {
				t.Fatalf("list %s: %v", query, err)
			}
			listed++
		}
		res := c.BulkUpdateLabels(ctx, f, UpdateAppend, []string{"seen-by-bulk"})
		observe(t, res)
		if res.Outcome != OutcomeReset || res.Err != nil || res.AssetCount != listed {
			t.Errorf("%s: got %v (%v) count %d, want reset and the %d assets the listing shows", query, res.Outcome, res.Err, res.AssetCount, listed)
		}
	}
	// The fake's async answer and its failures are spec answers too.
	f, _ := ExpressFilters(mustQuery(t, "labels=critical"))
	srv.Fake().Update(func(o *pdcpfake.Options) { o.BulkAsyncAbove, o.BulkAsyncDelay = 1, time.Millisecond })
	if res := c.BulkUpdateLabels(ctx, f, UpdateDelete, []string{"critical"}); res.Outcome != OutcomeReset || !res.Async || res.AssetCount < 2 {
		t.Errorf("async bulk call: got %v (%v) count %d async %v, want reset, async, count > 1", res.Outcome, res.Err, res.AssetCount, res.Async)
	}
	for status, want := range map[int]Outcome{500: OutcomeRetryable, 400: OutcomeInvalid, 404: OutcomeNotFound} {
		srv.Fake().Update(func(o *pdcpfake.Options) { o.BulkFailStatus = status })
		res := c.BulkUpdateLabels(ctx, f, UpdateDelete, []string{"critical"})
		observe(t, res)
		if res.Outcome != want || res.Status != status {
			t.Errorf("BulkFailStatus %d: got %v/%d, want %v", status, res.Outcome, res.Status, want)
		}
	}
	bad := newTestClient(t, srv.URL(), func(c *Config) { c.Transport = vt; c.APIKey = "wrong" })
	if res := bad.BulkUpdateLabels(ctx, f, UpdateDelete, []string{"critical"}); res.Outcome != OutcomeUnauthorized {
		t.Errorf("wrong key: got %v, want unauthorized", res.Outcome)
	}
	for _, w := range []string{"patch-v1-asset-labels 200", "patch-v1-asset-labels 400", "patch-v1-asset-labels 401",
		"patch-v1-asset-labels 404", "patch-v1-asset-labels 500"} {
		if !vt.seen[w] {
			t.Errorf("no %s exchange validated; saw %v", w, slices.Sorted(maps.Keys(vt.seen)))
		}
	}
}
