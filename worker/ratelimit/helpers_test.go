package ratelimit

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testRedis is the Redis a test runs against: the real one at REDIS_ADDR
// when set, an embedded miniredis otherwise. Each test gets its own limiter
// key, and its keys are deleted afterwards.
type testRedis struct {
	addr string
	mr   *miniredis.Miniredis // nil on a real Redis
	key  string               // Config.Key unique to the test
}

func setup(tb testing.TB) *testRedis {
	tb.Helper()
	tr := &testRedis{addr: os.Getenv("REDIS_ADDR")}
	if tr.addr == "" {
		tr.mr = miniredis.NewMiniRedis()
		// Let TTLs run on the wall clock like on a real server.
		tr.mr.ClockTTL(true)
		if err := tr.mr.Start(); err != nil {
			tb.Fatalf("start miniredis: %v", err)
		}
		tb.Cleanup(tr.mr.Close)
		tr.addr = tr.mr.Addr()
	}
	name := strings.NewReplacer("/", "-", " ", "_").Replace(tb.Name())
	tr.key = fmt.Sprintf("test-%s-%d", name, time.Now().UnixNano())
	tb.Cleanup(func() { tr.cleanup(tb) })
	return tr
}

// setupClock returns an embedded Redis whose clock (redis.call('TIME'),
// the limiter's only clock) stands still until the test moves it:
// clock(d) sets it to d after its start. Whatever REDIS_ADDR says: a real
// server's clock cannot be moved. TTLs follow the same clock.
func setupClock(tb testing.TB) (tr *testRedis, clock func(d time.Duration)) {
	tb.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mr := miniredis.NewMiniRedis()
	mr.SetTime(start)
	mr.ClockTTL(true)
	if err := mr.Start(); err != nil {
		tb.Fatalf("start miniredis: %v", err)
	}
	tb.Cleanup(mr.Close)
	tr = &testRedis{addr: mr.Addr(), mr: mr, key: "test-clock"}
	return tr, func(d time.Duration) { mr.SetTime(start.Add(d)) }
}

// cleanup deletes every key of the test's limiter.
func (tr *testRedis) cleanup(tb testing.TB) {
	if tr.mr != nil {
		return // the whole server goes away
	}
	c := redis.NewClient(&redis.Options{Addr: tr.addr})
	defer c.Close()
	ctx := context.Background()
	ks, err := c.Keys(ctx, "lr:rl:{"+tr.key+"}:*").Result()
	if err != nil {
		tb.Errorf("list keys of %s: %v", tr.key, err)
		return
	}
	if len(ks) > 0 {
		c.Del(ctx, ks...)
	}
}

// client returns a new client (one per simulated process) that counts its
// commands.
func (tr *testRedis) client(tb testing.TB) (*redis.Client, *countHook) {
	return newCountingClient(tb, &redis.Options{Addr: tr.addr})
}

func newCountingClient(tb testing.TB, opt *redis.Options) (*redis.Client, *countHook) {
	c := redis.NewClient(opt)
	h := &countHook{}
	c.AddHook(h)
	tb.Cleanup(func() { c.Close() })
	return c, h
}

// limiter builds a Limiter on its own client; Close runs at cleanup.
func (tr *testRedis) limiter(tb testing.TB, cfg Config) (*Limiter, *countHook) {
	tb.Helper()
	c, h := tr.client(tb)
	cfg.Key = tr.key
	l, err := New(c, cfg, nil)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { l.Close() })
	return l, h
}

// countHook counts the commands a client sends (the calls, not the retries
// inside go-redis) and the dials it makes.
type countHook struct {
	cmds, dials atomic.Int64
}

var _ redis.Hook = (*countHook)(nil)

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.dials.Add(1)
		return next(ctx, network, addr)
	}
}

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}
