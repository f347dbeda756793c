// Package redistest gives tests a Redis: the real one named by REDIS_ADDR
// (host:port or a redis:// URL) when set, an embedded miniredis otherwise.
// Each test gets its own key namespace, so tests can share one Redis and
// run in parallel; the namespace's keys are removed when the test ends.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Env is one test's Redis.
type Env struct {
	Client redis.UniversalClient
	// URL reaches the same Redis from another process.
	URL string
	// Namespace is unique to the test.
	Namespace string
	// Mini is the embedded server, nil on a real Redis.
	Mini *miniredis.Miniredis
}

// Real reports whether tests run against a real Redis.
func Real() bool { return os.Getenv("REDIS_ADDR") != "" }

// New returns the test's Redis environment.
func New(tb testing.TB) *Env {
	tb.Helper()
	e := &Env{Namespace: "t" + randHex(6)}
	if addr := os.Getenv("REDIS_ADDR"); addr != "" {
		url := addr
		if !strings.Contains(addr, "://") {
			url = "redis://" + addr
		}
		opt, err := redis.ParseURL(url)
		if err != nil {
			tb.Fatalf("REDIS_ADDR %q: %v", addr, err)
		}
		e.URL = url
		e.Client = redis.NewClient(opt)
		if err := e.Client.Ping(context.Background()).Err(); err != nil {
			tb.Fatalf("REDIS_ADDR=%s does not answer: %v (unset REDIS_ADDR to use the embedded Redis)", addr, err)
		}
		tb.Cleanup(func() {
			ctx := context.Background()
			for _, pat := range []string{e.Namespace + ":*", "asynq:{" + e.Namespace + "-*"} {
				iter := e.Client.Scan(ctx, 0, pat, 1000).Iterator()
				var ks []string
				for iter.Next(ctx) {
					ks = append(ks, iter.Val())
					if len(ks) == 500 {
						e.Client.Del(ctx, ks...)
						ks = ks[:0]
					}
				}
				if len(ks) > 0 {
					e.Client.Del(ctx, ks...)
				}
			}
			e.Client.SRem(ctx, "asynq:queues", e.Namespace+"-high", e.Namespace+"-normal", e.Namespace+"-low")
			e.Client.Close()
		})
		return e
	}
	e.Mini = miniredis.RunT(tb)
	e.URL = "redis://" + e.Mini.Addr()
	e.Client = redis.NewClient(&redis.Options{Addr: e.Mini.Addr()})
	tb.Cleanup(func() { e.Client.Close() })
	return e
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Observe returns a go-redis hook that calls f with each command, or with
// a pipeline's commands, before they are sent: for tests that log, count
// or hold back what a client sends.
func Observe(f func(cmds ...redis.Cmder)) redis.Hook { return observer(f) }

type observer func(cmds ...redis.Cmder)

func (o observer) DialHook(next redis.DialHook) redis.DialHook { return next }

func (o observer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		o(cmd)
		return next(ctx, cmd)
	}
}

func (o observer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		o(cmds...)
		return next(ctx, cmds)
	}
}
