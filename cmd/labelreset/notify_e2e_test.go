package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs/notify"
)

// TestServeNotifies runs "labelreset serve --notifiers FILE" and a worker
// on a real receiver: a campaign created through the API with
// notify=ops that needs approval, then is approved and finishes, gets
// the receiver exactly needs_approval, then done, each signed with the
// notifier's secret (read from its secret_file) and carrying its
// delivery ID; the secret appears in no log.
func TestServeNotifies(t *testing.T) {
	t.Parallel()
	const secret = "hook-secret-0123456789"
	var mu sync.Mutex
	var got []notify.Payload
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !notify.Verify(secret, body, r.Header.Get(notify.SignatureHeader)) {
			t.Errorf("bad signature %q on %s", r.Header.Get(notify.SignatureHeader), body)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p notify.Payload
		if err := json.Unmarshal(body, &p); err != nil || p.ID != r.Header.Get(notify.DeliveryHeader) {
			t.Errorf("payload %s (%v): want JSON with the delivery header's id %q", body, err, r.Header.Get(notify.DeliveryHeader))
		}
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)

	e := newE2E(t, pdcpfake.Options{Assets: 100})
	e.env = append(e.env, "LABELRESET_API_TOKENS="+testToken)
	secretFile := filepath.Join(e.dir, "ops.secret")
	notifiers := filepath.Join(e.dir, "notifiers.yaml")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notifiers, []byte("notifiers:\n  - name: ops\n    url: "+rcv.URL+"/hook\n    secret_file: "+secretFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	srv := e.start("serve", "--addr", addr, "--confirm-above", "2", "--notifiers", notifiers)
	waitHTTP(t, "http://"+addr+"/readyz", 200)
	w := e.startWorker()

	st, body := apiCall(t, addr, "POST", "/v1/campaigns?campaign_id=hooked&notify=pager", testToken, "asset_id\n1\n2\n3\n")
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "unknown_notifier") {
		t.Errorf("create naming an unknown notifier: %d %s, want 422 unknown_notifier", st, body)
	}
	st, body = apiCall(t, addr, "POST", "/v1/campaigns?campaign_id=hooked&notify=ops", testToken, "asset_id\n1\n2\n3\n")
	if st != http.StatusCreated || !strings.Contains(body, `"notify":["ops"]`) {
		t.Fatalf("create: %d %s, want 201 with notify [ops]", st, body)
	}
	events := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, p := range got {
			out = append(out, p.Event)
		}
		return out
	}
	waitUntil(t, "needs_approval", func() bool { return len(events()) >= 1 })
	if st, body := apiCall(t, addr, "POST", "/v1/campaigns/hooked/approve", testToken, ""); st != http.StatusOK {
		t.Fatalf("approve: %d %s", st, body)
	}
	e.waitState("hooked", time.Minute, "done")
	waitUntil(t, "done", func() bool { return len(events()) >= 2 })
	if ev := events(); len(ev) != 2 || ev[0] != notify.EventNeedsApproval || ev[1] != notify.EventDone {
		t.Errorf("receiver got %v, want [needs_approval done]", ev)
	}
	mu.Lock()
	for _, p := range got {
		if p.Campaign != "hooked" {
			t.Errorf("payload campaign %q, want hooked", p.Campaign)
		}
	}
	mu.Unlock()
	for name, logs := range map[string]string{"serve": srv.output(), "worker": w.output()} {
		if strings.Contains(logs, secret) {
			t.Errorf("%s logged the notifier's secret", name)
		}
	}
}

// waitUntil polls cond; the bound is a failure deadline, not a measure.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
