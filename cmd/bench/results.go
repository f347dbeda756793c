package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// Targets the figures are held to.
const (
	targetRatio   = 0.8
	targetBytes   = 24
	targetEnqueue = 100_000
	targetCmds    = 1.5
	targetRSSMB   = 150
	// targetSnapBytes is issue 17's bound on the snapshot's Redis bytes
	// per snapshotted asset.
	targetSnapBytes  = 16
	peerRatioOfPeers = 0.2
)

// results is the bench's output; the top-level figures are the headline
// ones, the *Detail fields explain them.
type results struct {
	Machine     machine `json:"machine"`
	Started     string  `json:"started"`
	Concurrency int     `json:"concurrency"`
	Assets      int     `json:"assets"`
	EnqueueIDs  int     `json:"enqueue_ids"`
	WorkerMode  string  `json:"pipeline_worker"`
	// CeilingGCPercent is the client loop's GC target (0: Go's default).
	CeilingGCPercent int `json:"ceiling_gc_percent"`

	CeilingRPS  float64 `json:"ceiling_rps"`
	PipelineRPS float64 `json:"pipeline_rps"`
	Ratio       float64 `json:"ratio"`
	// CPURatio is the ratio the CPU costs predict on a CPU-bound machine:
	// (client + fake CPU per request) / (worker + Redis + fake CPU per
	// asset). Unlike Ratio it does not move with other load on the host.
	CPURatio                 float64 `json:"cpu_ratio"`
	PerAssetTaskRPS          float64 `json:"per_asset_task_rps"`
	Speedup                  float64 `json:"speedup"`
	EnqueueIDsPerS           float64 `json:"enqueue_ids_per_s"`
	RedisBytesPerQueuedAsset float64 `json:"redis_bytes_per_queued_asset"`
	RedisCmdsPerAsset        float64 `json:"redis_cmds_per_asset"`
	WorkerPeakRSSMB          float64 `json:"worker_peak_rss_mb"`
	// The snapshot phase: inventory rows listed per second, that over the
	// raw listing ceiling of the same run, and Redis bytes per snapshotted
	// asset of the snapshot's keys.
	SnapshotListedPerSec  float64 `json:"snapshot_listed_per_s"`
	SnapshotRatio         float64 `json:"snapshot_ratio_to_listing_ceiling"`
	SnapshotCPURatio      float64 `json:"snapshot_cpu_ratio"`
	SnapshotBytesPerAsset float64 `json:"snapshot_bytes_per_asset"`

	// Rounds are the alternating ceiling/pipeline measurements; the
	// headline figures come from the round with the median ratio.
	Rounds   []round        `json:"rounds,omitempty"`
	Ceiling  *ceilingDetail `json:"ceiling,omitempty"`
	Pipeline *campaignRun   `json:"pipeline,omitempty"`
	Peer     *peerRun       `json:"per_asset_task,omitempty"`
	Enqueue  *enqueueRun    `json:"enqueue,omitempty"`
	RSS      *campaignRun   `json:"rss,omitempty"`
	Snapshot *snapshotRun   `json:"snapshot,omitempty"`
}

// round is one pipeline run between two ceiling samples.
type round struct {
	CeilingBefore   float64      `json:"ceiling_before_rps"`
	CeilingAfter    float64      `json:"ceiling_after_rps"`
	CeilingRPS      float64      `json:"ceiling_rps"`
	Ratio           float64      `json:"ratio"`
	CPURatio        float64      `json:"cpu_ratio"`
	CeilingStealPct float64      `json:"ceiling_steal_pct"`
	Pipeline        *campaignRun `json:"pipeline"`
}

type ceilingDetail struct {
	// Samples are the req/s of each measurement, in order; the CPU
	// figures are over all of them.
	Samples           []float64 `json:"samples"`
	Requests          int64     `json:"requests"`
	Seconds           float64   `json:"seconds"`
	ClientCPUUsPerReq float64   `json:"client_cpu_us_per_request"`
	FakeCPUUsPerReq   float64   `json:"fake_cpu_us_per_request"`

	clientCPU, fakeCPU float64
}

func (r *results) derive() {
	if r.PerAssetTaskRPS > 0 {
		r.Speedup = r.PipelineRPS / r.PerAssetTaskRPS
	}
}

func (r *results) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *results) writeTable(w io.Writer) {
	gc := "Go's default GC"
	if r.CeilingGCPercent != 0 {
		gc = fmt.Sprintf("GOGC=%d", r.CeilingGCPercent)
	}
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s, Redis %s; concurrency %d, %d assets, pipeline worker %s; ceiling loop at %s\n\n",
		r.Machine.CPUs, r.Machine.CPU, r.Machine.Go, r.Machine.Redis, r.Concurrency, r.Assets, r.WorkerMode, gc)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\t")
	row := func(name, format string, v float64, target string, ok bool, present bool) {
		if !present {
			fmt.Fprintf(tw, "%s\t-\t%s\t(not run)\n", name, target)
			return
		}
		mark := "ok"
		if !ok {
			mark = "MISSED"
		}
		if target == "" {
			mark = ""
		}
		fmt.Fprintf(tw, "%s\t"+format+"\t%s\t%s\n", name, v, target, mark)
	}
	row("ceiling_rps", "%.0f", r.CeilingRPS, "", true, r.Ceiling != nil)
	row("pipeline_rps", "%.0f", r.PipelineRPS, "", true, r.Pipeline != nil)
	row("ratio", "%.3f", r.Ratio, fmt.Sprintf(">= %.1f (peer ~%.1f)", targetRatio, peerRatioOfPeers), r.Ratio >= targetRatio, r.Ceiling != nil && r.Pipeline != nil)
	row("cpu_ratio", "%.3f", r.CPURatio, "", true, r.Ceiling != nil && r.Pipeline != nil)
	row("per_asset_task_rps", "%.0f", r.PerAssetTaskRPS, "", true, r.Peer != nil)
	row("speedup", "%.2f", r.Speedup, "", true, r.Peer != nil && r.Pipeline != nil)
	row("enqueue_ids_per_s", "%.0f", r.EnqueueIDsPerS, fmt.Sprintf(">= %d", targetEnqueue), r.EnqueueIDsPerS >= targetEnqueue, r.Enqueue != nil)
	row("redis_bytes_per_queued_asset", "%.1f", r.RedisBytesPerQueuedAsset, fmt.Sprintf("<= %d", targetBytes), r.RedisBytesPerQueuedAsset <= targetBytes, r.Enqueue != nil)
	row("redis_cmds_per_asset", "%.3f", r.RedisCmdsPerAsset, fmt.Sprintf("<= %.1f", targetCmds), r.RedisCmdsPerAsset <= targetCmds, r.Pipeline != nil)
	row("worker_peak_rss_mb", "%.1f", r.WorkerPeakRSSMB, fmt.Sprintf("<= %d", targetRSSMB), r.WorkerPeakRSSMB <= targetRSSMB, r.RSS != nil)
	row("snapshot_listed_per_s", "%.0f", r.SnapshotListedPerSec, "", true, r.Snapshot != nil)
	row("snapshot_ratio_to_listing_ceiling", "%.3f", r.SnapshotRatio, "", true, r.Snapshot != nil)
	row("snapshot_cpu_ratio", "%.3f", r.SnapshotCPURatio, "", true, r.Snapshot != nil)
	row("snapshot_bytes_per_asset", "%.2f", r.SnapshotBytesPerAsset, fmt.Sprintf("<= %d", targetSnapBytes), r.SnapshotBytesPerAsset <= targetSnapBytes, r.Snapshot != nil)
	tw.Flush()
	fmt.Fprintln(w)
	if p := r.Pipeline; p != nil {
		fmt.Fprintf(w, "pipeline: %.2fs; %.3f script calls/asset; CPU µs/asset: worker %.1f, Redis %.1f, fake %.1f; steal %.1f%%; background Redis load %.0f cmds/s\n",
			p.Seconds, p.ScriptCallsPerAsset, p.WorkerCPUUs, p.RedisCPUUs, p.FakeCPUUs, p.StealPct, p.BackgroundCmdsPerS)
		fmt.Fprintf(w, "  commands (incl. those run inside Lua scripts): %v\n", p.TopCommands)
	}
	for i, rd := range r.Rounds {
		fmt.Fprintf(w, "round %d: ratio %.3f, cpu_ratio %.3f: pipeline %.0f assets/s (worker %.1f, Redis %.1f, fake %.1f µs/asset; steal %.1f%%), ceiling %.0f→%.0f req/s (steal %.1f%%)\n",
			i+1, rd.Ratio, rd.CPURatio, rd.Pipeline.RPS, rd.Pipeline.WorkerCPUUs, rd.Pipeline.RedisCPUUs, rd.Pipeline.FakeCPUUs,
			rd.Pipeline.StealPct, rd.CeilingBefore, rd.CeilingAfter, rd.CeilingStealPct)
	}
	if c := r.Ceiling; c != nil {
		fmt.Fprintf(w, "ceiling: %d requests in %.2fs, samples %.0f req/s; CPU µs/request: client %.1f, fake %.1f\n",
			c.Requests, c.Seconds, c.Samples, c.ClientCPUUsPerReq, c.FakeCPUUsPerReq)
	}
	if p := r.Peer; p != nil {
		fmt.Fprintf(w, "per-asset tasks: %.2fs (enqueue %.2fs); %.2f Redis commands/asset; queue memory %.0f B/asset\n",
			p.Seconds, p.EnqueueSecs, p.CmdsPerAsset, float64(p.PeakMemory)/float64(p.Assets))
	}
	if e := r.Enqueue; e != nil {
		fmt.Fprintf(w, "enqueue: %d IDs, %d tasks, %.2fs (read+plan %.2fs), Redis +%d B, %d commands\n",
			e.IDs, e.Tasks, e.TotalSeconds, e.ReadSeconds, e.MemoryDelta, e.RedisCmds)
	}
	if s := r.RSS; s != nil {
		fmt.Fprintf(w, "rss: worker --concurrency %s: %.0f assets/s, peak RSS %.1f MB, %.3f Redis commands/asset\n",
			"(see --rss-concurrency)", s.RPS, s.PeakRSSMB, s.CmdsPerAsset)
	}
	if s := r.Snapshot; s != nil {
		fmt.Fprintf(w, "snapshot: %d-asset inventory (%s labels), pages of %d; ceiling %.0f assets/s (mean of", s.Inventory, s.Distribution, s.PageSize, s.CeilingPerSec)
		for _, c := range s.Ceiling {
			fmt.Fprintf(w, " %.0f", c.AssetsPerSec)
		}
		fmt.Fprintf(w, "), %.2f µs CPU/asset (client+fake)\n", s.CeilingCPUUs)
		fmt.Fprintf(w, "  snapshot %d pages, %d listed, %d found (%d with labels, %d without) in %.2fs (wall %.2fs after a %.2fs submit); %.2f µs CPU/listed asset (worker+fake); cpu_ratio %.3f\n",
			s.Pages, s.Listed, s.Found, s.WithLabels, s.WithoutLabels, s.Seconds, s.WallSeconds, s.SubmitSeconds, s.WorkerCPUUs, s.CPURatio)
		fmt.Fprintf(w, "  Redis: snap %d B, snapsets %d B (%d label sets), snapmeta %d B = %.2f B/asset; whole campaign %d keys, %d B = %.2f B/asset\n",
			s.SnapBytes, s.SnapSetsBytes, s.LabelSets, s.SnapMetaBytes, s.BytesPerAsset, s.CampaignKeys, s.CampaignBytes, s.CampaignPerAsst)
	}
}
