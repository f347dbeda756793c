package jobs

import (
	"strconv"
)

// DefaultNamespace prefixes every Redis key and queue name. Tests use their
// own namespace so that they can share one Redis.
const DefaultNamespace = "lr"

// keys builds the Redis key names of one namespace.
type keys struct{ ns string }

func (k keys) meta(cid string) string { return k.ns + ":{" + cid + "}:meta" }
func (k keys) segment(cid string, seg int) string {
	return k.ns + ":{" + cid + "}:s:" + strconv.Itoa(seg)
}
func (k keys) ledger(cid string, batch int) string {
	return k.ns + ":{" + cid + "}:l:" + strconv.Itoa(batch)
}
func (k keys) events(cid string) string { return k.ns + ":{" + cid + "}:events" }

// failures is the hash of failure reason → count of a campaign's failed and
// invalid assets (see failureLua).
func (k keys) failures(cid string) string   { return k.ns + ":{" + cid + "}:failures" }
func (k keys) index() string                { return k.ns + ":campaigns" }
func (k keys) idempotency(h string) string  { return k.ns + ":idem:" + h }
func (k keys) janitorLock() string          { return k.ns + ":janitor" }
func (k keys) repairLock(cid string) string { return k.ns + ":{" + cid + "}:repair" }

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
