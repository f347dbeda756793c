package schedule_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
	"github.com/labelreset/labelreset/jobs/schedule"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// harness is one test's Redis, store and config directory.
type harness struct {
	t     *testing.T
	redis *redistest.Env
	store *jobs.Store
	dir   string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, redis: redistest.New(t), dir: t.TempDir()}
	h.store = jobs.NewStore(h.redis.Client, jobs.StoreOptions{Namespace: h.redis.Namespace})
	return h
}

// file writes a file into the config directory and returns its path.
func (h *harness) file(name, content string) string {
	h.t.Helper()
	p := filepath.Join(h.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// config parses YAML as the file schedules.yaml of the config directory.
func (h *harness) config(yaml string) *schedule.Config {
	h.t.Helper()
	cfg, err := schedule.ParseConfig(filepath.Join(h.dir, "schedules.yaml"), []byte(yaml))
	if err != nil {
		h.t.Fatalf("ParseConfig: %v", err)
	}
	return cfg
}

// scheduler builds a Scheduler with its own metrics registry.
func (h *harness) scheduler(cfg *schedule.Config, mod func(*schedule.Options)) (*schedule.Scheduler, *prometheus.Registry) {
	h.t.Helper()
	reg := prometheus.NewRegistry()
	opts := schedule.Options{
		Store: h.store, Registerer: reg, Replica: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := schedule.New(cfg, opts)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	return s, reg
}

func (h *harness) campaigns() []*jobs.Campaign {
	h.t.Helper()
	cs, err := h.store.List(context.Background(), 10000)
	if err != nil {
		h.t.Fatal(err)
	}
	return cs
}

// assetIDs returns the asset IDs of a campaign in ascending order.
func (h *harness) assetIDs(id string) []int64 {
	h.t.Helper()
	var out []int64
	err := h.store.Records(context.Background(), id, func(r jobs.Record) error {
		out = append(out, r.AssetID)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// fires returns labelreset_schedule_fires_total{schedule,result} of reg.
func fires(t *testing.T, reg *prometheus.Registry, name, result string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "labelreset_schedule_fires_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["schedule"] == name && labels["result"] == result {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	t.Fatalf("no series labelreset_schedule_fires_total{schedule=%q,result=%q}", name, result)
	return 0
}

// finish records a reset outcome for every asset of campaign id, as the
// workers would, which makes it done. Campaigns of these tests hold one
// batch.
func (h *harness) finish(id string) {
	h.t.Helper()
	if err := finish(h.store, id); err != nil {
		h.t.Fatal(err)
	}
}

// finish is harness.finish for goroutines other than the test's: it
// returns its error.
func finish(store *jobs.Store, id string) error {
	ctx := context.Background()
	var recs []jobs.Record
	err := store.Records(ctx, id, func(r jobs.Record) error {
		recs = append(recs, jobs.Record{AssetID: r.AssetID, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: time.Now()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish %s: %w", id, err)
	}
	if _, err := store.Ledger().Record(ctx, id, []jobs.BatchRecords{{Batch: 0, Records: recs}}, time.Now()); err != nil {
		return fmt.Errorf("finish %s: %w", id, err)
	}
	if c, err := store.Get(ctx, id); err != nil || c.State != jobs.StateDone {
		return fmt.Errorf("finish %s: campaign %v, %v; want done", id, c, err)
	}
	return nil
}
