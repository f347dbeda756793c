package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"time"

	"github.com/hibiken/asynq"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// snapshotRun is what the snapshot phase measured.
type snapshotRun struct {
	Inventory int `json:"inventory_assets"`
	// Distribution is the fake's label seeding (pdcpfake.LabelsBench).
	Distribution string `json:"label_distribution"`
	PageSize     int    `json:"page_size"`
	// Ceiling is two raw pagings of the whole inventory (bodies read,
	// nothing decoded), one before and one after the snapshot: what this
	// host's fake and one client can list. CeilingPerSec is their mean,
	// so that a change of the host's load during the phase moves both
	// sides of the ratio; CeilingCPUUs is this process's CPU (client and
	// fake) per asset over both.
	Ceiling       []pdcpfake.ListingRate `json:"ceiling"`
	CeilingPerSec float64                `json:"ceiling_assets_per_s"`
	CeilingCPUUs  float64                `json:"ceiling_cpu_us_per_asset"`
	// Seconds is the snapshot's own duration (its first checkpointed start
	// to its completion, as the campaign records them); Listed counts
	// inventory rows read (pages overlap a little), Found the campaign's
	// assets among them.
	Seconds        float64 `json:"seconds"`
	Pages          int64   `json:"pages"`
	Listed         int64   `json:"listed"`
	Found          int64   `json:"found"`
	WithLabels     int64   `json:"with_labels"`
	WithoutLabels  int64   `json:"without_labels"`
	ListedPerSec   float64 `json:"listed_per_s"`
	RatioToCeiling float64 `json:"ratio_to_ceiling"`
	// CPURatio is CeilingCPUUs over WorkerCPUUs: the ratio a CPU-bound
	// host would show, which moves less with other load than
	// RatioToCeiling does.
	CPURatio        float64 `json:"cpu_ratio"`
	WallSeconds     float64 `json:"wall_seconds"`
	SubmitSeconds   float64 `json:"submit_seconds"`
	WorkerCPUUs     float64 `json:"worker_and_fake_cpu_us_per_listed_asset"`
	LabelSets       int64   `json:"label_sets"`
	SnapBytes       int64   `json:"snap_bytes"`
	SnapSetsBytes   int64   `json:"snapsets_bytes"`
	SnapMetaBytes   int64   `json:"snapmeta_bytes"`
	BytesPerAsset   float64 `json:"bytes_per_snapshotted_asset"`
	CampaignKeys    int     `json:"campaign_keys"`
	CampaignBytes   int64   `json:"campaign_bytes"`
	CampaignPerAsst float64 `json:"campaign_bytes_per_asset"`
}

// snapshot measures the snapshot of a --snapshot-assets campaign over an
// inventory of the same size seeded with the benchmark label distribution:
// the raw listing ceiling first, then the real worker's snapshot task with
// an unlimited rate, then the Redis bytes its keys take.
//
// Unlike the other phases it shares the Redis given without flushing it:
// it works in a namespace of its own and deletes its keys at the end.
// The fake runs in this process (over real HTTP on loopback), so that its
// label state needs no second seeding.
func (e *env) snapshot(ctx context.Context, r *results) (err error) {
	n := e.cfg.snapshotAssets
	e.logf("snapshot: seeding a fake inventory of %d assets (%s labels)", n, pdcpfake.LabelsBench)
	fake := pdcpfake.New(pdcpfake.Options{APIKey: benchKey, Assets: n, Labels: pdcpfake.LabelsBench})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	run := &snapshotRun{Inventory: n, Distribution: pdcpfake.LabelsBench, PageSize: client.MaxPageSize}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer hc.CloseIdleConnections()
	var ceilingCPU float64
	ceiling := func() error {
		c0, _ := procCPU(os.Getpid())
		lr, err := pdcpfake.MeasureListing(ctx, hc, srv.URL, benchKey, client.MaxPageSize)
		if err != nil {
			return err
		}
		c1, _ := procCPU(os.Getpid())
		if lr.Assets != n {
			return fmt.Errorf("listing ceiling: %d assets listed, want %d", lr.Assets, n)
		}
		ceilingCPU += c1 - c0
		run.Ceiling = append(run.Ceiling, lr)
		e.logf("snapshot: listing ceiling %d assets in %.2fs = %.0f assets/s", lr.Assets, lr.Seconds, lr.AssetsPerSec)
		return nil
	}
	// The fake builds its created_at order on the first sorted page: a
	// cost of the fake, not of the snapshot, so it is paid before the
	// clock.
	warm, err := client.New(client.Config{APIKey: benchKey, Server: srv.URL, Timeout: time.Minute})
	if err != nil {
		return err
	}
	if _, err := warm.ListPage(ctx, client.AssetFilter{Extra: url.Values{"sort_asc": {"created_at"}}}, 0, 1); err != nil {
		return fmt.Errorf("warm the fake's sorted listing: %w", err)
	}
	warm.CloseIdleConnections()
	// The first paging of a freshly seeded fake runs at about half the
	// speed of later ones (its heap settles); one untimed pass keeps that
	// out of both sides of the ratio.
	if _, err := pdcpfake.MeasureListing(ctx, hc, srv.URL, benchKey, client.MaxPageSize); err != nil {
		return fmt.Errorf("warm-up listing: %w", err)
	}
	if err := ceiling(); err != nil {
		return err
	}

	ns := "benchsnap" + randomHex(4)
	defer func() {
		// Whatever happened, leave nothing of this namespace behind.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if cerr := e.deleteNamespace(cctx, ns); cerr != nil && err == nil {
			err = cerr
		}
	}()
	stopWorker, err := e.startSnapshotWorker(srv.URL, ns)
	if err != nil {
		return err
	}
	defer func() {
		if stopWorker != nil {
			stopWorker()
		}
	}()

	store := jobs.NewStore(e.rdb, jobs.StoreOptions{Namespace: ns})
	defer store.Close()
	id := "bench-snapshot"
	def := &jobs.Campaign{ID: id, Name: id, Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: jobs.DefaultBatchSize, Policy: jobs.DefaultPolicy(), Snapshot: true}
	plan, err := jobs.ReadPlan(def, &rangeInput{next: 1, end: int64(n)})
	if err != nil {
		return err
	}
	cpu0, _ := procCPU(os.Getpid())
	start := time.Now()
	// Pending (it waits for an approval that never comes): the worker
	// takes the snapshot, which a pending campaign does, and resets
	// nothing, so the phase measures the listing alone.
	if _, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{RequireApproval: true}); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	run.SubmitSeconds = time.Since(start).Seconds()
	c, err := store.Get(ctx, id)
	if err != nil {
		return err
	}
	var info *jobs.SnapshotInfo
	for deadline := time.Now().Add(30 * time.Minute); ; {
		if info, err = store.Snapshot(ctx, c); err != nil {
			return err
		}
		if info.Complete {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("snapshot of %s not complete after 30 minutes: %d of %d segments, %d listed", id, info.SegmentsDone, info.Segments, info.Listed)
		}
		if err := backoff.Sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	run.WallSeconds = time.Since(start).Seconds()
	cpu1, _ := procCPU(os.Getpid())
	stopWorker()
	stopWorker = nil

	if err := ceiling(); err != nil {
		return err
	}
	for _, lr := range run.Ceiling {
		run.CeilingPerSec += lr.AssetsPerSec / float64(len(run.Ceiling))
	}
	run.CeilingCPUUs = ceilingCPU * 1e6 / float64(len(run.Ceiling)*n)

	run.Seconds = info.Elapsed.Seconds()
	run.Pages, run.Listed, run.Found = info.Pages, info.Listed, info.Found
	run.WithLabels, run.WithoutLabels = info.WithLabels, info.WithoutLabels
	if run.Found != int64(n) || info.NotInInventory != 0 {
		return fmt.Errorf("snapshot of %s: %d of %d assets found, %d not in the inventory", id, run.Found, n, info.NotInInventory)
	}
	if run.Seconds > 0 {
		run.ListedPerSec = float64(run.Listed) / run.Seconds
		run.RatioToCeiling = run.ListedPerSec / run.CeilingPerSec
	}
	if run.Listed > 0 {
		// The worker and the fake share this process: their CPU together.
		run.WorkerCPUUs = (cpu1 - cpu0) * 1e6 / float64(run.Listed)
		run.CPURatio = run.CeilingCPUUs / run.WorkerCPUUs
	}
	if err := e.snapshotBytes(ctx, ns, id, run); err != nil {
		return err
	}
	e.logf("snapshot: %d listed in %.2fs = %.0f assets/s (%.3f of the ceiling, cpu_ratio %.3f); %d label sets; %.2f B/asset (snap %d, snapsets %d, snapmeta %d B); campaign %.2f B/asset over %d keys",
		run.Listed, run.Seconds, run.ListedPerSec, run.RatioToCeiling, run.CPURatio, run.LabelSets, run.BytesPerAsset,
		run.SnapBytes, run.SnapSetsBytes, run.SnapMetaBytes, run.CampaignPerAsst, run.CampaignKeys)
	r.Snapshot = run
	r.SnapshotListedPerSec, r.SnapshotRatio, r.SnapshotCPURatio, r.SnapshotBytesPerAsset = run.ListedPerSec, run.RatioToCeiling, run.CPURatio, run.BytesPerAsset
	if err := store.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return nil
}

// startSnapshotWorker runs a worker in this process as `labelreset
// worker` wires it, with an unlimited shared rate, on namespace ns.
func (e *env) startSnapshotWorker(url, ns string) (stop func(), err error) {
	cancel, done, err := e.inProcessWorker(url, ns, ns, 4)
	if err != nil {
		return nil, err
	}
	return func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			e.logf("snapshot worker: %v", err)
		}
	}, nil
}

// snapshotBytes fills the Redis memory figures of campaign id in ns.
func (e *env) snapshotBytes(ctx context.Context, ns, id string, run *snapshotRun) error {
	usage := func(key string) (int64, error) {
		// SAMPLES 0: every field of a hash, not an estimate from 5.
		n, err := e.rdb.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			return 0, fmt.Errorf("MEMORY USAGE %s: %w", key, err)
		}
		return n, nil
	}
	prefix := ns + ":{" + id + "}:"
	var err error
	if run.SnapBytes, err = usage(prefix + "snap"); err != nil {
		return err
	}
	if run.SnapSetsBytes, err = usage(prefix + "snapsets"); err != nil {
		return err
	}
	if run.SnapMetaBytes, err = usage(prefix + "snapmeta"); err != nil {
		return err
	}
	if run.LabelSets, err = e.rdb.HLen(ctx, prefix+"snapsets").Result(); err != nil {
		return fmt.Errorf("HLEN snapsets: %w", err)
	}
	run.LabelSets++ // the empty set is set 0, never stored
	run.BytesPerAsset = float64(run.SnapBytes+run.SnapSetsBytes+run.SnapMetaBytes) / float64(run.Found)
	iter := e.rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		n, err := usage(iter.Val())
		if err != nil {
			return err
		}
		run.CampaignKeys++
		run.CampaignBytes += n
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("SCAN %s*: %w", prefix, err)
	}
	run.CampaignPerAsst = float64(run.CampaignBytes) / float64(run.Inventory)
	return nil
}

// deleteNamespace removes every key of namespace ns: the campaign's, its
// asynq queues' and the rate limiter's.
func (e *env) deleteNamespace(ctx context.Context, ns string) error {
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	for q := range jobs.Queues(ns) {
		// A queue never created answers an error: nothing to delete.
		_ = insp.DeleteQueue(q, true)
	}
	for _, pat := range []string{ns + ":*", "asynq:{" + ns + "-*", "lr:rl:{" + ns + "}:*"} {
		iter := e.rdb.Scan(ctx, 0, pat, 1000).Iterator()
		var ks []string
		for iter.Next(ctx) {
			ks = append(ks, iter.Val())
			if len(ks) == 500 {
				if err := e.rdb.Del(ctx, ks...).Err(); err != nil {
					return fmt.Errorf("delete %s: %w", pat, err)
				}
				ks = ks[:0]
			}
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("SCAN %s: %w", pat, err)
		}
		if len(ks) > 0 {
			if err := e.rdb.Del(ctx, ks...).Err(); err != nil {
				return fmt.Errorf("delete %s: %w", pat, err)
			}
		}
	}
	qs := make([]any, 0, 3)
	for q := range jobs.Queues(ns) {
		qs = append(qs, q)
	}
	return e.rdb.SRem(ctx, "asynq:queues", qs...).Err()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
