package jobs_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// failBenchAssets is the campaign size of BenchmarkFailuresPage: the
// "700,000 tasks, how do I find the 12 that failed?" campaign.
const failBenchAssets = 1_000_000

// failBenchCampaign stores a finished campaign of failBenchAssets assets:
// 12 failed (spread over the ID range), 1,000 not found, the rest reset.
func failBenchCampaign(b *testing.B, store *jobs.Store, id string) {
	b.Helper()
	ctx := context.Background()
	vals := make([]string, failBenchAssets)
	for i := range vals {
		vals[i] = strconv.Itoa(i + 1)
	}
	def := newDef(id)
	plan, err := jobs.ReadPlan(def, jobs.IDList("bench", vals))
	if err != nil {
		b.Fatal(err)
	}
	// Pending: nothing is enqueued; the outcomes are recorded below.
	if _, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{RequireApproval: true}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	const perCall = 50 // batches of 100 per script call
	var batches []jobs.BatchRecords
	for bt := 0; bt < failBenchAssets/def.BatchSize; bt++ {
		recs := make([]jobs.Record, def.BatchSize)
		for i := range recs {
			a := int64(bt*def.BatchSize + i + 1)
			r := jobs.Record{AssetID: a, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now}
			switch {
			case a%83_333 == 0:
				r.Outcome, r.Status, r.Error = jobs.OutcomeFailed, 500, "HTTP 500 INTERNAL_ERROR"
			case a%997 == 0 && a/997 <= 1000:
				r.Outcome, r.Status = jobs.OutcomeNotFound, 404
			}
			recs[i] = r
		}
		batches = append(batches, jobs.BatchRecords{Batch: bt, Records: recs})
		if len(batches) == perCall {
			if _, err := store.Ledger().Record(ctx, id, batches, now); err != nil {
				b.Fatal(err)
			}
			batches = batches[:0]
		}
	}
	c, err := store.Get(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	if c.Counts[jobs.OutcomeFailed] != 12 || c.Counts[jobs.OutcomeNotFound] != 1000 {
		b.Fatalf("counts %v, want 12 failed, 1000 not_found", c.Counts)
	}
}

// BenchmarkFailuresPage is one page of the failures table of a
// 1,000,000-asset campaign (12 failed, 1,000 not found): the failed
// assets, the first page of all failures, a later page, an asset search
// and a reason filter, all from the failure index; "ledger-scan" is the
// baseline, the same failed assets found by Store.Records (the whole
// ledger), as the report's ?only=failed does. Runs on the real Redis
// with REDIS_ADDR.
func BenchmarkFailuresPage(b *testing.B) {
	env := redistest.New(b)
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	const id = "bench-failures"
	failBenchCampaign(b, store, id)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		q    jobs.FailureQuery
		want int
	}{
		{"failed", jobs.FailureQuery{Outcomes: []string{jobs.OutcomeFailed}}, 12},
		{"all-first-page", jobs.FailureQuery{}, 50},
		{"all-page-after-500000", jobs.FailureQuery{After: 500_000}, 50},
		{"asset", jobs.FailureQuery{Asset: 83_333 * 7}, 1},
		{"reason", jobs.FailureQuery{Reason: "HTTP 500 INTERNAL_ERROR"}, 12},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				p, err := store.Failures(ctx, id, tc.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Records) != tc.want {
					b.Fatalf("%d records, want %d", len(p.Records), tc.want)
				}
			}
		})
	}
	b.Run("ledger-scan", func(b *testing.B) {
		for b.Loop() {
			n := 0
			err := store.Records(ctx, id, func(r jobs.Record) error {
				if r.Outcome == jobs.OutcomeFailed {
					n++
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if n != 12 {
				b.Fatalf("%d failed, want 12", n)
			}
		}
	})
}
