package worker_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
)

// TestMain fails the package when a goroutine outlives its tests: every
// goroutine a Worker starts ends before its Run returns, and every test
// stops what it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestStopLeavesNoGoroutines: once Run returns, nothing the worker started
// runs on, in particular not the per-asset goroutines, which otherwise
// idle for seconds after their last asset; and its Redis connections are
// closed.
func TestStopLeavesNoGoroutines(t *testing.T) {
	h := newHarness(t, pdcpfake.Options{Assets: 300})
	before := goleak.IgnoreCurrent()
	_, stop := h.startWorker(16, nil)
	h.submit(&jobs.Campaign{ID: "leak"}, ids(1, 300), jobs.SubmitOptions{})
	h.waitState("leak", 30*time.Second, jobs.StateDone)
	stop()
	// The fake's connections end with it, and the client's goroutines
	// reading them with those.
	h.fake.Close()
	goleak.VerifyNone(t, before,
		// The embedded Redis serves each connection on its own goroutines,
		// the test's own client's connections too (it keeps them open to
		// clean up): the connection count below checks the worker's.
		goleak.IgnoreAnyFunction("github.com/alicebob/miniredis/v2/server.(*Server).servePeer"),
		goleak.IgnoreAnyFunction("github.com/alicebob/miniredis/v2/server.(*Server).servePeer.func2"))
	if h.redis.Mini == nil {
		return // a real Redis: its connections are no goroutines of ours
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := h.redis.Client.PoolStats()
		mine := int(st.TotalConns)
		if st.PipelineStats != nil {
			mine += int(st.PipelineStats.TotalConns)
		}
		open := h.redis.Mini.CurrentConnectionCount()
		if open <= mine {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("embedded Redis: %d connections open after the worker stopped, the test's client holds %d", open, mine)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
