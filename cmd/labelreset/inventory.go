package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/backoff"
)

// inventoryPageSize is the listing page size of preview and verify: the
// largest the client sends (a server may return fewer rows).
const inventoryPageSize = client.MaxPageSize

// inventoryRetries bounds the retries of one failed page before the
// listing gives up: a check that skipped a page would call assets
// missing that are not.
const inventoryRetries = 8

// listInventory pages GET /v1/asset/enumerate/contents with filter f and
// hands each page to fn. It pages itself rather than through
// ListAssets so that every request can first take a token (wait, nil for
// none: verify takes them from the workers' shared limiter) and so that
// the pages are counted exactly for the summary. It advances by the rows
// a page returned and stops only on an empty page; a page equal to the one
// before ends it with an error (a server ignoring offset).
func listInventory(ctx context.Context, c *client.Client, f client.AssetFilter, wait func(context.Context) error,
	fn func(page []client.Asset) error) (pages int64, err error) {
	var prev []client.Asset
	retry := backoff.New(backoff.Policy{Base: time.Second, Cap: time.Minute})
	for offset, failures := 0, 0; ; {
		if wait != nil {
			if err := wait(ctx); err != nil {
				return pages, fmt.Errorf("list assets at offset %d: %w", offset, err)
			}
		}
		page, err := c.ListPage(ctx, f, offset, inventoryPageSize)
		pages++
		var se *client.StatusError
		if err != nil && errors.As(err, &se) && failures < inventoryRetries &&
			(se.Result.Outcome == client.OutcomeRetryable || se.Result.Outcome == client.OutcomeThrottled) && ctx.Err() == nil {
			failures++
			delay := retry.Next()
			if se.Result.RetryAfter > 0 {
				delay = min(se.Result.RetryAfter, time.Minute)
			}
			if err := backoff.Sleep(ctx, delay); err != nil {
				return pages, fmt.Errorf("list assets at offset %d: %w", offset, err)
			}
			continue
		}
		if err != nil {
			return pages, fmt.Errorf("list assets at offset %d: %w", offset, err)
		}
		failures = 0
		retry.Reset()
		if len(page) == 0 {
			return pages, nil
		}
		if slices.EqualFunc(page, prev, func(a, b client.Asset) bool { return a.ID == b.ID }) {
			return pages, fmt.Errorf("list assets at offset %d: the page repeats the one before: the server does not advance by offset", offset)
		}
		if err := fn(page); err != nil {
			return pages, err
		}
		offset += len(page)
		prev = page
	}
}
