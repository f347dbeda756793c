package pdcpfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// allLabels is every asset's labels.
func allLabels(f *Fake) map[int64][]string {
	out := map[int64][]string{}
	for _, id := range f.AssetIDs() {
		out[id], _ = f.Labels(id)
	}
	return out
}

// withLabel returns the assets carrying label, ascending.
func withLabel(f *Fake, label string) []int64 {
	var out []int64
	for _, id := range f.AssetIDs() {
		if l, _ := f.Labels(id); slices.Contains(l, label) {
			out = append(out, id)
		}
	}
	return out
}

// listedIDs lists query in full and returns the IDs.
func listedIDs(t *testing.T, s *Server, query string) []int64 {
	t.Helper()
	st, p := list(t, s, query+"&limit=1000")
	if st != 200 {
		t.Fatalf("listing %s: %d", query, st)
	}
	var out []int64
	for _, it := range p.Data {
		out = append(out, it.ID)
	}
	return out
}

type bulkAnswer struct {
	Message    *string `json:"message"`
	AssetCount *int64  `json:"asset_count"`
	Async      *bool   `json:"async"`
}

// bulkCall sends a bulk call and decodes a 200 answer, which must be a
// complete AssetCountResponse.
func bulkCall(t *testing.T, s *Server, updateType, body string, hdr ...string) (int, int64, bool, http.Header) {
	t.Helper()
	path := "/v1/asset/labels"
	if updateType != "" {
		path += "?update_type=" + updateType
	}
	st, resp, h := call(t, s, "PATCH", path, body, hdr...)
	if st != 200 {
		return st, -1, false, h
	}
	var a bulkAnswer
	if err := json.Unmarshal([]byte(resp), &a); err != nil || a.Message == nil || a.AssetCount == nil || a.Async == nil {
		t.Fatalf("200 answer %s is no AssetCountResponse (%v)", resp, err)
	}
	return st, *a.AssetCount, *a.Async, h
}

// eventually waits up to 5s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestBulkChecksTheSpec: the body is checked as the spec types it
// (AssetFilters has additionalProperties: false), and a refused call
// changes nothing.
func TestBulkChecksTheSpec(t *testing.T) {
	s := NewServer(Options{Assets: 50, Seed: 2})
	defer s.Close()
	f := s.Fake()
	before := allLabels(f)
	for _, tc := range []struct {
		name, ut, body string
		status         int
	}{
		{"unknown property", "delete", `{"filters":{"bogus":"x"},"labels":["a"]}`, 400},
		{"is_internal is a listing parameter only", "delete", `{"filters":{"labels":"critical","is_internal":true},"labels":["a"]}`, 400},
		{"favicon is a listing parameter only", "delete", `{"filters":{"favicon":"1000003"},"labels":["a"]}`, 400},
		{"sorting is a listing parameter only", "delete", `{"filters":{"labels":"critical","sort_asc":"created_at"},"labels":["a"]}`, 400},
		{"string as a number", "delete", `{"filters":{"port":443},"labels":["a"]}`, 400},
		{"string as null", "delete", `{"filters":{"labels":null},"labels":["a"]}`, 400},
		{"string as an array", "delete", `{"filters":{"labels":["critical"]},"labels":["a"]}`, 400},
		{"domain as a string", "delete", `{"filters":{"domain":"example.com"},"labels":["a"]}`, 400},
		{"domain of numbers", "delete", `{"filters":{"domain":[1]},"labels":["a"]}`, 400},
		{"boolean as a string", "delete", `{"filters":{"labels":"critical","is_new":"false"},"labels":["a"]}`, 400},
		{"boolean as null", "delete", `{"filters":{"labels":"critical","only_dns":null},"labels":["a"]}`, 400},
		{"boolean as a number", "delete", `{"filters":{"labels":"critical","is_tech":1},"labels":["a"]}`, 400},
		{"days as a string", "delete", `{"filters":{"not_seen_for_days":"30"},"labels":["a"]}`, 400},
		{"days 0", "delete", `{"filters":{"not_seen_for_days":0},"labels":["a"]}`, 400},
		{"days negative", "delete", `{"filters":{"not_seen_for_days":-5},"labels":["a"]}`, 400},
		{"days fractional", "delete", `{"filters":{"not_seen_for_days":1.5},"labels":["a"]}`, 400},
		{"time not in the enum", "delete", `{"filters":{"time":"forever"},"labels":["a"]}`, 400},
		{"time as a number", "delete", `{"filters":{"time":7},"labels":["a"]}`, 400},
		{"date not YYYY-MM-DD", "delete", `{"filters":{"start_date":"01/02/2026"},"labels":["a"]}`, 400},
		{"date as a number", "delete", `{"filters":{"end_date":20260102},"labels":["a"]}`, 400},
		{"enumeration_ids as a string", "delete", `{"filters":{"enumeration_ids":"enum-1"},"labels":["a"]}`, 400},
		{"custom_filter as an object", "delete", `{"filters":{"custom_filter":{}},"labels":["a"]}`, 400},
		{"filters missing", "delete", `{"labels":["a"]}`, 400},
		{"filters null", "delete", `{"filters":null,"labels":["a"]}`, 400},
		{"filters an array", "delete", `{"filters":[],"labels":["a"]}`, 400},
		{"labels missing", "delete", `{"filters":{"labels":"critical"}}`, 400},
		{"labels null", "delete", `{"filters":{"labels":"critical"},"labels":null}`, 400},
		{"labels a string", "delete", `{"filters":{"labels":"critical"},"labels":"critical"}`, 400},
		{"labels of numbers", "delete", `{"filters":{"labels":"critical"},"labels":[1]}`, 400},
		{"not JSON", "delete", `filters=labels`, 400},
		{"update_type not in the enum", "remove", `{"filters":{"labels":"critical"},"labels":["critical"]}`, 400},
		// Accepted, each type right; labels "nothing" is on no asset.
		{"every property typed", "delete", `{"filters":{"labels":"nothing","host":"h","port":"443","status_code":"200","content_length":"512",
			"title":"t","domain":["example.com"],"cname":"c","technologies":"nginx","ip":"10.0.0.1","is_screenshot":false,"time":"all_time",
			"start_date":"2020-01-01","end_date":"2030-01-01","custom_filter":"a%253Db","search":"asset","enumeration_ids":["enum-1"],
			"only_dns":false,"only_ip":false,"not_seen_for_days":1,"is_tech":true,"is_favicon":true,"is_new":false},"labels":["critical"]}`, 200},
		{"an integral float is an integer", "delete", `{"filters":{"labels":"nothing","not_seen_for_days":30.0},"labels":["critical"]}`, 200},
		{"extra top-level fields are allowed", "delete", `{"filters":{"labels":"nothing"},"labels":["critical"],"note":"x"}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body, _ := call(t, s, "PATCH", "/v1/asset/labels?update_type="+tc.ut, tc.body)
			if st != tc.status {
				t.Fatalf("got %d %s, want %d", st, body, tc.status)
			}
			if st == 400 && !strings.Contains(body, `"message"`) {
				t.Errorf("400 without an ErrorResponse: %s", body)
			}
		})
	}
	if diff := cmp.Diff(before, allLabels(f)); diff != "" {
		t.Errorf("refused or empty bulk calls changed labels (-before +after):\n%s", diff)
	}
}

// TestBulkFiltersAsListing: a bulk call changes exactly the assets the
// listing lists for the same filters, and answers their count.
func TestBulkFiltersAsListing(t *testing.T) {
	for _, tc := range []struct {
		listing, filters string
	}{
		{"labels=critical", `{"labels":"critical"}`},
		{"labels=critical,pci&not_seen_for_days=30", `{"labels":"critical,pci","not_seen_for_days":30}`},
		{"domain=example.org&time=last_6_months", `{"domain":["example.org"],"time":"last_6_months"}`},
		{"domain=example.org,corp.internal", `{"domain":["example.org","corp.internal"]}`},
		{"search=asset-1&technologies=nginx&port=443", `{"search":"asset-1","technologies":"nginx","port":"443"}`},
		{"status_code=404&content_length=519,529", `{"status_code":"404","content_length":"519,529"}`},
		{"cname=cdn-3.example.net", `{"cname":"cdn-3.example.net"}`},
		{"title=Asset 12&ip=198.18.0.12", `{"title":"Asset 12","ip":"198.18.0.12"}`},
		{"host=asset-7.example.org", `{"host":"asset-7.example.org"}`},
		{"labels=stale&is_tech=true&is_favicon=true&is_new=false&is_screenshot=false&only_dns=true&only_ip=false",
			`{"labels":"stale","is_tech":true,"is_favicon":true,"is_new":false,"is_screenshot":false,"only_dns":true,"only_ip":false}`},
		{"labels=stale&is_new=true", `{"labels":"stale","is_new":true}`},
		{"labels=stale&only_ip=true", `{"labels":"stale","only_ip":true}`},
		{"labels=stale&is_tech=false", `{"labels":"stale","is_tech":false}`},
		{"labels=stale&custom_filter=x", `{"labels":"stale","custom_filter":"x"}`},
	} {
		t.Run(tc.listing, func(t *testing.T) {
			s := NewServer(Options{Assets: 300, Seed: 11})
			defer s.Close()
			f := s.Fake()
			want := listedIDs(t, s, strings.ReplaceAll(tc.listing, " ", "+"))
			st, count, async, _ := bulkCall(t, s, "append", `{"filters":`+tc.filters+`,"labels":["marked"]}`)
			if st != 200 || async || count != int64(len(want)) {
				t.Fatalf("got %d count %d async %v, want 200 count %d (listed) async false", st, count, async, len(want))
			}
			if diff := cmp.Diff(want, withLabel(f, "marked")); diff != "" {
				t.Errorf("changed assets differ from the listed ones (-listed +changed):\n%s", diff)
			}
		})
	}
}

// TestBulkBulkOnlyFilters: start_date, end_date and enumeration_ids, which
// the listing does not take, select by creation date and enumeration.
func TestBulkBulkOnlyFilters(t *testing.T) {
	s := NewServer(Options{Assets: 200, Seed: 4})
	defer s.Close()
	f := s.Fake()
	_, p := list(t, s, "limit=1000")
	from := f.epoch.AddDate(0, 0, -100).Format(time.DateOnly)
	to := f.epoch.AddDate(0, 0, -30).Format(time.DateOnly)
	var want []int64
	for _, it := range p.Data {
		day := it.CreatedAt[:len(time.DateOnly)]
		if day >= from && day <= to && (it.EnumerationID == "enum-3" || it.EnumerationID == "enum-4") {
			want = append(want, it.ID)
		}
	}
	if len(want) == 0 {
		t.Fatal("no asset in the range: the test selects nothing")
	}
	st, count, _, _ := bulkCall(t, s, "append", `{"filters":{"start_date":"`+from+`","end_date":"`+to+`","enumeration_ids":["enum-3","enum-4"]},"labels":["marked"]}`)
	if st != 200 || count != int64(len(want)) {
		t.Fatalf("got %d count %d, want 200 count %d", st, count, len(want))
	}
	if diff := cmp.Diff(want, withLabel(f, "marked")); diff != "" {
		t.Errorf("changed assets (-want +got):\n%s", diff)
	}
}

// TestBulkEmptyFiltersAndUpdateTypes: empty filters change every asset
// (the danger the client guards against); update_type defaults to append;
// replace and delete do what they say.
func TestBulkEmptyFiltersAndUpdateTypes(t *testing.T) {
	s := NewServer(Options{Assets: 40, Seed: 1})
	defer s.Close()
	f := s.Fake()
	if st, count, _, _ := bulkCall(t, s, "", `{"filters":{},"labels":["everywhere"]}`); st != 200 || count != 40 {
		t.Fatalf("empty filters: %d count %d, want 200 count 40", st, count)
	}
	if got := withLabel(f, "everywhere"); len(got) != 40 {
		t.Fatalf("empty filters appended to %d assets, want 40", len(got))
	}
	for _, id := range f.AssetIDs() {
		if l, _ := f.Labels(id); len(l) < 2 {
			t.Fatalf("asset %d: %q: the default update_type replaced instead of appending", id, l)
		}
	}
	bulkCall(t, s, "replace", `{"filters":{"labels":"critical"},"labels":["only"]}`)
	for _, id := range withLabel(f, "only") {
		if l, _ := f.Labels(id); !slices.Equal(l, []string{"only"}) {
			t.Errorf("replace: asset %d has %q, want [only]", id, l)
		}
	}
	bulkCall(t, s, "delete", `{"filters":{"labels":"everywhere"},"labels":["everywhere"]}`)
	if got := withLabel(f, "everywhere"); len(got) != 0 {
		t.Errorf("delete left the label on %v", got)
	}
}

// TestBulkAsync: above BulkAsyncAbove the call answers async and applies
// after BulkAsyncDelay, to the assets matching then; at or below it the
// call is synchronous.
func TestBulkAsync(t *testing.T) {
	s := NewServer(Options{Assets: 200, Seed: 6, BulkAsyncAbove: 10, BulkAsyncDelay: 300 * time.Millisecond})
	defer s.Close()
	f := s.Fake()
	matching := withLabel(f, "critical")
	if len(matching) <= 10 {
		t.Fatalf("%d assets with critical: the test needs more than 10", len(matching))
	}
	st, count, async, _ := bulkCall(t, s, "delete", `{"filters":{"labels":"critical"},"labels":["critical"]}`)
	if st != 200 || !async || count != int64(len(matching)) {
		t.Fatalf("got %d count %d async %v, want 200 count %d async true", st, count, async, len(matching))
	}
	if got := withLabel(f, "critical"); len(got) != len(matching) {
		t.Fatalf("async change applied at once: %d assets left with critical, want %d", len(got), len(matching))
	}
	if n := f.Stats().BulkPending; n != 1 {
		t.Errorf("BulkPending %d, want 1", n)
	}
	// An asset that starts matching before the change runs is changed
	// too; one that stops matching is not.
	var newcomer int64
	for _, id := range f.AssetIDs() {
		if !slices.Contains(matching, id) {
			newcomer = id
			break
		}
	}
	call(t, s, "POST", "/v1/asset/"+strconv.FormatInt(newcomer, 10)+"/labels", `{"labels":["critical"]}`)
	leaver := matching[0]
	call(t, s, "PATCH", "/v1/asset/"+strconv.FormatInt(leaver, 10)+"/labels?update_type=replace", `{"labels":["pci"]}`)
	eventually(t, "the async change", func() bool { return f.Stats().BulkPending == 0 })
	if got := withLabel(f, "critical"); len(got) != 0 {
		t.Errorf("after the async change %v still have critical", got)
	}
	if l, _ := f.Labels(leaver); !slices.Equal(l, []string{"pci"}) {
		t.Errorf("asset %d stopped matching before the change: %q, want [pci]", leaver, l)
	}

	// At or below the threshold: synchronous.
	st, count, async, _ = bulkCall(t, s, "append", `{"filters":{"title":"Asset 1,Asset 2"},"labels":["x"]}`)
	if st != 200 || async || count != 2 || len(withLabel(f, "x")) != 2 {
		t.Errorf("small call: %d count %d async %v, %d changed; want 200 count 2 sync, 2 changed", st, count, async, len(withLabel(f, "x")))
	}
}

// TestBulkLate: a late call answers async false and a count at once, and
// changes the assets only after BulkLateDelay.
func TestBulkLate(t *testing.T) {
	s := NewServer(Options{Assets: 100, Seed: 6, BulkLateDelay: 300 * time.Millisecond})
	defer s.Close()
	f := s.Fake()
	matching := withLabel(f, "stale")
	start := time.Now()
	st, count, async, _ := bulkCall(t, s, "delete", `{"filters":{"labels":"stale"},"labels":["stale"]}`)
	if st != 200 || async || count != int64(len(matching)) {
		t.Fatalf("got %d count %d async %v, want 200 count %d async false", st, count, async, len(matching))
	}
	if got := withLabel(f, "stale"); len(got) != len(matching) {
		t.Fatalf("late change applied at once: %d left, want %d", len(got), len(matching))
	}
	eventually(t, "the late change", func() bool { return len(withLabel(f, "stale")) == 0 })
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("applied after %v, want at least 300ms", d)
	}
}

// TestBulkSkipFraction: the call leaves the assets BulkSkipped names
// unchanged, counts them in asset_count, and the choice is the same on
// every Fake with the same seed.
func TestBulkSkipFraction(t *testing.T) {
	opts := Options{Assets: 400, Seed: 8, BulkSkipFraction: 0.3}
	s := NewServer(opts)
	defer s.Close()
	f := s.Fake()
	matching := withLabel(f, "critical")
	var skipped []int64
	for _, id := range matching {
		if f.BulkSkipped(id) {
			skipped = append(skipped, id)
		}
	}
	if len(skipped) == 0 || len(skipped) == len(matching) {
		t.Fatalf("%d of %d skipped: the test needs some of each", len(skipped), len(matching))
	}
	st, count, _, _ := bulkCall(t, s, "delete", `{"filters":{"labels":"critical"},"labels":["critical"]}`)
	if st != 200 || count != int64(len(matching)) {
		t.Fatalf("got %d count %d, want 200 count %d (skipped assets matched too)", st, count, len(matching))
	}
	if diff := cmp.Diff(skipped, withLabel(f, "critical")); diff != "" {
		t.Errorf("assets left with critical (-BulkSkipped +got):\n%s", diff)
	}
	other := New(opts)
	defer other.Close()
	for _, id := range matching {
		if other.BulkSkipped(id) != f.BulkSkipped(id) {
			t.Fatalf("asset %d: skipped differs between two Fakes of seed %d", id, opts.Seed)
		}
	}
}

// TestBulkFailStatus: every bulk call answers the status and changes
// nothing.
func TestBulkFailStatus(t *testing.T) {
	s := NewServer(Options{Assets: 30, Seed: 3, RetryAfter: "4"})
	defer s.Close()
	f := s.Fake()
	before := allLabels(f)
	for _, status := range []int{500, 503, 429, 400, 200} {
		f.Update(func(o *Options) { o.BulkFailStatus = status })
		st, body, h := call(t, s, "PATCH", "/v1/asset/labels?update_type=delete", `{"filters":{"labels":"critical"},"labels":["critical"]}`)
		if st != status {
			t.Errorf("BulkFailStatus %d: got %d %s", status, st, body)
		}
		if strings.Contains(body, "asset_count") {
			t.Errorf("BulkFailStatus %d answered %s, want no AssetCountResponse", status, body)
		}
		if status == 429 && h.Get("Retry-After") != "4" {
			t.Errorf("429 without Retry-After: %v", h)
		}
	}
	if diff := cmp.Diff(before, allLabels(f)); diff != "" {
		t.Errorf("failed bulk calls changed labels (-before +after):\n%s", diff)
	}
	f.Update(func(o *Options) { o.BulkFailStatus = 0 })
	if st, _, _, _ := bulkCall(t, s, "delete", `{"filters":{"labels":"critical"},"labels":["critical"]}`); st != 200 {
		t.Errorf("BulkFailStatus 0: got %d, want 200", st)
	}
}

// TestBulkCloseDropsPending: Close stops a change still waiting, leaves
// the labels as they were, and later bulk calls answer 503.
func TestBulkCloseDropsPending(t *testing.T) {
	s := NewServer(Options{Assets: 50, Seed: 6, BulkLateDelay: time.Hour})
	f := s.Fake()
	before := allLabels(f)
	if st, _, _, _ := bulkCall(t, s, "delete", `{"filters":{"labels":"critical"},"labels":["critical"]}`); st != 200 {
		t.Fatalf("got %d", st)
	}
	start := time.Now()
	s.Close()
	s.Close() // harmless
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v: it waited for the change instead of stopping it", d)
	}
	if n := f.Stats().BulkPending; n != 0 {
		t.Errorf("BulkPending %d after Close, want 0", n)
	}
	if diff := cmp.Diff(before, allLabels(f)); diff != "" {
		t.Errorf("a dropped change was applied (-before +after):\n%s", diff)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("PATCH", "/v1/asset/labels?update_type=delete", strings.NewReader(`{"filters":{"labels":"critical"},"labels":["critical"]}`))
	req.Header.Set("X-Api-Key", key)
	f.ServeHTTP(rec, req)
	if rec.Code != 503 {
		t.Errorf("bulk call after Close: got %d %s, want 503", rec.Code, rec.Body)
	}
}

// TestBulkLoggedAndCounted: bulk calls are in Stats and Log (not in
// Calls of any asset), with what they were sent and answered.
func TestBulkLoggedAndCounted(t *testing.T) {
	s := NewServer(Options{Assets: 60, Seed: 6, BulkAsyncAbove: 5, BulkAsyncDelay: time.Millisecond})
	defer s.Close()
	f := s.Fake()
	_, count, _, _ := bulkCall(t, s, "delete", `{"filters":{"labels":"critical"},"labels":["critical"]}`, "X-Team-Id", "team-3")
	call(t, s, "PATCH", "/v1/asset/labels", `{"filters":{"is_internal":true},"labels":["x"]}`)
	call(t, s, "DELETE", "/v1/asset/1/labels", "")
	st := f.Stats()
	if st.BulkCalls != 2 || st.LabelCalls != 1 {
		t.Errorf("stats: %d bulk calls, %d label calls; want 2, 1", st.BulkCalls, st.LabelCalls)
	}
	log := f.Log()
	if len(log) != 3 {
		t.Fatalf("log %+v, want 3 calls", log)
	}
	want := []Call{
		{Method: "PATCH", Status: 200, Team: "team-3", Bulk: true, UpdateType: "delete", AssetCount: count, Async: true},
		{Method: "PATCH", Status: 400, Bulk: true},
		{Method: "DELETE", AssetID: 1, Status: 200},
	}
	if diff := cmp.Diff(want, log, cmpIgnoreTime); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if count == 0 {
		t.Error("no asset matched: the test shows no count")
	}
	if calls := f.Calls(0); len(calls) != 0 {
		t.Errorf("Calls(0) = %+v, want no bulk call", calls)
	}
}

var cmpIgnoreTime = cmp.Transformer("noTime", func(c Call) Call { c.Time = time.Time{}; return c })

// TestBulkAdminKnobs: the bulk options change at runtime through POST
// /_fake/config, which answers them.
func TestBulkAdminKnobs(t *testing.T) {
	s := NewServer(Options{Assets: 5})
	defer s.Close()
	resp, err := http.Post(s.URL()+"/_fake/config", "application/json", strings.NewReader(
		`{"bulk_async_above":7,"bulk_async_delay_ms":250,"bulk_skip_fraction":0.25,"bulk_late_delay_ms":1500,"bulk_fail_status":502}`))
	if err != nil {
		t.Fatal(err)
	}
	var p ConfigPatch
	err = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	o := s.Fake().Options()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("config: %d %v", resp.StatusCode, err)
	}
	if o.BulkAsyncAbove != 7 || o.BulkAsyncDelay != 250*time.Millisecond || o.BulkSkipFraction != 0.25 ||
		o.BulkLateDelay != 1500*time.Millisecond || o.BulkFailStatus != 502 {
		t.Errorf("options after the patch: %+v", o)
	}
	if *p.BulkAsyncAbove != 7 || *p.BulkAsyncDelayMS != 250 || *p.BulkSkipFraction != 0.25 || *p.BulkLateDelayMS != 1500 || *p.BulkFailStatus != 502 {
		t.Errorf("answered patch: %+v", p)
	}
	if st, _, _ := call(t, s, "PATCH", "/v1/asset/labels", `{"filters":{"labels":"a"},"labels":["b"]}`); st != 502 {
		t.Errorf("bulk call after bulk_fail_status 502: got %d", st)
	}
	// 0 restores the default delay.
	s.Fake().Update(func(o *Options) { o.BulkAsyncDelay = 0 })
	if d := s.Fake().Options().BulkAsyncDelay; d != DefaultBulkAsyncDelay {
		t.Errorf("BulkAsyncDelay 0 became %v, want %v", d, DefaultBulkAsyncDelay)
	}
}

// TestListingClassBooleans: the listing applies is_tech, is_favicon,
// is_new, is_screenshot, only_dns and only_ip as the items it returns
// show them, and refuses a value that is no boolean.
func TestListingClassBooleans(t *testing.T) {
	s := NewServer(Options{Assets: 30, Seed: 1})
	defer s.Close()
	for query, want := range map[string]int{
		"is_tech=true": 30, "is_tech=false": 0, "is_favicon=true": 30, "is_favicon=false": 0,
		"is_new=true": 0, "is_new=false": 30, "is_screenshot=true": 0, "is_screenshot=false": 30,
		"only_dns=true": 30, "only_dns=false": 30, "only_ip=true": 0, "only_ip=false": 30,
	} {
		if got := len(listedIDs(t, s, query)); got != want {
			t.Errorf("%s: %d listed, want %d", query, got, want)
		}
	}
	for _, p := range []string{"is_tech", "is_favicon", "is_new", "is_screenshot", "only_dns", "only_ip"} {
		if st, _ := list(t, s, p+"=maybe"); st != 400 {
			t.Errorf("%s=maybe: got %d, want 400", p, st)
		}
	}
}
