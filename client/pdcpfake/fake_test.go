package pdcpfake

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const key = "test-key"

// call sends one request to the Fake through a real server and returns
// status, body and headers.
func call(t *testing.T, s *Server, method, path, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestLabelEndpoints(t *testing.T) {
	s := NewServer(Options{Assets: 3})
	defer s.Close()
	f := s.Fake()
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		resp                     string
	}{
		{"delete", "DELETE", "/v1/asset/1/labels", "", nil, 200, `{"message":"All labels removed successfully"}`},
		{"unknown asset", "DELETE", "/v1/asset/99/labels", "", nil, 404, `{"message":"Asset not found","code":"NOT_FOUND"}`},
		{"not an int64", "DELETE", "/v1/asset/abc/labels", "", nil, 400, `{"message":"Invalid asset ID format","code":"INVALID_ID"}`},
		{"int64 overflow", "DELETE", "/v1/asset/9223372036854775808/labels", "", nil, 400, `{"message":"Invalid asset ID format","code":"INVALID_ID"}`},
		{"wrong key", "DELETE", "/v1/asset/1/labels", "", []string{"X-Api-Key", "nope"}, 401, `{"message":"Invalid or missing API key","code":"UNAUTHORIZED"}`},
		{"spec spelling of the header", "DELETE", "/v1/asset/2/labels", "", []string{"X-API-KEY", key}, 200, `{"message":"All labels removed successfully"}`},
		{"method", "PUT", "/v1/asset/1/labels", "", nil, 405, `{"message":"Method not allowed","code":"METHOD_NOT_ALLOWED"}`},
		{"append", "PATCH", "/v1/asset/1/labels?update_type=append", `{"labels":["a","b"]}`, nil, 200, `{"message":"Labels added successfully"}`},
		{"remove", "PATCH", "/v1/asset/1/labels?update_type=delete", `{"labels":["a"]}`, nil, 200, `{"message":"Labels removed successfully"}`},
		{"post", "POST", "/v1/asset/1/labels", `{"labels":["critical"]}`, nil, 200, `{"message":"Labels added successfully"}`},
		{"bad update_type", "PATCH", "/v1/asset/1/labels?update_type=x", `{"labels":["a"]}`, nil, 400, `{"message":"Invalid update_type: use append, replace or delete","code":"INVALID_PARAM"}`},
		{"missing labels", "PATCH", "/v1/asset/1/labels", `{}`, nil, 400, `{"message":"Invalid request body: labels is required","code":"INVALID_BODY"}`},
		{"no route", "GET", "/v2/whatever", "", nil, 404, `{"message":"Not found","code":"NOT_FOUND"}`},
	}
	for _, tc := range tests {
		status, body, hdr := call(t, s, tc.method, tc.path, tc.body, tc.hdr...)
		if status != tc.status || body != tc.resp {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, status, body, tc.status, tc.resp)
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: got Content-Type %q", tc.name, ct)
		}
	}
	if got, _ := f.Labels(1); !slices.Equal(got, []string{"critical", "b"}) {
		t.Errorf("labels of 1: got %v, want [critical b]", got)
	}
	if got, _ := f.Labels(2); len(got) != 0 {
		t.Errorf("labels of 2: got %v, want none", got)
	}
	call(t, s, "PATCH", "/v1/asset/3/labels?update_type=replace", `{"labels":["x","env:prod"]}`)
	if got, _ := f.Labels(3); !slices.Equal(got, []string{"env:prod", "x"}) {
		t.Errorf("labels of 3 after replace: got %v, want [env:prod x]", got)
	}
	st := f.Stats()
	if st.Unauthorized != 1 || st.ByStatus[405] != 1 || st.ByMethod["PATCH"] != 5 {
		t.Errorf("stats %+v", st)
	}
	if _, ok := f.Labels(99); ok {
		t.Error("Labels(99) reports a seeded asset")
	}
}

func TestDeterministicKinds(t *testing.T) {
	opts := Options{Assets: 10_000, Seed: 42, InvalidFraction: 0.05, FailFraction: 0.1, FailTimes: 2, AssetIDs: []int64{1 << 40}}
	a, b := New(opts), New(opts)
	counts := map[string]int{}
	for id := int64(0); id <= 10_001; id++ {
		if a.Kind(id) != b.Kind(id) {
			t.Fatalf("Kind(%d) differs between equal fakes", id)
		}
		counts[a.Kind(id)]++
		la, _ := a.Labels(id)
		lb, _ := b.Labels(id)
		if !slices.Equal(la, lb) {
			t.Fatalf("Labels(%d) differ between equal fakes", id)
		}
	}
	if counts[KindNotFound] != 2 || a.Kind(1<<40) == KindNotFound {
		t.Errorf("not_found: %d, want 2 (IDs 0 and 10001); explicit ID kind %s", counts[KindNotFound], a.Kind(1<<40))
	}
	if n := counts[KindInvalid]; n < 400 || n > 600 {
		t.Errorf("invalid: %d of 10000, want ≈500", n)
	}
	if n := counts[KindFlaky]; n < 800 || n > 1100 {
		t.Errorf("flaky: %d of 10000, want ≈950", n)
	}
	if c := New(Options{Assets: 100, Seed: 43, InvalidFraction: 0.5}); func() bool {
		for id := int64(1); id <= 100; id++ {
			if c.Kind(id) != a.Kind(id) {
				return false
			}
		}
		return true
	}() {
		t.Error("a different seed gives the same kinds")
	}
}

func TestFailingAndFlaky(t *testing.T) {
	s := NewServer(Options{Assets: 200, Seed: 1, FailFraction: 0.3, FailTimes: 2, FailStatus: 502})
	defer s.Close()
	f := s.Fake()
	var flaky int64
	for _, id := range f.AssetIDs() {
		if f.Kind(id) == KindFlaky {
			flaky = id
			break
		}
	}
	var got []int
	for range 4 {
		st, _, _ := call(t, s, "DELETE", "/v1/asset/"+strconv.FormatInt(flaky, 10)+"/labels", "")
		got = append(got, st)
	}
	if want := []int{502, 502, 200, 200}; !slices.Equal(got, want) {
		t.Errorf("flaky asset answered %v, want %v", got, want)
	}
	calls := f.Calls(flaky)
	if len(calls) != 4 || calls[0].Status != 502 || calls[3].Status != 200 {
		t.Errorf("calls %+v", calls)
	}

	f.Update(func(o *Options) { o.FailTimes = -1 })
	if k := f.Kind(flaky); k != KindFailing {
		t.Fatalf("after FailTimes=-1 got kind %s, want failing", k)
	}
	if st, body, _ := call(t, s, "DELETE", "/v1/asset/"+strconv.FormatInt(flaky, 10)+"/labels", ""); st != 502 || !strings.Contains(body, `"error_id":"fake-`) {
		t.Errorf("failing asset: got %d %s", st, body)
	}
}

func TestUnauthorizedAfterAndUpdate(t *testing.T) {
	s := NewServer(Options{Assets: 10, UnauthorizedAfter: 3})
	defer s.Close()
	var got []int
	for id := 1; id <= 5; id++ {
		st, _, _ := call(t, s, "DELETE", "/v1/asset/"+strconv.Itoa(id)+"/labels", "")
		got = append(got, st)
	}
	if want := []int{200, 200, 200, 401, 401}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	s.Fake().Update(func(o *Options) { o.UnauthorizedAfter = 0; o.APIKey = "rotated" })
	if st, _, _ := call(t, s, "DELETE", "/v1/asset/6/labels", ""); st != 401 {
		t.Errorf("old key after rotation: got %d, want 401", st)
	}
	if st, _, _ := call(t, s, "DELETE", "/v1/asset/6/labels", "", "X-Api-Key", "rotated"); st != 200 {
		t.Errorf("new key: got %d, want 200", st)
	}
}

func TestThrottleAndRateLimit(t *testing.T) {
	s := NewServer(Options{Assets: 10, ThrottleFraction: 1, RetryAfter: "2"})
	defer s.Close()
	st, body, hdr := call(t, s, "DELETE", "/v1/asset/1/labels", "")
	if st != 429 || hdr.Get("Retry-After") != "2" || body != `{"message":"Rate limit exceeded","code":"RATE_LIMITED"}` {
		t.Errorf("got %d %q %s", st, hdr.Get("Retry-After"), body)
	}
	s.Fake().Update(func(o *Options) { o.ThrottleFraction = 0; o.RateLimit = 1; o.RateBurst = 2 })
	// The bucket was created empty-burst at New (RateLimit 0): refill first.
	time.Sleep(1100 * time.Millisecond)
	var ok, throttled int
	for range 6 {
		switch st, _, _ := call(t, s, "DELETE", "/v1/asset/2/labels", ""); st {
		case 200:
			ok++
		case 429:
			throttled++
		}
	}
	if ok < 1 || ok > 3 || throttled < 3 {
		t.Errorf("rate limit 1/s burst 2: got %d ok, %d throttled of 6", ok, throttled)
	}
	if s.Fake().Stats().Throttled != int64(throttled)+1 {
		t.Errorf("Throttled counter %d, want %d", s.Fake().Stats().Throttled, throttled+1)
	}
}

func TestResetAndTruncate(t *testing.T) {
	s := NewServer(Options{Assets: 10, Script: map[int64][]Reply{
		1: {{Reset: true}},
		2: {{Status: 500, Truncate: true}},
		3: {{Status: 503, Header: map[string]string{"Retry-After": "5"}, Body: "busy"}, {Delay: 10 * time.Millisecond}},
	}})
	defer s.Close()
	if _, err := s.Client().Do(mustReq(t, s, "1")); err == nil {
		t.Error("reset: got a response, want a transport error")
	}
	resp, err := s.Client().Do(mustReq(t, s, "2"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || err == nil {
		t.Errorf("truncate: got %d, read error %v; want 500 and an unexpected EOF", resp.StatusCode, err)
	}
	st, body, hdr := call(t, s, "DELETE", "/v1/asset/3/labels", "")
	if st != 503 || body != "busy" || hdr.Get("Retry-After") != "5" {
		t.Errorf("script 1: got %d %q %q", st, body, hdr.Get("Retry-After"))
	}
	if st, _, _ := call(t, s, "DELETE", "/v1/asset/3/labels", ""); st != 200 {
		t.Errorf("script 2: got %d, want 200", st)
	}
	if got, _ := s.Fake().Labels(3); len(got) != 0 {
		t.Errorf("a scripted 200 must apply the DELETE; labels %v", got)
	}
	if st, _, _ := call(t, s, "DELETE", "/v1/asset/3/labels", ""); st != 200 {
		t.Errorf("after the script: got %d, want 200", st)
	}
	s.Fake().Update(func(o *Options) { o.Script = map[int64][]Reply{3: {{Status: 418}}} })
	if st, _, _ := call(t, s, "DELETE", "/v1/asset/3/labels", ""); st != 418 {
		t.Errorf("new script: got %d, want 418", st)
	}
	stats := s.Fake().Stats()
	if stats.Resets != 1 || stats.Truncated != 1 {
		t.Errorf("stats resets %d truncated %d, want 1/1", stats.Resets, stats.Truncated)
	}
	if c := s.Fake().Calls(1); len(c) != 1 || c[0].Status != 0 {
		t.Errorf("reset call logged as %+v, want status 0", c)
	}
}

func mustReq(t *testing.T, s *Server, id string) *http.Request {
	req, err := http.NewRequest("DELETE", s.URL()+"/v1/asset/"+id+"/labels", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	return req
}

type page struct {
	Message string `json:"message"`
	Data    []item `json:"data"`
}

func list(t *testing.T, s *Server, query string) (int, page) {
	t.Helper()
	st, body, _ := call(t, s, "GET", "/v1/asset/enumerate/contents?"+query, "")
	var p page
	if st == 200 {
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	return st, p
}

func TestListing(t *testing.T) {
	s := NewServer(Options{Assets: 300, Seed: 9})
	defer s.Close()
	f := s.Fake()
	ids := func(p page) (out []int64) {
		for _, it := range p.Data {
			out = append(out, it.ID)
		}
		return out
	}
	_, p := list(t, s, "")
	if len(p.Data) != 100 || p.Data[0].ID != 1 {
		t.Fatalf("default page: %d items starting at %v", len(p.Data), ids(p)[:1])
	}
	_, p = list(t, s, "offset=290&limit=50")
	if diff := cmp.Diff(f.AssetIDs()[290:], ids(p)); diff != "" {
		t.Errorf("last page (-want +got):\n%s", diff)
	}
	_, p = list(t, s, "limit=5000")
	if len(p.Data) != 300 {
		t.Errorf("limit capped at 1000: got %d of 300", len(p.Data))
	}
	// labels: any of.
	_, p = list(t, s, "labels=pci,stale&limit=1000")
	var want []int64
	for _, id := range f.AssetIDs() {
		l, _ := f.Labels(id)
		if slices.Contains(l, "pci") || slices.Contains(l, "stale") {
			want = append(want, id)
		}
	}
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Errorf("labels=pci,stale (-want +got):\n%s", diff)
	}
	_, p = list(t, s, "search=ASSET-12.&limit=1000")
	if len(p.Data) != 1 || p.Data[0].ID != 12 {
		t.Errorf("search: got %v, want [12]", ids(p))
	}
	for _, q := range []string{"not_seen_for_days=60", "time=last_month", "is_internal=true", "domain=example.org"} {
		_, all := list(t, s, "limit=1000")
		_, sub := list(t, s, q+"&limit=1000")
		if len(sub.Data) == 0 || len(sub.Data) >= len(all.Data) {
			t.Errorf("%s: %d of %d assets match, want a proper subset", q, len(sub.Data), len(all.Data))
		}
	}
	for _, q := range []string{"limit=0", "offset=-1", "not_seen_for_days=0", "time=yesterday", "is_internal=maybe"} {
		if st, _ := list(t, s, q); st != 400 {
			t.Errorf("%s: got %d, want 400", q, st)
		}
	}
	// Deleting labels takes assets out of a label filter.
	call(t, s, "DELETE", "/v1/asset/"+strconv.FormatInt(want[0], 10)+"/labels", "")
	_, p = list(t, s, "labels=pci,stale&limit=1000")
	if len(p.Data) != len(want)-1 {
		t.Errorf("after DELETE: %d match, want %d", len(p.Data), len(want)-1)
	}
}

func TestBulkPatch(t *testing.T) {
	s := NewServer(Options{Assets: 100, Seed: 5})
	defer s.Close()
	f := s.Fake()
	before := 0
	for _, id := range f.AssetIDs() {
		if l, _ := f.Labels(id); slices.Contains(l, "critical") {
			before++
		}
	}
	st, body, _ := call(t, s, "PATCH", "/v1/asset/labels?update_type=delete", `{"filters":{"labels":"critical"},"labels":["critical"]}`)
	if want := `{"message":"Labels updated successfully","asset_count":` + strconv.Itoa(before) + `,"async":false}`; st != 200 || body != want {
		t.Errorf("got %d %s, want 200 %s", st, body, want)
	}
	for _, id := range f.AssetIDs() {
		if l, _ := f.Labels(id); slices.Contains(l, "critical") {
			t.Fatalf("asset %d still has critical", id)
		}
	}
	st, body, _ = call(t, s, "PATCH", "/v1/asset/labels", `{"filters":{},"labels":["all"]}`)
	if st != 200 || !strings.Contains(body, `"asset_count":100`) {
		t.Errorf("empty filters must match all assets: %d %s", st, body)
	}
	if st, _, _ := call(t, s, "PATCH", "/v1/asset/labels", `{"filters":{"bogus":1},"labels":[]}`); st != 400 {
		t.Errorf("unknown filter: got %d, want 400", st)
	}
}

func TestAdminEndpoints(t *testing.T) {
	s := NewServer(Options{Assets: 5})
	defer s.Close()
	call(t, s, "DELETE", "/v1/asset/1/labels", "", "X-Team-Id", "t9")
	call(t, s, "DELETE", "/v1/asset/7/labels", "")

	resp, err := http.Post(s.URL()+"/_fake/config", "application/json", strings.NewReader(`{"api_key":"k2","unauthorized_after":1,"latency_ms":1.5,"fail_fraction":0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	o := s.Fake().Options()
	if resp.StatusCode != 200 || o.APIKey != "k2" || o.UnauthorizedAfter != 1 || o.Latency != 1500*time.Microsecond || o.FailFraction != 0.5 {
		t.Errorf("config patch: %d %+v", resp.StatusCode, o)
	}
	resp, _ = http.Post(s.URL()+"/_fake/config", "application/json", strings.NewReader(`{"nope":1}`))
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unknown config field: got %d, want 400", resp.StatusCode)
	}

	resp, err = http.Get(s.URL() + "/_fake/calls")
	if err != nil {
		t.Fatal(err)
	}
	var calls []Call
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
	}
	resp.Body.Close()
	if len(calls) != 2 || calls[0].AssetID != 1 || calls[0].Team != "t9" || calls[1].Status != 404 {
		t.Errorf("calls %+v", calls)
	}

	resp, err = http.Get(s.URL() + "/_fake/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.LabelCalls != 2 || st.ByStatus[200] != 1 || st.ByStatus[404] != 1 {
		t.Errorf("stats %+v %v", st, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	f := New(Options{Assets: 1000, FailFraction: 0.2, ThrottleFraction: 0.1})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				id := int64((g*300+i)%1000 + 1)
				req := httptest.NewRequest("DELETE", "/v1/asset/"+strconv.FormatInt(id, 10)+"/labels", nil)
				req.Header.Set("X-Api-Key", key)
				f.ServeHTTP(httptest.NewRecorder(), req)
				if i%50 == 0 {
					f.Update(func(o *Options) { o.ThrottleFraction = float64(i%3) / 10 })
					_ = f.Stats()
					_, _ = f.Labels(id)
				}
			}
		})
	}
	wg.Wait()
	st := f.Stats()
	if st.LabelCalls != 2400 || len(f.Log()) != 2400 {
		t.Errorf("got %d label calls, %d logged, want 2400", st.LabelCalls, len(f.Log()))
	}
	if st.InFlight != 0 || st.MaxInFlight < 1 {
		t.Errorf("in flight %d, max %d", st.InFlight, st.MaxInFlight)
	}
}

func BenchmarkFakeDelete(b *testing.B) {
	f := New(Options{Assets: 100_000, NoLog: true})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("DELETE", "/v1/asset/77/labels", nil)
		req.Header.Set("X-Api-Key", key)
		w := httptest.NewRecorder()
		for pb.Next() {
			f.ServeHTTP(w, req)
		}
	})
}
