// A campaign's outbox as the dispatcher reads it: the entries the jobs
// package writes (jobs/notifyfield.go), the payload they are sent as, and
// the scripts that record progress only while the lease is held.

package notify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
)

// entry is one outbox entry as the audit script encodes it (cjson: every
// value a string).
type entry struct {
	ID         string `json:"id"`
	Campaign   string `json:"campaign"`
	Event      string `json:"event"`
	Action     string `json:"action"`
	From       string `json:"from"`
	To         string `json:"to"`
	Reason     string `json:"reason"`
	Actor      string `json:"actor"`
	T          string `json:"t"`
	Notify     string `json:"notify"`
	RetentionS string `json:"retention_s"`
}

// Payload is the JSON body every notifier receives.
type Payload struct {
	// ID is unique per transition (also in the X-Labelreset-Delivery
	// header): a receiver that sees it twice has seen a retry.
	ID string `json:"id"`
	// Event is needs_approval, blocked, stopped, cancelled, done or
	// undone.
	Event    string `json:"event"`
	Campaign string `json:"campaign"`
	// Action is the audit action that made the change (create, append,
	// approve, block, stop, cancel, done, undo...), From and To the
	// states before and after it.
	Action string    `json:"action"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"`
	Actor  string    `json:"actor"`
	Time   time.Time `json:"time"`
}

func parseEntry(raw string) (*entry, error) {
	var e entry
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return nil, fmt.Errorf("corrupt outbox entry: %w", err)
	}
	if e.ID == "" || e.Campaign == "" || e.Event == "" {
		return nil, fmt.Errorf("corrupt outbox entry: no id, campaign or event")
	}
	return &e, nil
}

func (e *entry) time() time.Time {
	ms, _ := strconv.ParseInt(e.T, 10, 64)
	return time.UnixMilli(ms).UTC()
}

// retention is how long the entry may wait: the campaign's retention
// when it was written (its data, and the point of telling anyone, is gone
// after it), 30 days for an entry without one.
func (e *entry) retention() time.Duration {
	if s, _ := strconv.ParseInt(e.RetentionS, 10, 64); s > 0 {
		return time.Duration(s) * time.Second
	}
	return 30 * 24 * time.Hour
}

func (e *entry) notifiers() []string {
	var out []string
	for _, n := range strings.Split(e.Notify, ",") {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

func (e *entry) body() ([]byte, error) {
	return json.Marshal(Payload{
		ID: e.ID, Event: e.Event, Campaign: e.Campaign, Action: e.Action, From: e.From, To: e.To,
		Reason: e.Reason, Actor: e.Actor, Time: e.time(),
	})
}

// renewScript extends the lease KEYS[1] by ARGV[2] ms while it holds
// token ARGV[1]. Returns 1 when renewed, 0 when lost.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// releaseScript deletes the lease KEYS[1] if it holds token ARGV[1].
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`)

// markScript records that notifier ARGV[3] got entry ARGV[2] (field
// "<id>:<name>" of KEYS[2]) while the lease KEYS[1] holds token ARGV[1]:
// a process that lost its lease records nothing, so the holder's view
// stays its own. Returns 1 when recorded, 0 when the lease is lost.
var markScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2] .. ':' .. ARGV[3], '1')
return 1
`)

// popScript removes the outbox head (KEYS[2]) when it is still entry
// ARGV[2] and the lease KEYS[1] holds token ARGV[1], with the record of
// its deliveries (KEYS[3]). Returns 1 when removed, 0 otherwise.
var popScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[2] then return 0 end
redis.call('LPOP', KEYS[2])
redis.call('DEL', KEYS[3])
return 1
`)

// Event kinds of Payload.Event.
const (
	EventNeedsApproval = jobs.NotifyNeedsApproval
	EventBlocked       = jobs.NotifyBlocked
	EventStopped       = jobs.NotifyStopped
	EventCancelled     = jobs.NotifyCancelled
	EventDone          = jobs.NotifyDone
	EventUndone        = jobs.NotifyUndone
)
