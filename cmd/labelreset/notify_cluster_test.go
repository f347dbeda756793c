//go:build redisservers

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/notify"
)

// TestClusterNotify: on a 3-master Redis Cluster the outbox entries (keys
// the audit script reaches through the campaign's hash tag) are written
// with the state changes and delivered: campaigns spread over the slots
// each get needs_approval, then cancelled, and the undone of an undo.
func TestClusterNotify(t *testing.T) {
	nodes := startCluster(t, 3)
	addrs := make([]string, len(nodes))
	for i, s := range nodes {
		addrs[i] = s.Addr()
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { rdb.Close() })
	const secret = "cluster-secret"
	var mu sync.Mutex
	got := map[string][]string{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !notify.Verify(secret, body, r.Header.Get(notify.SignatureHeader)) {
			t.Errorf("bad signature on %s", body)
		}
		var p notify.Payload
		json.Unmarshal(body, &p)
		mu.Lock()
		got[p.Campaign] = append(got[p.Campaign], p.Event)
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	cfg := &notify.Config{Notifiers: []notify.Notifier{{Name: "ops", URL: rcv.URL, Secret: secret}}}
	d, err := notify.New(rdb, notify.Options{Namespace: "lr", Config: cfg, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	store := jobs.NewStore(rdb, jobs.StoreOptions{Namespace: "lr", ControlDelay: time.Millisecond})
	const n = 6
	for i := range n {
		id := fmt.Sprintf("cl-%d", i)
		def := &jobs.Campaign{ID: id, Name: id, Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
			BatchSize: 100, Policy: jobs.DefaultPolicy(), Notify: []string{"ops"}}
		plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2", "3"}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{RequireApproval: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "every notification", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range n {
			if len(got[fmt.Sprintf("cl-%d", i)]) < 2 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		id := fmt.Sprintf("cl-%d", i)
		if ev := got[id]; len(ev) != 2 || ev[0] != notify.EventNeedsApproval || ev[1] != notify.EventCancelled {
			t.Errorf("%s: got %v, want [needs_approval cancelled]", id, ev)
		}
	}
}
