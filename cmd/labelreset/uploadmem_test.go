//go:build linux && !race

package main

// The race detector multiplies memory, so this runs in the plain
// `go test ./...` step of .ci/run (embedded Redis), not the -race one.

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// vmHWM returns the peak resident set size of process pid in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// idStream writes n IDs, one per line after a header, into a pipe,
// gzip-compressed if gz; next gives the i-th ID.
func idStream(n int, gz bool, next func(i int) uint64) (io.ReadCloser, <-chan struct{}) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var w io.Writer = pw
		var zw *gzip.Writer
		if gz {
			zw, _ = gzip.NewWriterLevel(pw, gzip.BestSpeed)
			w = zw
		}
		bw := bufio.NewWriterSize(w, 256<<10)
		bw.WriteString("asset_id\n")
		buf := make([]byte, 0, 24)
		for i := range n {
			buf = strconv.AppendUint(buf[:0], next(i), 10)
			buf = append(buf, '\n')
			if _, err := bw.Write(buf); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		err := bw.Flush()
		if zw != nil && err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, done
}

// TestServeUploadMemory (issue 15 item 13): the real serve stays under
// 256 MB peak RSS (VmHWM) for a 3M sparse-ID upload and for 10M-ID
// uploads, dense and sparse, dry run or not; what is over the memory
// budget is refused with 413 naming the limit. A fresh serve per upload,
// so that each figure is that upload's peak.
func TestServeUploadMemory(t *testing.T) {
	t.Parallel()
	const limit = 256 << 20
	sparse := func(seed uint64) func(int) uint64 {
		r := rand.New(rand.NewPCG(seed, 1))
		return func(int) uint64 { return 1e15 + r.Uint64N(9e15) } // 16 digits, as in the report
	}
	dense := func(i int) uint64 { return 100_000_000 + uint64(i) }
	cases := []struct {
		name  string
		n     int
		gz    bool
		query string
		next  func(int) uint64
		want  []int
	}{
		{"150k sparse CSV", 150_000, false, "campaign_id=sparse150k", sparse(4), []int{201}},
		{"3M sparse CSV", 3_000_000, false, "campaign_id=sparse3m", sparse(1), []int{201, 413}},
		{"3M sparse CSV, dry run", 3_000_000, false, "dry_run=true", sparse(2), []int{200, 413}},
		{"10M dense gzip", 10_000_000, true, "campaign_id=dense10m", dense, []int{201}},
		{"10M dense gzip, dry run", 10_000_000, true, "dry_run=true", dense, []int{200}},
		{"10M sparse gzip", 10_000_000, true, "campaign_id=sparse10m", sparse(3), []int{201, 413}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newE2E(t, pdcpfake.Options{Assets: 10})
			e.env = append(e.env, "LABELRESET_API_TOKENS="+testToken)
			addr := freeAddr(t)
			p := e.start("serve", "--addr", addr)
			waitHTTP(t, "http://"+addr+"/readyz", 200)
			before := vmHWM(t, p.cmd.Process.Pid)

			body, done := idStream(c.n, c.gz, c.next)
			req, _ := http.NewRequest("POST", "http://"+addr+"/v1/campaigns?"+c.query, body)
			req.Header.Set("Content-Type", "text/csv")
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := http.DefaultClient.Do(req)
			body.Close()
			<-done
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			peak := vmHWM(t, p.cmd.Process.Pid)
			var got struct {
				Code  string `json:"code"`
				Error string `json:"error"`
				Plan  struct {
					Valid int64 `json:"valid"`
				} `json:"plan"`
			}
			json.Unmarshal(b, &got)
			t.Logf("%s: status %d, %d valid IDs, code %q; serve VmHWM %d MiB (idle %d MiB)",
				c.name, resp.StatusCode, got.Plan.Valid, got.Code, peak>>20, before>>20)
			ok := false
			for _, w := range c.want {
				ok = ok || resp.StatusCode == w
			}
			if !ok {
				t.Errorf("status %d %.300s, want one of %v", resp.StatusCode, b, c.want)
			}
			if resp.StatusCode == 413 && (got.Code != "upload_over_memory_budget" || !strings.Contains(got.Error, "--max-upload-memory")) {
				t.Errorf("413 does not name the memory limit: %.300s", b)
			}
			if resp.StatusCode/100 == 2 && got.Plan.Valid < int64(c.n)*99/100 {
				t.Errorf("accepted with %d valid IDs of %d", got.Plan.Valid, c.n)
			}
			if peak > limit {
				t.Errorf("serve peak RSS (VmHWM) %d MiB, want under %d MiB", peak>>20, limit>>20)
			}
		})
	}
}
