package jobs

import (
	"context"
	"errors"
	"net"

	"github.com/redis/go-redis/v9"
)

// DialAborter is a go-redis hook that abandons the client's dials once
// Abort is called: the dials in flight are cancelled and later ones fail
// at once. go-redis dials in goroutines of its own with no deadline but
// the dial timeout, and on a redis-sentinel:// client every dial first
// asks the sentinels under one mutex, which Close also takes: with the
// master and the sentinels down, Close waited for every queued dial in
// turn, for minutes. Call Abort before Close to make Close prompt.
type DialAborter struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// NewDialAborter returns a hook to add to a client with AddHook.
func NewDialAborter() *DialAborter {
	ctx, cancel := context.WithCancel(context.Background())
	return &DialAborter{ctx: ctx, cancel: cancel}
}

// ErrDialAborted is the error of a dial abandoned by Abort.
var ErrDialAborted = errors.New("redis dial abandoned: client closing")

// Abort cancels the dials in flight and fails the later ones. It is safe
// to call more than once.
func (d *DialAborter) Abort() { d.cancel() }

// DialHook implements redis.Hook.
func (d *DialAborter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if d.ctx.Err() != nil {
			return nil, ErrDialAborted
		}
		// The context only bounds the dial: the connection outlives it.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(d.ctx, cancel)()
		return next(ctx, network, addr)
	}
}

// ProcessHook implements redis.Hook.
func (d *DialAborter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

// ProcessPipelineHook implements redis.Hook.
func (d *DialAborter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
