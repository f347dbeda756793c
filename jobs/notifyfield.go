// The notify field of a campaign: the names of the operator's notifiers
// that hear about its state changes, and the outbox the audit script
// fills for them (audit.go, package jobs/notify delivers it).

package jobs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MaxNotifiers bounds Campaign.Notify: every name is written into each
// outbox entry, and a campaign that wants more than a few receivers wants
// one receiver that fans out.
const MaxNotifiers = 8

var notifierNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ErrNotifierName is returned for a notifier name outside
// [a-z0-9][a-z0-9-_]{0,62}: names are joined with commas in the meta hash
// and the outbox, so they can hold none.
var ErrNotifierName = errors.New("notifier name must match [a-z0-9][a-z0-9-_]{0,62}")

// ValidateNotifierName checks one notifier name.
func ValidateNotifierName(name string) error {
	if !notifierNameRe.MatchString(name) {
		return fmt.Errorf("notifier %q: %w", name, ErrNotifierName)
	}
	return nil
}

// ValidateNotify checks a campaign's notifier list: valid names, no
// repeats (each would deliver every event twice), at most MaxNotifiers.
func ValidateNotify(names []string) error {
	if len(names) > MaxNotifiers {
		return fmt.Errorf("%d notifiers: want at most %d", len(names), MaxNotifiers)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if err := ValidateNotifierName(n); err != nil {
			return err
		}
		if seen[n] {
			return fmt.Errorf("notifier %q named twice", n)
		}
		seen[n] = true
	}
	return nil
}

// ParseNotifyList splits a comma-separated list of notifier names, as
// given to --notify or the HTTP notify= parameter; blanks around names
// and empty items are dropped. The names are checked by ValidateNotify.
func ParseNotifyList(s string) ([]string, error) {
	if strings.Count(s, ",") > MaxNotifiers*4 {
		return nil, fmt.Errorf("notify: more than %d names", MaxNotifiers)
	}
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	if err := ValidateNotify(out); err != nil {
		return nil, err
	}
	return out, nil
}

// Notification event kinds, as the outbox and the notifiers' payload name
// them.
const (
	NotifyNeedsApproval = "needs_approval" // the campaign entered pending
	NotifyBlocked       = "blocked"        // PDCP refused the credentials
	NotifyStopped       = "stopped"        // the failure threshold stopped it
	NotifyCancelled     = "cancelled"
	NotifyDone          = "done"
	NotifyUndone        = "undone" // a restore campaign was recorded for it
)

// notifyLua defines notify(key, now, actor, action, from, to, reason),
// called by audit(): when the campaign names notifiers (meta field
// "notify") and the change is one they hear about, it appends an outbox
// entry in the same script as the change, so a change is never without
// its notification and no replay of a script (a repeat changes nothing
// and audits nothing) makes a second one. The meta hash and the outbox
// are found from the events key: the three share the campaign's hash
// tag, so they live in the script's Cluster slot.
//
// An entry's id is the campaign, its incarnation and a per-campaign
// sequence (meta field "notify_seq"): receivers dedupe deliveries on it,
// and a campaign created again under the same ID starts its sequence
// again, so the incarnation keeps its ids apart from the earlier one's.
const notifyLua = `
local function notify(key, now, actor, action, from, to, reason)
  local base = string.sub(key, 1, -7)
  local meta = base .. 'meta'
  local m = redis.call('HMGET', meta, 'notify', 'id', 'inc', 'retention_s')
  if not m[1] or m[1] == '' then return end
  local kind
  if action == 'undo' then kind = '` + NotifyUndone + `'
  elseif to ~= from then
    local kinds = {pending='` + NotifyNeedsApproval + `', blocked='` + NotifyBlocked + `', stopped='` + NotifyStopped + `',
      cancelled='` + NotifyCancelled + `', done='` + NotifyDone + `'}
    kind = kinds[to]
  end
  if not kind then return end
  local seq = redis.call('HINCRBY', meta, 'notify_seq', 1)
  local cid = m[2] or ''
  local eid = cid .. '-' .. tostring(seq)
  if m[3] and m[3] ~= '' then eid = cid .. '-' .. m[3] .. '-' .. tostring(seq) end
  redis.call('RPUSH', base .. 'outbox', cjson.encode({id=eid, campaign=cid, event=kind, action=action,
    from=from or '', to=to or '', reason=reason or '', actor=actor, t=tostring(now), notify=m[1],
    retention_s=m[4] or ''}))
end
`

// notifyField renders Campaign.Notify as its meta hash field.
func notifyField(names []string) string { return strings.Join(names, ",") }

// parseNotifyField reads the meta hash field back.
func parseNotifyField(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
