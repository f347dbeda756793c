package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// enqueueRun is the producer side's figures.
type enqueueRun struct {
	IDs          int     `json:"ids"`
	FileBytes    int64   `json:"file_bytes"`
	ReadSeconds  float64 `json:"read_seconds"`
	TotalSeconds float64 `json:"total_seconds"`
	Tasks        int     `json:"tasks"`
	MemoryDelta  int64   `json:"used_memory_delta_bytes"`
	RedisCmds    int64   `json:"redis_cmds"`
}

// enqueue writes a CSV of --enqueue-ids IDs and times idfile.Open +
// jobs.ReadPlan + Store.Submit with no worker running; Redis memory is
// INFO used_memory after submit minus before.
//
// The IDs ascend from 10^12 with gaps of 1..3 (deterministic), like
// production IDs allocated in runs with holes: consecutive IDs would make
// both the varint payloads and the ID bitmap look better than they are.
func (e *env) enqueue(ctx context.Context, r *results) error {
	path := filepath.Join(e.dir, "ids.csv")
	size, err := writeCSV(path, e.cfg.enqueueIDs)
	if err != nil {
		return err
	}
	if err := e.flush(ctx); err != nil {
		return err
	}
	runtime.GC()
	mem0, err := e.usedMemory(ctx)
	if err != nil {
		return err
	}
	cs0, err := e.commandStats(ctx)
	if err != nil {
		return err
	}
	store := jobs.NewStore(e.rdb, jobs.StoreOptions{Namespace: benchNS})
	defer store.Close()
	start := time.Now()
	rd, closer, err := idfile.Open(path, idfile.Options{})
	if err != nil {
		return err
	}
	def := &jobs.Campaign{ID: "bench-enqueue", Name: "bench", Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: jobs.DefaultBatchSize, Policy: jobs.DefaultPolicy(), Source: "file " + path}
	plan, err := jobs.ReadPlan(def, rd)
	closer.Close()
	if err != nil {
		return err
	}
	read := time.Since(start)
	res, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{Approved: true})
	if err != nil {
		return err
	}
	el := time.Since(start)
	if plan.Valid != int64(e.cfg.enqueueIDs) {
		return fmt.Errorf("plan has %d valid IDs, want %d", plan.Valid, e.cfg.enqueueIDs)
	}
	mem1, err := e.usedMemory(ctx)
	if err != nil {
		return err
	}
	cs1, err := e.commandStats(ctx)
	if err != nil {
		return err
	}
	d := cs1.sub(cs0)
	delete(d, "info")
	r.EnqueueIDsPerS = float64(e.cfg.enqueueIDs) / el.Seconds()
	r.RedisBytesPerQueuedAsset = float64(mem1-mem0) / float64(e.cfg.enqueueIDs)
	r.Enqueue = &enqueueRun{IDs: e.cfg.enqueueIDs, FileBytes: size, ReadSeconds: read.Seconds(), TotalSeconds: el.Seconds(),
		Tasks: res.Enqueued, MemoryDelta: mem1 - mem0, RedisCmds: d.total()}
	e.logf("enqueue: %d IDs (%d tasks) in %v (read %v) = %.0f IDs/s; Redis +%d bytes = %.1f B/asset",
		e.cfg.enqueueIDs, res.Enqueued, el.Round(time.Millisecond), read.Round(time.Millisecond),
		r.EnqueueIDsPerS, mem1-mem0, r.RedisBytesPerQueuedAsset)
	return e.flush(ctx)
}

func writeCSV(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString("asset_id,name\n")
	rng := rand.New(rand.NewPCG(1, 2))
	id := int64(1_000_000_000_000)
	var buf []byte
	for i := range n {
		id += 1 + rng.Int64N(3)
		buf = strconv.AppendInt(buf[:0], id, 10)
		buf = append(buf, ",host-"...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}
