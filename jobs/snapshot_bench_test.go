package jobs_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// snapBenchAssets is the campaign (and inventory) size of the snapshot
// benchmarks: large enough that the dictionary holds tens of thousands of
// label sets, as a real inventory's does.
const snapBenchAssets = 200_000

// snapBenchPages returns the inventory of snapBenchAssets assets with the
// fake's benchmark labels (80% carry 1–4 of 50 labels, Zipf-like), in
// pages of client.MaxPageSize, as ListPage returns them; with labels
// false, every asset's labels are dropped (the baseline: the lookup
// without the interning).
func snapBenchPages(labels bool) [][]client.Asset {
	f := pdcpfake.New(pdcpfake.Options{Assets: snapBenchAssets, Labels: pdcpfake.LabelsBench})
	var pages [][]client.Asset
	for id := int64(1); id <= snapBenchAssets; id++ {
		if (id-1)%client.MaxPageSize == 0 {
			pages = append(pages, make([]client.Asset, 0, client.MaxPageSize))
		}
		a := client.Asset{ID: id}
		if labels {
			a.Labels, _ = f.Labels(id)
		}
		pages[len(pages)-1] = append(pages[len(pages)-1], a)
	}
	return pages
}

// snapBenchRun submits a snapshot campaign of snapBenchAssets IDs and
// begins its snapshot.
func snapBenchRun(b *testing.B, env *redistest.Env, id string) *jobs.SnapshotRun {
	b.Helper()
	ctx := context.Background()
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	b.Cleanup(func() { store.Close() })
	vals := make([]string, snapBenchAssets)
	for i := range vals {
		vals[i] = strconv.Itoa(i + 1)
	}
	def := snapDef(id)
	plan, err := jobs.ReadPlan(def, jobs.IDList("bench", vals))
	if err != nil {
		b.Fatal(err)
	}
	res, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{RequireApproval: true})
	if err != nil {
		b.Fatal(err)
	}
	r, err := store.BeginSnapshot(ctx, res.Campaign, 0, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkSnapshotRunAdd is the worker's per-page work on a listed page:
// keep each campaign asset's label set (interned). "labels" is the bench
// distribution; "baseline" the same pages with no labels, i.e. the ID
// lookup alone, the floor the interning adds to. The inventory is listed
// round and round: after the first pass every set is known, as in the
// bulk of a large snapshot.
func BenchmarkSnapshotRunAdd(b *testing.B) {
	for _, tc := range []struct {
		name   string
		labels bool
	}{{"labels", true}, {"baseline", false}} {
		b.Run(tc.name, func(b *testing.B) {
			env := redistest.New(b)
			pages := snapBenchPages(tc.labels)
			r := snapBenchRun(b, env, "add")
			b.ReportAllocs()
			b.ResetTimer()
			assets := 0
			for i := 0; i < b.N; i++ {
				p := pages[i%len(pages)]
				assets += r.Add(p)
			}
			b.ReportMetric(float64(assets)/b.Elapsed().Seconds(), "assets/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(assets, 1)), "ns/asset")
		})
	}
}

// BenchmarkSnapshotRunCheckpoint is one page added and checkpointed per
// iteration: the Redis write of its ten batches' strings and of the label
// sets new since the last checkpoint (the worker checkpoints once a
// second, so this is its worst case).
func BenchmarkSnapshotRunCheckpoint(b *testing.B) {
	env := redistest.New(b)
	pages := snapBenchPages(true)
	r := snapBenchRun(b, env, "ckpt")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	assets := 0
	for i := 0; i < b.N; i++ {
		p := pages[i%len(pages)]
		assets += r.Add(p)
		if err := r.Checkpoint(ctx, (i+1)*len(p)); err != nil {
			b.Fatal(fmt.Errorf("checkpoint %d: %w", i, err))
		}
	}
	b.ReportMetric(float64(assets)/b.Elapsed().Seconds(), "assets/s")
}
