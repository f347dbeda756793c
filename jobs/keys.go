package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// DefaultNamespace prefixes every Redis key and queue name. Tests use their
// own namespace so that they can share one Redis.
const DefaultNamespace = "lr"

// This file owns the Redis key layout of every package: the store, the
// ledger, the HTTP API and the scheduler build their keys here only, so
// that the whole layout can be read (and pinned by a test) in one place.
// Existing data is found by these exact strings: never change one.
//
//	<ns>:{<id>}:meta              hash: definition, state, policy, outcome counts; an express campaign's
//	                              bulk call in its x_* fields (express.go): x_state, x_reason, x_listed,
//	                              x_outside, x_sent_ms, x_asset_count, x_async, x_difference, x_verified,
//	                              x_fallback, x_deadline_ms, x_finished_ms
//	<ns>:{<id>}:s:<k>             string: roaring bitmap of the IDs of submit segment k
//	<ns>:{<id>}:l:<b>             hash: ledger of batch b
//	<ns>:{<id>}:errors            hash: asset ID → error_id and full error of failed and invalid assets
//	<ns>:{<id>}:failures          hash: failure reason → count of failed and invalid assets
//	<ns>:{<id>}:fail:<outcome>    sorted set (lex, score 0): "<asset ID, 19 digits>:<batch>" of the assets
//	                              whose outcome is failed, invalid, not_found, not_in_inventory or cancelled
//	<ns>:{<id>}:events            list: audit events of the campaign
//	<ns>:{<id>}:repair            string: lease of the process repairing the campaign
//	<ns>:{<id>}:snap              hash: batch number → uvarint string of the batch's label set numbers (snapshot.go)
//	<ns>:{<id>}:snapsets          hash: "<seg>:<n>" → JSON array of label set n of segment seg
//	<ns>:{<id>}:snapmeta          hash: "<seg>:<field>" → snapshot progress and summary of segment seg
//	<ns>:{<id>}:outbox            list: notifications of the campaign not yet delivered (notifyfield.go)
//	<ns>:{<id>}:notified          hash: "<event id>:<notifier>" → 1 for the outbox head's deliveries done
//	<ns>:{<id>}:notifylease       string: lease of the process delivering the campaign's outbox
//	<ns>:campaigns                sorted set: campaign IDs by creation time
//	<ns>:janitor                  string: lease of the janitor pass
//	<ns>:idem:<sha(owner)>:<sha(key)>  string: record of an HTTP Idempotency-Key
//	<ns>:sched:<slug>             hash: state of a schedule
//	<ns>:ui:session:<sha(cookie)> hash: a console session (token name and reference, no secret)
//	<ns>:sched:<slug>:<fireUnix>  string: the replica that claimed a fire time
//
// Keys of one campaign share the hash tag "{<id>}" so that the scripts
// touching several of them stay in one Redis Cluster slot. Two key spaces
// are not ours to build: asynq's ("asynq:{<ns>-<priority>}:...", from the
// queue names below) and the shared rate limiter's ("lr:rl:{<key>}:...",
// built by package worker/ratelimit, which depends on no package of
// labelreset but client/backoff; its callers put the namespace in the key).

// keys builds the Redis key names of one namespace.
type keys struct{ ns string }

func (k keys) meta(cid string) string { return k.ns + ":{" + cid + "}:meta" }
func (k keys) segment(cid string, seg int) string {
	return k.ns + ":{" + cid + "}:s:" + strconv.Itoa(seg)
}
func (k keys) ledger(cid string, batch int) string {
	return k.ns + ":{" + cid + "}:l:" + strconv.Itoa(batch)
}

// errors is the hash of asset ID → error_id and full error of the failed
// and invalid assets whose error does not fit their ledger record.
func (k keys) errors(cid string) string { return k.ns + ":{" + cid + "}:errors" }
func (k keys) events(cid string) string { return k.ns + ":{" + cid + "}:events" }

// failures is the hash of failure reason → count of a campaign's failed and
// invalid assets (see failureLua).
func (k keys) failures(cid string) string { return k.ns + ":{" + cid + "}:failures" }

// failIndex is the sorted set of a campaign's assets with one of the
// FailureOutcomes (see failIndexLua).
func (k keys) failIndex(cid, outcome string) string { return k.ns + ":{" + cid + "}:fail:" + outcome }

// failIndexes are the failIndex keys of every FailureOutcomes, in its order.
func (k keys) failIndexes(cid string) []string {
	out := make([]string, len(FailureOutcomes))
	for i, o := range FailureOutcomes {
		out[i] = k.failIndex(cid, o)
	}
	return out
}
func (k keys) snap(cid string) string        { return k.ns + ":{" + cid + "}:snap" }
func (k keys) snapSets(cid string) string    { return k.ns + ":{" + cid + "}:snapsets" }
func (k keys) snapMeta(cid string) string    { return k.ns + ":{" + cid + "}:snapmeta" }
func (k keys) index() string                 { return k.ns + ":campaigns" }
func (k keys) outbox(cid string) string      { return k.ns + ":{" + cid + "}:outbox" }
func (k keys) notified(cid string) string    { return k.ns + ":{" + cid + "}:notified" }
func (k keys) notifyLease(cid string) string { return k.ns + ":{" + cid + "}:notifylease" }
func (k keys) idempotency(h string) string   { return k.ns + ":idem:" + h }
func (k keys) janitorLock() string           { return k.ns + ":janitor" }
func (k keys) repairLock(cid string) string  { return k.ns + ":{" + cid + "}:repair" }

// OutboxKey, NotifiedKey and NotifyLeaseKey are the keys of campaign
// cid's notification outbox, of the deliveries done of its head entry and
// of the lease of the process delivering it (package jobs/notify).
func OutboxKey(ns, cid string) string      { return keys{ns}.outbox(cid) }
func NotifiedKey(ns, cid string) string    { return keys{ns}.notified(cid) }
func NotifyLeaseKey(ns, cid string) string { return keys{ns}.notifyLease(cid) }

// IndexKey is the key of the sorted set of every campaign ID of
// namespace ns, by creation time.
func IndexKey(ns string) string { return keys{ns}.index() }

// MetaKey is the key of the meta hash of campaign cid in namespace ns,
// for packages that read or set a campaign's fields without a Store.
func MetaKey(ns, cid string) string { return keys{ns}.meta(cid) }

// SessionKey is the key of a console session whose cookie value has the
// SHA-256 hex digest sum: the cookie itself is never stored, so a copy of
// Redis signs nobody in.
func SessionKey(ns, sum string) string { return ns + ":ui:session:" + sum }

// IdempotencyKey is the key of an HTTP Idempotency-Key sent by owner:
// both parts hashed on their own, so that no owner and key can spell
// another's pair (owner "ab" with key "c-1" is not owner "abc" with key
// "-1"), and neither appears in Redis in the clear.
func IdempotencyKey(ns, owner, key string) string {
	return keys{ns}.idempotency(sha256hex(owner) + ":" + sha256hex(key))
}

// ScheduleKey is the key of the state hash of the schedule with slug
// slug (which never holds ':', so that no slug spells a claim key).
func ScheduleKey(ns, slug string) string { return ns + ":sched:" + slug }

// ScheduleClaimKey is the key a scheduler replica sets to claim fire time
// at of the schedule with slug slug, so that one replica fires it.
func ScheduleClaimKey(ns, slug string, at time.Time) string {
	return ScheduleKey(ns, slug) + ":" + strconv.FormatInt(at.Unix(), 10)
}

func sha256hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// Queue returns the asynq queue name of a priority in namespace ns.
func Queue(ns string, p Priority) string { return ns + "-" + string(p) }

// Queues returns the asynq queue weights of namespace ns: high work
// overtakes normal work, which overtakes low, without starving it.
func Queues(ns string) map[string]int {
	return map[string]int{
		Queue(ns, PriorityHigh):   6,
		Queue(ns, PriorityNormal): 3,
		Queue(ns, PriorityLow):    1,
	}
}
