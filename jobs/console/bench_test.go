package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/console"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

// benchCampaign submits a running campaign of n dense asset IDs (1..n)
// to team-a, with outcomes recorded for its first batches: 1% reset,
// a few failed.
func benchCampaign(b *testing.B, u *ui, id string, n int) {
	b.Helper()
	ctx := context.Background()
	vals := make([]string, n)
	for i := range vals {
		vals[i] = strconv.Itoa(i + 1)
	}
	const size = 1000
	def := &jobs.Campaign{ID: id, Name: id, Mode: jobs.ModeDelete, TeamID: "team-a", Priority: jobs.PriorityNormal,
		BatchSize: size, Policy: jobs.DefaultPolicy(), Snapshot: true}
	plan, err := jobs.ReadPlan(def, jobs.IDList("bench", vals))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := u.store.Submit(ctx, def, plan, jobs.SubmitOptions{Approved: true}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	batches := max(1, n/100/size)
	for bt := range batches {
		recs := make([]jobs.Record, 0, size)
		for i := range size {
			a := int64(bt*size + i + 1)
			rec := jobs.Record{AssetID: a, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now}
			if i%50 == 0 {
				rec.Outcome, rec.Status, rec.Error = jobs.OutcomeFailed, 500, "server error"
			}
			recs = append(recs, rec)
		}
		if _, err := u.store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: bt, Records: recs}}, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCampaignPage is the server time of the campaign page of a
// 1,000,000-asset campaign, beside the same page of a 1,000-asset one
// and the API's status of the large one (GET /v1/campaigns/{id}): the
// page reads stored counters, the snapshot summary and the audit log,
// never the ledger, so the three stay close. Run it on a real Redis
// (REDIS_ADDR) for numbers that mean something.
func BenchmarkCampaignPage(b *testing.B) {
	u := newUI(b, func(c *httpapi.Config) {
		c.Console.Limiter = func(context.Context, *jobs.Campaign) (*console.LimiterState, error) {
			return &console.LimiterState{Rate: 50, EffectiveRate: 50}, nil
		}
	})
	benchCampaign(b, u, "big", 1_000_000)
	benchCampaign(b, u, "small", 1_000)
	browser := u.signIn(viewerToken)
	base, _ := url.Parse(u.srv.URL + "/ui/")
	cookies := browser.Jar.Cookies(base)
	h := u.api.Handler()
	// The setup's million-ID plan is garbage now: collect it before
	// measuring, not during the first sub-benchmark.
	runtime.GC()
	serve := func(b *testing.B, path string, auth bool) {
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			for _, c := range cookies {
				req.AddCookie(c)
			}
			if auth {
				req.Header.Set("Authorization", "Bearer "+viewerToken)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
			}
		}
		b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/page")
	}
	b.Run("page-1M", func(b *testing.B) { serve(b, "/ui/campaigns/big", false) })
	b.Run("page-1k", func(b *testing.B) { serve(b, "/ui/campaigns/small", false) })
	b.Run("api-1M", func(b *testing.B) { serve(b, "/v1/campaigns/big", true) })
}
