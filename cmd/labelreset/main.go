// Command labelreset resets the labels of PDCP assets in bulk, as tracked
// campaigns on a Redis-backed job queue. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/labelreset/labelreset/client"
)

func main() {
	// One version everywhere: --version, the User-Agent sent to PDCP
	// and labelreset_build_info.
	client.Version = buildVersion()
	quietRedisLog(os.Stderr, os.Getenv)
	// SIGHUP (a closed terminal, or a `kill -HUP` meant to reload tokens)
	// would otherwise end the process at once, without the graceful stop
	// of worker, scheduler, run and serve. serve takes it to reload its
	// token file; every other command ignores it.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newApp(os.Stdin, os.Stdout, os.Stderr, os.Getenv).main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
