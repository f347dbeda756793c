// Listing failures of a snapshot: a PDCP outage makes a snapshot retry its
// listing for as long as it lasts (failing the campaign would be wrong:
// nothing was called yet). Recording the last failure in the segment's
// snapmeta lets status and the API show that the snapshot is stuck and
// why, instead of a progress that simply does not move.

package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// snapListingFields are the snapmeta fields (per segment) of the last
// listing failure: its error, the failures since the last page that
// listed, and when it failed last (ms).
var snapListingFields = []string{"lerr", "lerrs", "lerrat"}

// ListingFailed records that a listing request of the run failed with
// msg (a client error: redacted, without the key). The failures count up
// across task runs until a page lists again (ListingRecovered). A run
// that no longer owns the segment, or a campaign deleted or created
// again, records nothing (ErrSnapshotTakenOver).
func (r *SnapshotRun) ListingFailed(ctx context.Context, msg string) error {
	n, err := snapListingFailedScript.Run(ctx, r.s.rdb, []string{r.s.keys.meta(r.c.ID), r.s.keys.snapMeta(r.c.ID)},
		r.c.Incarnation, snapField(r.seg, "token"), r.token,
		snapField(r.seg, "lerr"), msg, snapField(r.seg, "lerrs"), snapField(r.seg, "lerrat"), r.s.now().UnixMilli()).Int()
	if err != nil {
		return fmt.Errorf("campaign %s segment %d: record a listing failure: %w", r.c.ID, r.seg, err)
	}
	if n < 0 {
		return fmt.Errorf("campaign %s segment %d: record a listing failure: %w", r.c.ID, r.seg, ErrSnapshotTakenOver)
	}
	return nil
}

// ListingRecovered clears the recorded listing failure of the run's
// segment once a page listed again. HDEL creates no key, so it needs no
// ownership check: a stale clear only hides a failure the owner records
// again at its next failure.
func (r *SnapshotRun) ListingRecovered(ctx context.Context) error {
	fields := make([]string, len(snapListingFields))
	for i, f := range snapListingFields {
		fields[i] = snapField(r.seg, f)
	}
	if err := r.s.rdb.HDel(ctx, r.s.keys.snapMeta(r.c.ID), fields...).Err(); err != nil {
		return fmt.Errorf("campaign %s segment %d: clear the listing failure: %w", r.c.ID, r.seg, err)
	}
	return nil
}

// snapListingFailedScript records a listing failure if the run owns the
// segment and the campaign is its incarnation and not being deleted.
// KEYS meta, snapmeta. ARGV incarnation, token field, token, error field,
// error, count field, time field, now (ms). Returns the failure count, or
// -1 (taken over or campaign gone).
var snapListingFailedScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'id', 'inc', 'deleting')
if not m[1] or m[3] or (m[2] or '') ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then return -1 end
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5], ARGV[7], ARGV[8])
return redis.call('HINCRBY', KEYS[2], ARGV[6], 1)
`)

// ListingFailure is the last listing failure of a snapshot still being
// taken.
type ListingFailure struct {
	// Error is the last failure's error (redacted).
	Error string `json:"error"`
	// Failures counts the failed requests since a page last listed.
	Failures int64 `json:"failures"`
	// At is when the last one failed.
	At time.Time `json:"at"`
}
