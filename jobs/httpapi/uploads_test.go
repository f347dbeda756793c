package httpapi_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/labelreset/labelreset/jobs/httpapi"
)

// TestConcurrentUploadsBeyondLimitAre503 (issue 15 item 13): with
// MaxConcurrentUploads uploads in progress, one more create is refused at
// once with 503 and Retry-After; once they finish, creates work again.
func TestConcurrentUploadsBeyondLimitAre503(t *testing.T) {
	const limit = 2
	e := newEnv(t, func(c *httpapi.Config) { c.MaxConcurrentUploads = limit })
	var wg sync.WaitGroup
	pws := make([]*io.PipeWriter, limit)
	results := make([]resp, limit)
	for i := range limit {
		pr, pw := io.Pipe()
		pws[i] = pw
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=slow-" + strconv.Itoa(i), ctype: "text/csv", body: pr})
			pr.Close()
		}()
		// The write returns once the handler reads the body, that is,
		// once it holds its slot.
		if _, err := io.WriteString(pw, "asset_id\n1\n"); err != nil {
			t.Fatal(err)
		}
	}
	r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=one-more", ctype: "text/csv", body: csvBody(idLines(1, 3)...)})
	if r.status != http.StatusServiceUnavailable || r.errCode(t) != "too_many_uploads" {
		t.Errorf("upload %d of %d at once: status %d %s, want 503 too_many_uploads", limit+1, limit, r.status, r.body)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("503 without a Retry-After in seconds: %q", r.header.Get("Retry-After"))
	}
	if !strings.Contains(string(r.body), strconv.Itoa(limit)) {
		t.Errorf("503 does not name the limit %d: %s", limit, r.body)
	}
	for _, pw := range pws {
		io.WriteString(pw, "2\n3\n")
		pw.Close()
	}
	wg.Wait()
	for i, res := range results {
		if res.status != http.StatusCreated {
			t.Errorf("held upload %d: status %d %s, want 201", i, res.status, res.body)
		}
	}
	if r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=after", ctype: "text/csv", body: csvBody(idLines(1, 3)...)}); r.status != http.StatusCreated {
		t.Errorf("upload after the others finished: status %d %s, want 201", r.status, r.body)
	}
}

// TestUploadOverMemoryBudgetIs413 (issue 15 item 13): an upload whose ID
// set passes MaxUploadMemory is refused with 413 naming the limit, and
// writes nothing; the same number of consecutive IDs fits easily.
func TestUploadOverMemoryBudgetIs413(t *testing.T) {
	const budget = 1 << 20
	e := newEnv(t, func(c *httpapi.Config) { c.MaxUploadMemory = budget })
	const n = 100_000
	var sparse, dense strings.Builder
	sparse.WriteString("asset_id\n")
	dense.WriteString("asset_id\n")
	for i := 1; i <= n; i++ {
		sparse.WriteString(strconv.FormatInt(int64(i)<<32, 10) + "\n") // one ID per 2^32 range: the costliest shape
		dense.WriteString(strconv.Itoa(1_000_000+i) + "\n")
	}
	for _, dry := range []string{"", "&dry_run=true"} {
		r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=sparse" + dry, ctype: "text/csv", body: strings.NewReader(sparse.String())})
		if r.status != http.StatusRequestEntityTooLarge || r.errCode(t) != "upload_over_memory_budget" {
			t.Fatalf("%d sparse IDs over a %d-byte budget%s: status %d %s, want 413 upload_over_memory_budget", n, budget, dry, r.status, r.body)
		}
		if !strings.Contains(string(r.body), strconv.Itoa(budget)) || !strings.Contains(string(r.body), "--max-upload-memory") {
			t.Errorf("413 does not name the limit: %s", r.body)
		}
	}
	if k := e.keys(); len(k) != 0 {
		t.Errorf("a refused upload wrote keys %v", k)
	}
	r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=dense", ctype: "text/csv", body: strings.NewReader(dense.String())})
	if r.status != http.StatusCreated {
		t.Errorf("%d consecutive IDs within a %d-byte budget: status %d %s, want 201", n, budget, r.status, r.body)
	}
}

// TestNewlineBombCutEarly (issue 15 item 13): blank and comment lines
// count toward MaxRows, so a gzip body of nothing but newlines (which
// compresses about 1000:1) is refused after about MaxRows lines instead of
// being inflated up to the expansion bound.
func TestNewlineBombCutEarly(t *testing.T) {
	const maxRows = 1000
	const bombLines = 50_000_000 // 50 MB inflated, about 50 KB compressed
	e := newEnv(t, func(c *httpapi.Config) { c.MaxRows = maxRows })
	pr, pw := io.Pipe()
	var produced int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		gz, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		chunk := []byte(strings.Repeat("\n", 999) + "#\n")
		for produced < bombLines {
			if _, err := gz.Write(chunk); err != nil {
				return
			}
			if err := gz.Flush(); err != nil { // hand each chunk to the server now
				return
			}
			produced += int64(len(chunk))
		}
		pw.CloseWithError(gz.Close())
	}()
	r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: "text/csv", body: pr})
	pr.CloseWithError(io.ErrClosedPipe)
	<-done
	if r.status != http.StatusRequestEntityTooLarge || r.errCode(t) != "too_many_rows" {
		t.Fatalf("newline bomb: status %d %s, want 413 too_many_rows", r.status, r.body)
	}
	// The server reads ahead at most two 64 KiB buffers of inflated data.
	if limit := int64(maxRows + 4*(64<<10)); produced > limit {
		t.Errorf("newline bomb: the server inflated %d lines before refusing, want at most %d (MaxRows %d)", produced, limit, maxRows)
	}
	if !strings.Contains(string(r.body), "blank and comment lines count") {
		t.Errorf("413 does not say blank lines count: %s", r.body)
	}
}
