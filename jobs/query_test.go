package jobs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs"
)

// TestParseQuery: values are trimmed and lists lose their blank items
// before the narrowing rule judges them; paging, unknown, repeated and
// malformed keys are refused by name, and so is a query that narrows
// nothing unless selectAll.
func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		selectAll   bool
		want        string // encoded result; "" with wantErr
		wantErr     string
		wide        bool
	}{
		{name: "narrow", query: "labels=stale&not_seen_for_days=30", want: "labels=stale&not_seen_for_days=30"},
		{name: "trimmed lists", query: "labels=+a+,,b,&host=+x.example.com+&search=+abc+", want: "host=x.example.com&labels=a%2Cb&search=abc"},
		{name: "blank key dropped", query: "labels=stale&domain=+", want: "labels=stale"},
		{name: "sorting kept", query: "labels=x&sort_asc=name", want: "labels=x&sort_asc=name"},
		{name: "offset", query: "labels=x&offset=5", wantErr: `"offset"`},
		{name: "limit", query: "labels=x&limit=5", wantErr: `"limit"`},
		{name: "unknown", query: "lables=x", wantErr: `unknown asset filter "lables"`},
		{name: "unknown blank", query: "labels=x&lables=", wantErr: `unknown asset filter "lables"`},
		{name: "duplicate", query: "labels=x&labels=y", wantErr: `"labels" given 2 times`},
		{name: "malformed days", query: "not_seen_for_days=soon", wantErr: "not_seen_for_days"},
		{name: "malformed encoding", query: "labels=%zz", wantErr: "invalid URL escape"},
		{name: "bulk only", query: "labels=x&start_date=2026-01-01", wantErr: `"start_date" is not a parameter of the asset listing`},
		{name: "wide", query: "is_internal=true&time=all_time", wantErr: "narrows nothing", wide: true},
		{name: "empty", query: "", wantErr: "query {} narrows nothing", wide: true},
		{name: "catch-all", query: "labels=*", wantErr: "narrows nothing", wide: true},
		{name: "wide with select all", query: "is_internal=true", selectAll: true, want: "is_internal=true"},
		{name: "too long", query: "labels=" + strings.Repeat("a", jobs.MaxQueryLen), wantErr: "want at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := jobs.ParseQuery(tc.query, tc.selectAll)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseQuery(%q): %v, want an error containing %q", tc.query, err, tc.wantErr)
				}
				if got := errors.Is(err, jobs.ErrWideQuery); got != tc.wide {
					t.Errorf("errors.Is(%v, ErrWideQuery) = %t, want %t", err, got, tc.wide)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tc.query, err)
			}
			if got := q.Encode(); got != tc.want {
				t.Errorf("ParseQuery(%q) = %q, want %q", tc.query, got, tc.want)
			}
		})
	}
}

// TestCampaignQueryDropsSorting: sorting selects nothing, so the stored
// query leaves it out.
func TestCampaignQueryDropsSorting(t *testing.T) {
	q, err := jobs.ParseQuery("labels=x&sort_asc=name&sort_desc=id", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := jobs.CampaignQuery(q); got != "labels=x" {
		t.Errorf("CampaignQuery = %q, want %q", got, "labels=x")
	}
}
