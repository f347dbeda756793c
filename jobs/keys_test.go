package jobs

import (
	"testing"
	"time"
)

// TestKeyLayout pins every Redis key byte for byte: campaigns, ledgers,
// idempotency records and schedule states written by an earlier build
// must still be found, so a change here is a data migration, not a
// refactoring.
func TestKeyLayout(t *testing.T) {
	k := keys{"lr"}
	fire := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct{ name, got, want string }{
		{"meta", k.meta("c1"), "lr:{c1}:meta"},
		{"MetaKey", MetaKey("lr", "c1"), "lr:{c1}:meta"},
		{"segment", k.segment("c1", 3), "lr:{c1}:s:3"},
		{"ledger", k.ledger("c1", 17), "lr:{c1}:l:17"},
		{"errors", k.errors("c1"), "lr:{c1}:errors"},
		{"failures", k.failures("c1"), "lr:{c1}:failures"},
		{"failIndex", k.failIndex("c1", OutcomeNotFound), "lr:{c1}:fail:not_found"},
		{"events", k.events("c1"), "lr:{c1}:events"},
		{"repair", k.repairLock("c1"), "lr:{c1}:repair"},
		{"snap", k.snap("c1"), "lr:{c1}:snap"},
		{"snapsets", k.snapSets("c1"), "lr:{c1}:snapsets"},
		{"snapmeta", k.snapMeta("c1"), "lr:{c1}:snapmeta"},
		{"outbox", k.outbox("c1"), "lr:{c1}:outbox"},
		{"OutboxKey", OutboxKey("lr", "c1"), "lr:{c1}:outbox"},
		{"notified", NotifiedKey("lr", "c1"), "lr:{c1}:notified"},
		{"notifylease", NotifyLeaseKey("lr", "c1"), "lr:{c1}:notifylease"},
		{"index", k.index(), "lr:campaigns"},
		{"IndexKey", IndexKey("lr"), "lr:campaigns"},
		{"janitor", k.janitorLock(), "lr:janitor"},
		{"IdempotencyKey", IdempotencyKey("lr", "team-a", "req-1"),
			"lr:idem:" +
				"96c2886c51d1dfb4901d9feccff66213ce3e27406282ff6f602a4258a33dacec" + ":" +
				"9456bdfa12ea76959c94a3572f5d91c73d838622df0a8d9b4e815c276c6b7880"},
		{"ScheduleKey", ScheduleKey("lr", "nightly"), "lr:sched:nightly"},
		{"ScheduleClaimKey", ScheduleClaimKey("lr", "nightly", fire), "lr:sched:nightly:1767323045"},
		{"Queue", Queue("lr", PriorityHigh), "lr-high"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}
