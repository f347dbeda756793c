package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/worker/ratelimit"
)

// A worker waits for a token before each PDCP call and reports throttling
// back, so that every process sharing the account slows down together.
func Example() {
	mr, err := miniredis.Run() // a real deployment passes its own Redis client
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	lim, err := ratelimit.New(rdb, ratelimit.Config{
		Key:  "acct-3f2a9c", // a hash of the API key, never the key
		Rate: 50,
		AIMD: true,
	}, prometheus.NewRegistry())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lim.Close()

	ctx := context.Background()
	if err := lim.Wait(ctx, "team-7"); err != nil {
		fmt.Println(err)
		return
	}
	// ... send the request; then, depending on the answer:
	resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{}}
	if resp.StatusCode == http.StatusTooManyRequests {
		if s := resp.Header.Get("Retry-After"); s != "" {
			var secs int
			fmt.Sscan(s, &secs)
			_ = lim.PauseUntil(ctx, time.Now().Add(time.Duration(secs)*time.Second))
		} else {
			lim.Throttled(ctx)
		}
	}
	fmt.Printf("effective rate %.1f/s\n", lim.EffectiveRate())
	// Output: effective rate 42.5/s
}
