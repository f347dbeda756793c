package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// heavyPage is a listing page of n items carrying the heavy fields PDCP
// sends (body, TLS, technologies, favicon) besides id and labels.
func heavyPage(n int) string {
	var b strings.Builder
	b.WriteString(`{"message":"Enumeration contents","data":[`)
	body := strings.Repeat("<div>lorem ipsum dolor sit amet</div>", 40)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		id := strconv.Itoa(1_000_000 + i)
		b.WriteString(`{"enumeration_id":"enum-1","name":"https://asset-` + id + `.example.com","created_at":"2026-01-02T03:04:05Z",` +
			`"id":` + id + `,"labels":["env:prod","owner: Zoë","a,b"],"body":"` + body + `",` +
			`"tls":{"issuer":"CN=R3","sans":["a.example.com","b.example.com"],"not_after":"2027-01-01T00:00:00Z"},` +
			`"technologies":["nginx","PHP","jQuery"],"favicon":"-123456","ip":["198.18.0.1"],"status_code":200}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// pageTransport answers every request with the same 200 body.
type pageTransport struct{ body string }

func (p pageTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(p.body)), Request: r}, nil
}

// BenchmarkListPageDecode measures decoding one 1000-item page of heavy
// items (stub transport: the decode, not the network).
func BenchmarkListPageDecode(b *testing.B) {
	page := heavyPage(1000)
	c, _ := New(Config{APIKey: testKey, Server: "https://api.example.com", Transport: pageTransport{page}})
	ctx := context.Background()
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		items, err := c.ListPage(ctx, AssetFilter{}, 0, 1000)
		if err != nil || len(items) != 1000 {
			b.Fatalf("%d items, %v", len(items), err)
		}
	}
}

func TestDecodePage(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ids        []int64
		err        string
	}{
		{"heavy items", heavyPage(3), []int64{1_000_000, 1_000_001, 1_000_002}, ""},
		{"data first, fields after", `{"data":[{"id":7,"labels":["x"]}],"message":"ok","extra":{"a":[1,2]}}`, []int64{7}, ""},
		{"null data", `{"message":"ok","data":null}`, nil, ""},
		{"empty data", `{"data":[]}`, nil, ""},
		{"no data", `{"message":"ok"}`, nil, `no "data" array`},
		{"data not an array", `{"data":{"id":1}}`, nil, "not an array"},
		{"not an object", `[1]`, nil, "want"},
		{"cut short", `{"data":[{"id":1},{"id":2`, nil, "EOF"},
		{"bad item", `{"data":[{"id":"x"}]}`, nil, "item 0"},
	} {
		items, err := decodePage(json.NewDecoder(strings.NewReader(tc.body)))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.err)
			}
			continue
		}
		var ids []int64
		for _, a := range items {
			ids = append(ids, a.ID)
		}
		if err != nil || !slices.Equal(ids, tc.ids) {
			t.Errorf("%s: got %v, %v; want %v", tc.name, ids, err, tc.ids)
		}
	}
	items, _ := decodePage(json.NewDecoder(strings.NewReader(heavyPage(1))))
	if want := []string{"env:prod", "owner: Zoë", "a,b"}; len(items) != 1 || !slices.Equal(items[0].Labels, want) {
		t.Errorf("items %+v, want labels %q", items, want)
	}
}

// TestListPageDecodeBytes guards the streaming decode: a 1000-item page of
// heavy items (1.8 MB) must not be held whole. Decoding it through a
// json.RawMessage of the data array cost 6.4 MB per page; streaming item by
// item costs about 0.3 MB (the items kept and the decoder's buffer).
func TestListPageDecodeBytes(t *testing.T) {
	r := testing.Benchmark(BenchmarkListPageDecode)
	perPage := r.AllocedBytesPerOp()
	t.Logf("%d B, %d allocations per 1000-item page", perPage, r.AllocsPerOp())
	if perPage > 1<<20 {
		t.Errorf("%d B allocated per page, want ≤ 1 MiB: the page is held whole", perPage)
	}
}
