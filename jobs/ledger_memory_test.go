package jobs_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// BenchmarkLedgerBytesPerFailedAsset measures what a failed asset with a
// full error and an error_id costs in Redis beyond a reset one: batches of
// 100 with one failed asset in every 20 (a 5% failure rate). It needs a
// real Redis (REDIS_ADDR): MEMORY USAGE is what it reports.
func BenchmarkLedgerBytesPerFailedAsset(b *testing.B) {
	if !redistest.Real() {
		b.Fatal("MEMORY USAGE needs a real Redis: set REDIS_ADDR=127.0.0.1:6379")
	}
	env := redistest.New(b)
	ctx := b.Context()
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	const batches, size = 10, 100
	usage := func(id string, failEvery int) int64 {
		b.Helper()
		def := &jobs.Campaign{ID: id, Name: id, Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal, BatchSize: size, Policy: jobs.DefaultPolicy()}
		vals := make([]string, batches*size)
		for i := range vals {
			vals[i] = fmt.Sprint(1000 + i)
		}
		plan, err := jobs.ReadPlan(def, jobs.IDList("bench", vals))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{}); err != nil {
			b.Fatal(err)
		}
		now := time.Unix(1764770000, 0)
		var total int64
		for bt := range batches {
			recs := make([]jobs.Record, size)
			for i := range recs {
				id := int64(1000 + bt*size + i)
				recs[i] = jobs.Record{AssetID: id, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now}
				if failEvery > 0 && i%failEvery == 0 {
					recs[i] = jobs.Record{AssetID: id, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 8, FinishedAt: now,
						Error:   "HTTP 500 INTERNAL_ERROR: Internal Server Error (gave up after 8 attempts)",
						ErrorID: "3f2b8c1e-9d4a-4e6b-8f1c-2a7d5e9b0c41"}
				}
			}
			if _, err := store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: bt, Records: recs}}, now); err != nil {
				b.Fatal(err)
			}
			n, err := env.Client.MemoryUsage(ctx, fmt.Sprintf("%s:{%s}:l:%d", env.Namespace, id, bt)).Result()
			if err != nil {
				b.Fatal(err)
			}
			total += n
		}
		if n, err := env.Client.MemoryUsage(ctx, fmt.Sprintf("%s:{%s}:errors", env.Namespace, id)).Result(); err == nil {
			total += n
		}
		return total
	}
	for run := 0; b.Loop(); run++ {
		ok := usage(fmt.Sprint("ok", run), 0)
		failed := usage(fmt.Sprint("failed", run), 20)
		b.ReportMetric(float64(ok)/(batches*size), "bytes/reset_asset")
		b.ReportMetric(float64(failed-ok)/(batches*size/20), "extra_bytes/failed_asset")
	}
}
