package jobs_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestDeleteUnlinks: Delete removes every key of a campaign (its error
// and failure hashes included) with UNLINK, never DEL: those hashes can
// hold millions of fields, and DEL would free them while Redis serves no
// one.
func TestDeleteUnlinks(t *testing.T) {
	env := redistest.New(t)
	ctx := t.Context()
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	if _, err := submitIDs(t, store, newDef("unl"), 1, 150, jobs.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	long := "HTTP 500 INTERNAL_ERROR: " + strings.Repeat("upstream timed out ", 5)
	recs := []jobs.BatchRecords{
		{Batch: 0, Records: []jobs.Record{{AssetID: 1, Outcome: jobs.OutcomeFailed, Status: 500, Attempts: 8, Error: long, ErrorID: "req-1", FinishedAt: now}}},
		{Batch: 1, Records: []jobs.Record{{AssetID: 101, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now}}},
	}
	if _, err := store.Ledger().Record(ctx, "unl", recs, now); err != nil {
		t.Fatal(err)
	}
	pattern := env.Namespace + ":{unl}:*"
	if ks, _ := env.Client.Keys(ctx, pattern).Result(); len(ks) < 5 {
		t.Fatalf("keys before the delete %v, want meta, segment, two ledgers, errors, failures", ks)
	}
	cmds := &commandLog{}
	env.Client.AddHook(redistest.Observe(cmds.add))
	if err := store.Delete(ctx, "unl"); err != nil {
		t.Fatal(err)
	}
	if ks, err := env.Client.Keys(ctx, pattern).Result(); err != nil || len(ks) != 0 {
		t.Errorf("keys after the delete %v (%v), want none", ks, err)
	}
	if got := cmds.count("unlink"); got == 0 {
		t.Errorf("commands %v: want the keys UNLINKed", cmds.names)
	}
	if got := cmds.count("del"); got != 0 {
		t.Errorf("commands %v: %d DEL, want none", cmds.names, got)
	}
}

// commandLog is a go-redis hook that records the names of the commands
// sent, pipelined or not.
type commandLog struct {
	mu    sync.Mutex
	names []string
}

func (l *commandLog) add(cmds ...redis.Cmder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cmds {
		l.names = append(l.names, c.Name())
	}
}

func (l *commandLog) count(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.names {
		if c == name {
			n++
		}
	}
	return n
}
