package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// MaxEvents bounds the audit log of one campaign: the first
// KeepFirstEvents events (the creation and what followed it, usually the
// approval) and the newest MaxEvents-KeepFirstEvents are kept. A campaign
// changes state a handful of times in its life, so the bound only matters
// against a caller that pauses and resumes in a loop, and such a loop must
// not erase who created and approved it. (Repeating an action that changes
// nothing writes no event at all.)
const MaxEvents = 1000

// KeepFirstEvents is how many of the oldest events are never trimmed.
const KeepFirstEvents = 20

// ActorSystem is the actor of state changes made on nobody's behalf (a
// process that set no actor).
const ActorSystem = "system"

type actorKey struct{}

// WithActor returns ctx carrying the identity that state changes made with
// it are recorded under in the campaign's audit log: "api:NAME" for an API
// token, "cli:USER@HOST" for the CLI, "worker:HOST" for a worker,
// "scheduler:NAME" for a schedule. The Store reads it in every method that
// changes a campaign's state, so the audit event is written by the same
// atomic script as the change, and no caller can forget it.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf returns the actor carried by ctx, or "" when none.
func ActorOf(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// CLIActor is the actor of CLI commands: "cli:USER@HOST" with the OS user
// and the hostname, so that an audit log tells who typed the command where.
func CLIActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	} else if v := os.Getenv("USER"); v != "" {
		name = v
	}
	// A domain user on Windows is DOMAIN\user: keep the user.
	if i := strings.LastIndexAny(name, `\/`); i >= 0 {
		name = name[i+1:]
	}
	return "cli:" + name + "@" + Hostname()
}

// Hostname is the host's name, or "unknown-host".
func Hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown-host"
	}
	return h
}

// Event is one entry of a campaign's audit log: a state change.
type Event struct {
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Campaign string    `json:"campaign"`
	// From is the state before the change ("" for the creation), To the
	// state after it. A repeated action (pause of a paused campaign)
	// changes nothing and writes no event; a retry or append of a held
	// campaign has From == To.
	From   State  `json:"from"`
	To     State  `json:"to"`
	Reason string `json:"reason,omitempty"`
	// Count is the number of assets an append added.
	Count int64 `json:"count,omitempty"`
}

// Audit actions recorded by the Store.
const (
	ActionCreate  = "create"
	ActionApprove = "approve"
	ActionPause   = "pause"
	ActionResume  = "resume"
	ActionCancel  = "cancel"
	ActionRetry   = "retry"
	ActionBlock   = "block"
	ActionHold    = "hold"   // an append made a running campaign wait for approval (older versions)
	ActionAppend  = "append" // assets were appended (From -> To: the state it left the campaign in)
	ActionDone    = "done"
	ActionStop    = "stop" // the failure threshold stopped the campaign
	ActionUndo    = "undo" // a restore campaign was recorded for the campaign

	// An express campaign's express state changed (UpdateExpress):
	// "express_" and the new ExpressState; the campaign's own state is
	// From and To, and the reason holds the numbers.
	ActionExpressSending  = "express_" + string(ExpressSending)
	ActionExpressSent     = "express_" + string(ExpressSent)
	ActionExpressVerified = "express_" + string(ExpressVerified)
	ActionExpressRefused  = "express_" + string(ExpressRefused)
	ActionExpressFailed   = "express_" + string(ExpressFailed)
)

// auditLua defines audit(key, now_ms, actor, action, from, to, reason,
// count) for the scripts that change a campaign's state: the event goes
// into the same script call as the change, so a change is never without its
// event and an event never without its change. The list is bounded to
// MaxEvents entries: past the bound, the oldest event after the first
// KeepFirstEvents goes. The change's notification, if any, goes into the
// campaign's outbox in the same step (notifyLua).
var auditLua = notifyLua + fmt.Sprintf(`
local function audit(key, now, actor, action, from, to, reason, count)
  if actor == nil or actor == '' then actor = %q end
  notify(key, now, actor, action, from, to, reason)
  local n = redis.call('RPUSH', key, cjson.encode({t=tostring(now), actor=actor, action=action, from=from or '', to=to or '', reason=reason or '', count=tostring(count or 0)}))
  if n > %d then
    redis.call('LSET', key, %d, '\0trimmed')
    redis.call('LREM', key, 1, '\0trimmed')
  end
end
`, ActorSystem, MaxEvents, KeepFirstEvents)

// actor is the actor of a state change made with ctx.
func (s *Store) actor(ctx context.Context) string {
	if a := ActorOf(ctx); a != "" {
		return a
	}
	return s.defaultActor
}

// nowMS is the store clock in Unix milliseconds, as the scripts take it.
func (s *Store) nowMS() string { return strconv.FormatInt(s.now().UnixMilli(), 10) }

// Events returns the audit log of a campaign, oldest first.
func (s *Store) Events(ctx context.Context, id string) ([]Event, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	raw, err := s.rdb.LRange(ctx, s.keys.events(id), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("load events of campaign %s: %w", id, err)
	}
	out := make([]Event, 0, len(raw))
	for i, v := range raw {
		var e struct {
			T, Actor, Action, From, To, Reason, Count string
		}
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			return nil, fmt.Errorf("campaign %s: corrupt event %d: %w", id, i, err)
		}
		ms, _ := strconv.ParseInt(e.T, 10, 64)
		count, _ := strconv.ParseInt(e.Count, 10, 64)
		out = append(out, Event{
			Time: time.UnixMilli(ms).UTC(), Actor: e.Actor, Action: e.Action, Campaign: id,
			From: State(e.From), To: State(e.To), Reason: e.Reason, Count: count,
		})
	}
	return out, nil
}
