package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs/httpapi"
)

// TestSlowUploadsDoNotHoldSlots (hostile review 2, finding 8): the upload
// slots are held while the body is read, so two clients that send a few
// bytes and then stall held both slots for the 5-minute read timeout and
// every other create got 503. A slot holder whose body arrives slower than
// the minimum rate is cut with 408 once the grace has passed, and the
// slots serve others again. Over real HTTP: the bound is the connection's
// read deadline.
func TestSlowUploadsDoNotHoldSlots(t *testing.T) {
	const limit = 2
	e := newEnv(t, func(c *httpapi.Config) { c.MaxConcurrentUploads = limit })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln, "", "") }()
	defer func() { cancel(); <-served }()
	addr := ln.Addr().String()

	// Two slow senders: headers, the first rows, then nothing more.
	type slowResult struct {
		status string
		err    error
	}
	results := make(chan slowResult, 4*limit)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Content-Length above net/http's 256 KiB discard limit: a sender
	// refused with 503 gets its answer at once instead of after the server
	// tried to read (discard) the rest of its body.
	startSlow := func(i int) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		fmt.Fprintf(conn, "POST /v1/campaigns?campaign_id=slow-%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: text/csv\r\nContent-Length: 10000000\r\n\r\nasset_id\n1\n", i, token)
		go func() {
			status, err := bufio.NewReader(conn).ReadString('\n')
			results <- slowResult{strings.TrimSpace(status), err}
		}()
	}
	for i := range limit {
		startSlow(i)
	}
	post := func(id string) (int, string) {
		c := &http.Client{Timeout: time.Minute}
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/campaigns?campaign_id="+id, strings.NewReader("asset_id\n1\n2\n"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "text/csv")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", id, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Wait until both slow senders hold their slots (another create is
	// refused), as today.
	deadline := time.Now().Add(30 * time.Second)
	cut := 0
probe:
	for n := limit; ; {
		// A slow sender that came in while a probe held a slot was
		// refused: send another.
		select {
		case r := <-results:
			if strings.Contains(r.status, "408") {
				// Held its slot until cut (on a busy host the probes may
				// not have seen both slots taken at once).
				cut++
				break probe
			}
			if !strings.Contains(r.status, "503") {
				t.Fatalf("slow sender answered %q (%v), want 408 after the grace or 503 at the start", r.status, r.err)
			}
			startSlow(n)
			n++
			time.Sleep(250 * time.Millisecond)
		default:
		}
		status, _ := post("probe")
		if status == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow senders never held both upload slots (last create: %d)", status)
		}
		// Probes take a slot too: leave the slow senders room to take
		// theirs (a slow create under -race takes a while).
		time.Sleep(250 * time.Millisecond)
	}
	// Generous: the grace is 10s; the read timeout that held them before
	// is 5 minutes.
	for cut < limit {
		select {
		case r := <-results:
			if strings.Contains(r.status, "503") {
				continue // refused at the start, while a probe held a slot
			}
			cut++
			if !strings.Contains(r.status, "408") {
				t.Errorf("slow sender: answer %q (%v), want 408", r.status, r.err)
			}
		case <-time.After(90 * time.Second):
			t.Fatal("a slow sender still holds its upload slot after 90s: others get 503 until the 5-minute read timeout")
		}
	}
	if status, body := post("after-slow"); status != http.StatusCreated {
		t.Errorf("create after the slow senders were cut: %d %s, want 201", status, body)
	}
}
