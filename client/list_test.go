package client

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"

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
	if got := srv.Fake().Stats().ListCalls; got != 3 {
		t.Errorf("got %d page requests for 252 assets at 100/page, want 3", got)
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
