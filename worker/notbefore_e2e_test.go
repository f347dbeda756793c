package worker_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// firstCall serves a Fake and notes when the first label call arrived.
type firstCall struct {
	fake *pdcpfake.Fake
	mu   sync.Mutex
	at   time.Time
}

func (f *firstCall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/labels") && !strings.HasPrefix(r.URL.Path, "/_fake") {
		f.mu.Lock()
		if f.at.IsZero() {
			f.at = time.Now()
		}
		f.mu.Unlock()
	}
	f.fake.ServeHTTP(w, r)
}

// TestBatchesWaitForNotBefore: a campaign's batches make no call before
// its NotBefore (a restore waiting for its source's in-flight calls): a
// real worker holds them, and they run once it has passed.
func TestBatchesWaitForNotBefore(t *testing.T) {
	fc := &firstCall{fake: pdcpfake.New(pdcpfake.Options{Assets: 30})}
	ts := httptest.NewServer(fc)
	t.Cleanup(ts.Close)
	h := &harness{t: t, redis: redistest.New(t), url: ts.URL}
	h.store = jobs.NewStore(h.redis.Client, jobs.StoreOptions{Namespace: h.redis.Namespace})
	reg, _ := h.startWorker(4, nil)
	notBefore := time.Now().Add(2 * time.Second)
	h.submit(&jobs.Campaign{ID: "later", NotBefore: notBefore}, ids(1, 30), jobs.SubmitOptions{})
	h.waitFinished("later", 30, time.Minute)
	fc.mu.Lock()
	first := fc.at
	fc.mu.Unlock()
	// NotBefore is stored in milliseconds: compare on the wall clock, so.
	if first.IsZero() || first.Round(0).Before(notBefore.Round(0).Truncate(time.Millisecond)) {
		t.Errorf("first label call at %v, NotBefore %v: want none before it", first, notBefore)
	}
	if n := labelled(t, reg, "labelreset_batches_processed_total", "result", "requeued"); n == 0 {
		t.Errorf("no batch was held (requeued 0)")
	}
}
