package pdcpfake

import (
	"context"
	"runtime"
	"testing"
)

func TestMeasureListing(t *testing.T) {
	s := NewServer(Options{Assets: 2500, ListLimitCap: 300})
	defer s.Close()
	r, err := MeasureListing(context.Background(), s.Client(), s.URL(), key, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// 2500 rows in pages of at most 300 (the cap), then one empty page.
	if r.Assets != 2500 || r.Pages != 10 || r.AssetsPerSec <= 0 {
		t.Errorf("got %+v, want 2500 assets in 9 pages plus the empty one", r)
	}
	s.Fake().Update(func(o *Options) { o.ListFailFraction = 1 })
	if _, err := MeasureListing(context.Background(), s.Client(), s.URL(), key, 1000); err == nil {
		t.Error("a failing page gave no error")
	}
}

// BenchmarkListingCeiling pages over 1,000,000 assets with limit=1000, raw
// (bodies read, not decoded): the fake's listing ceiling.
func BenchmarkListingCeiling(b *testing.B) {
	s := NewServer(Options{Assets: 1_000_000, Labels: LabelsBench, NoLog: true})
	defer s.Close()
	b.ResetTimer()
	var pages, assets int
	var secs float64
	for range b.N {
		r, err := MeasureListing(context.Background(), s.Client(), s.URL(), key, 1000)
		if err != nil {
			b.Fatal(err)
		}
		pages, assets, secs = pages+r.Pages, assets+r.Assets, secs+r.Seconds
	}
	b.ReportMetric(float64(pages)/secs, "pages/s")
	b.ReportMetric(float64(assets)/secs, "assets/s")
}

// BenchmarkNewMillion reports the fake's memory per seeded asset for
// 1,000,000 assets of the bench distribution.
func BenchmarkNewMillion(b *testing.B) {
	var keep *Fake
	var perAsset float64
	for range b.N {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		keep = New(Options{Assets: 1_000_000, Labels: LabelsBench, NoLog: true})
		keep.createdAsc() // the sorted orders, built on the first sorted page
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perAsset = float64(m1.HeapAlloc-m0.HeapAlloc) / 1e6
	}
	runtime.KeepAlive(keep)
	b.ReportMetric(perAsset, "B/asset")
}
