package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labelreset/labelreset/client/pdcpfake"
)

func TestListAssetsPaging(t *testing.T) {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, FirstID: 1000, Assets: 250, AssetIDs: []int64{5, 9_000_000_000}})
	defer srv.Close()
	c := newTestClient(t, srv.URL())
	var ids []int64
	for a, err := range c.ListAssets(context.Background(), AssetFilter{}, 100) {
		if err != nil {
			observe(t, err)
			t.Fatalf("ListAssets: %v", err)
		}
		if a.Name == "" || len(a.Labels) != 3 {
			t.Errorf("asset %+v: want a name and 3 labels", a)
		}
		ids = append(ids, a.ID)
	}
	if diff := cmp.Diff(srv.Fake().AssetIDs(), ids); diff != "" {
		t.Errorf("listed IDs (-want +got):\n%s", diff)
	}
	// Three pages and the empty one that ends the listing.
	if got := srv.Fake().Stats().ListCalls; got != 4 {
		t.Errorf("got %d page requests for 252 assets at 100/page, want 4", got)
	}
}

func TestListAssetsFilter(t *testing.T) {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 500, Seed: 7})
	defer srv.Close()
	f := srv.Fake()
	c := newTestClient(t, srv.URL())
	var want []int64
	for _, id := range f.AssetIDs() {
		l, _ := f.Labels(id)
		if slices.Contains(l, "critical") || slices.Contains(l, "pci") {
			want = append(want, id)
		}
	}
	var got []int64
	for a, err := range c.ListAssets(context.Background(), AssetFilter{Labels: []string{"critical", "pci"}}, 37) {
		if err != nil {
			t.Fatalf("ListAssets: %v", err)
		}
		got = append(got, a.ID)
	}
	if len(want) == 0 || len(want) == 500 {
		t.Fatalf("seeding gives %d matches; the test needs a proper subset", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("assets with critical or pci (-want +got):\n%s", diff)
	}
}

func TestListAssetsStopsEarly(t *testing.T) {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 1000})
	defer srv.Close()
	c := newTestClient(t, srv.URL())
	n := 0
	for range c.ListAssets(context.Background(), AssetFilter{}, 10) {
		if n++; n == 15 {
			break
		}
	}
	if got := srv.Fake().Stats().ListCalls; got != 2 {
		t.Errorf("got %d page requests after breaking at item 15 of pages of 10, want 2", got)
	}
}

func TestListAssetsErrors(t *testing.T) {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: "another-key", Assets: 10})
	defer srv.Close()
	c := newTestClient(t, srv.URL())
	var errs []error
	for _, err := range c.ListAssets(context.Background(), AssetFilter{}, 0) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || errs[0] == nil {
		t.Fatalf("got %v, want exactly one error", errs)
	}
	observe(t, errs[0])
	var se *StatusError
	if !errors.As(errs[0], &se) || se.Result.Outcome != OutcomeUnauthorized || se.Result.Status != 401 {
		t.Fatalf("got %v, want a *StatusError with 401 unauthorized", errs[0])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range c.ListAssets(ctx, AssetFilter{}, 0) {
		observe(t, err)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	}
}

func TestAssetFilterQuery(t *testing.T) {
	yes := true
	f := AssetFilter{
		Labels: []string{"env:prod", "team:a"}, NotSeenForDays: 30, Search: "api", Host: "a.example.com,b.example.com",
		Domain: "example.com", Time: TimeLastMonth, IsInternal: &yes, CustomFilter: "x%3Dy",
		Extra: url.Values{"port": {"443"}, "offset": {"5"}, "limit": {"9"}},
	}
	want := url.Values{
		"labels": {"env:prod,team:a"}, "not_seen_for_days": {"30"}, "search": {"api"}, "host": {"a.example.com,b.example.com"},
		"domain": {"example.com"}, "time": {"last_month"}, "is_internal": {"true"}, "custom_filter": {"x%3Dy"}, "port": {"443"},
	}
	if diff := cmp.Diff(want, f.Query()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := (AssetFilter{}).Query(); len(got) != 0 {
		t.Errorf("zero filter gives %v, want no parameters", got)
	}
}

// pager serves n assets (IDs 1..n) by offset and limit, with the quirks a
// real server may have; the spec promises neither full pages nor a total.
type pager struct {
	n        int
	maxLimit int          // cap on limit (0 = none)
	noOffset bool         // ignore offset (a broken server)
	fail     map[int]int  // offset -> how many times to answer 503 first
	status   int          // status of those failures (default 503)
	noData   bool         // answer {"message":"ok"} without data
	nullData bool         // answer an empty page as "data": null
	calls    atomic.Int64 // requests served
	mu       sync.Mutex   // guards fail
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	lim, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	p.mu.Lock()
	failNow := p.fail[off] > 0
	if failNow {
		p.fail[off]--
	}
	p.mu.Unlock()
	if failNow {
		w.Header().Set("Retry-After", "0")
		status := p.status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		fmt.Fprint(w, `{"message":"try again"}`)
		return
	}
	if p.noData {
		fmt.Fprint(w, `{"message":"ok"}`)
		return
	}
	if p.noOffset {
		off = 0
	}
	if p.maxLimit > 0 {
		lim = min(lim, p.maxLimit)
	}
	var items []string
	for id := off + 1; id <= min(off+lim, p.n); id++ {
		items = append(items, fmt.Sprintf(`{"id":%d,"name":"a%d"}`, id, id))
	}
	if len(items) == 0 && p.nullData {
		fmt.Fprint(w, `{"message":"ok","data":null}`)
		return
	}
	fmt.Fprintf(w, `{"message":"ok","data":[%s]}`, strings.Join(items, ","))
}

func listAll(t *testing.T, p *pager, pageSize int) ([]int64, error) {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL)
	var ids []int64
	for a, err := range c.ListAssets(context.Background(), AssetFilter{}, pageSize) {
		if err != nil {
			return ids, err
		}
		ids = append(ids, a.ID)
	}
	return ids, nil
}

// TestListAssetsServerQuirks: a server that caps limit still yields every
// asset (a short page is not the last); one that ignores offset ends with
// an error instead of a loop; failed pages are retried; a page without
// the required data array is an error, not the end.
func TestListAssetsServerQuirks(t *testing.T) {
	defer func(d time.Duration) { listRetryDelay = d }(listRetryDelay)
	listRetryDelay = time.Millisecond
	ids, err := listAll(t, &pager{n: 257, maxLimit: 50}, 100)
	if err != nil || len(ids) != 257 || ids[256] != 257 {
		t.Errorf("limit capped at 50: %d assets, %v; want all 257", len(ids), err)
	}
	if ids, err = listAll(t, &pager{n: 150, nullData: true}, 100); err != nil || len(ids) != 150 {
		t.Errorf(`empty page as "data": null: %d assets, %v; want 150 and the end`, len(ids), err)
	}

	p := &pager{n: 500, noOffset: true}
	ids, err = listAll(t, p, 100)
	if err == nil || !strings.Contains(err.Error(), "does not advance") || len(ids) != 100 || p.calls.Load() != 2 {
		t.Errorf("offset ignored: %d assets, %d requests, %v; want 100, 2 and an error", len(ids), p.calls.Load(), err)
	}

	p = &pager{n: 250, fail: map[int]int{100: 2}}
	ids, err = listAll(t, p, 100)
	if err != nil || len(ids) != 250 || p.calls.Load() != 6 {
		t.Errorf("503 twice on page 2: %d assets, %d requests, %v; want 250, 6, no error", len(ids), p.calls.Load(), err)
	}
	p = &pager{n: 250, fail: map[int]int{0: 1}, status: http.StatusTooManyRequests}
	if ids, err = listAll(t, p, 100); err != nil || len(ids) != 250 {
		t.Errorf("429 on page 1: %d assets, %v; want 250", len(ids), err)
	}
	p = &pager{n: 250, fail: map[int]int{0: 1}, status: http.StatusBadRequest}
	if _, err = listAll(t, p, 100); err == nil || p.calls.Load() != 1 {
		t.Errorf("400: %d requests, %v; want 1 and an error (not retried)", p.calls.Load(), err)
	}

	_, err = listAll(t, &pager{n: 10, noData: true}, 100)
	var se *StatusError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), `no "data" array`) {
		t.Errorf("page without data: %v, want an error", err)
	}
}
