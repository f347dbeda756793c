package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelreset/labelreset/jobs/schedule"
)

// idServer serves ID files over TLS: /ids.csv, /big (with Content-Length),
// /stream (chunked, no length), /missing (404), /redirect (to plain http)
// and /slow (never finishes).
func idServer(t *testing.T) *httptest.Server {
	t.Helper()
	big := "id\n" + strings.Repeat("12345\n", 100)
	mux := http.NewServeMux()
	mux.HandleFunc("/ids.csv", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "asset_id\n10\n11\n12\n11\n")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		fmt.Fprint(w, big)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		for i := range 50 {
			fmt.Fprintf(w, "%d\n", 1000+i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://files.example.com/ids.csv", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("1\n"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			// Returning ends the body cleanly; the client may then see
			// EOF after its deadline, which must still fail the firing.
		case <-time.After(10 * time.Second):
		}
	})
	ts := httptest.NewTLSServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestURLSource(t *testing.T) {
	ts := idServer(t)
	h := newHarness(t)
	cfg := h.config(fmt.Sprintf(`
schedules:
  - {name: ok, cron: "@daily", source: {url: {url: "%[1]s/ids.csv?token=s3cret"}}}
  - {name: big, cron: "@daily", source: {url: {url: "%[1]s/big", max_bytes: 64}}}
  - {name: stream, cron: "@daily", source: {url: {url: "%[1]s/stream", max_bytes: 64}}}
  - {name: missing, cron: "@daily", source: {url: {url: "%[1]s/missing"}}}
  - {name: redirect, cron: "@daily", source: {url: {url: "%[1]s/redirect"}}}
  - {name: slow, cron: "@daily", source: {url: {url: "%[1]s/slow", timeout: 200ms}}}
`, ts.URL))
	s, reg := h.scheduler(cfg, func(o *schedule.Options) { o.HTTPClient = ts.Client() })
	ctx := context.Background()

	camp, err := s.Fire(ctx, "ok", fireTime)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{10, 11, 12}, h.assetIDs(camp.ID)); diff != "" {
		t.Errorf("assets (-want +got):\n%s", diff)
	}
	if strings.Contains(camp.Source, "s3cret") || !strings.Contains(camp.Source, ts.URL+"/ids.csv") {
		t.Errorf("campaign source %q: want the URL without its query", camp.Source)
	}

	for _, tc := range []struct {
		name string
		want string
		is   error
	}{
		{"big", "Content-Length", schedule.ErrTooLarge},
		{"stream", "limit 64 bytes", schedule.ErrTooLarge},
		{"missing", "HTTP 404", nil},
		{"redirect", "refusing redirect", nil},
		{"slow", "deadline exceeded", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			camp, err := s.Fire(ctx, tc.name, fireTime)
			if err == nil || camp != nil {
				t.Fatalf("Fire: campaign %v, error %v; want no campaign and an error", camp, err)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q: want it to contain %q (and wrap %v)", err, tc.want, tc.is)
			}
			if n := fires(t, reg, tc.name, schedule.ResultError); n != 1 {
				t.Errorf("fires{result=error} = %d, want 1", n)
			}
		})
	}
	if n := len(h.campaigns()); n != 1 {
		t.Errorf("%d campaigns, want only the one of schedule ok", n)
	}
	st, err := schedule.List(ctx, h.store, cfg, fireTime)
	if err != nil {
		t.Fatal(err)
	}
	if st[1].LastError == "" || st[1].LastCampaign != "" || st[1].LastResult != schedule.ResultError {
		t.Errorf("status of big: %+v, want the error recorded and no campaign", st[1])
	}
}

// TestURLInsecureLoopback: plain http works for loopback hosts only when
// the options allow it.
func TestURLInsecureLoopback(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "7\n8\n") }))
	t.Cleanup(ts.Close)
	h := newHarness(t)
	cfg := h.config(fmt.Sprintf("schedules:\n  - {name: local, cron: \"@daily\", source: {url: {url: %q}}}\n", ts.URL))
	s, _ := h.scheduler(cfg, func(o *schedule.Options) { o.AllowInsecureHTTP = true; o.HTTPClient = ts.Client() })
	camp, err := s.Fire(context.Background(), "local", fireTime)
	if err != nil {
		t.Fatal(err)
	}
	if camp.Total != 2 {
		t.Errorf("campaign has %d assets, want 2", camp.Total)
	}
}
