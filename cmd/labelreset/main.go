// Command labelreset resets the labels of PDCP assets in bulk, as tracked
// campaigns on a Redis-backed job queue. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	quietRedisLog(os.Stderr, os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newApp(os.Stdin, os.Stdout, os.Stderr, os.Getenv).main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
