package client

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNarrowing is the table of the "does this query narrow?" rule: every
// filter parameter, and the values that look like a filter but select
// every asset.
func TestNarrowing(t *testing.T) {
	for _, tc := range []struct {
		query string // URL query syntax
		want  []string
		err   string // substring of the error; "" = no error
		bulk  bool   // judged as PATCH /v1/asset/labels filters (BulkNarrowing)
	}{
		// Narrowing filters, one by one.
		{query: "labels=stale", want: []string{"labels"}},
		{query: "labels=a,b", want: []string{"labels"}},
		{query: "host=a.example.com", want: []string{"host"}},
		{query: "domain=example.com", want: []string{"domain"}},
		{query: "search=login", want: []string{"search"}},
		{query: "ip=10.0.0.1", want: []string{"ip"}},
		{query: "port=443", want: []string{"port"}},
		{query: "port=0", want: []string{"port"}}, // port 0 is a value, not "no filter"
		{query: "cname=cdn.example.net", want: []string{"cname"}},
		{query: "technologies=nginx", want: []string{"technologies"}},
		{query: "title=Login", want: []string{"title"}},
		{query: "status_code=200", want: []string{"status_code"}},
		{query: "content_length=512", want: []string{"content_length"}},
		{query: "favicon=abc", want: []string{"favicon"}},
		{query: "enumeration_ids=e1,e2", want: []string{"enumeration_ids"}, bulk: true},
		{query: "not_seen_for_days=1", want: []string{"not_seen_for_days"}},
		{query: "not_seen_for_days=30", want: []string{"not_seen_for_days"}},
		{query: "time=last_day", want: []string{"time"}},
		{query: "time=last_12_months", want: []string{"time"}},
		{query: "start_date=2026-01-01", want: []string{"start_date"}, bulk: true},
		{query: "end_date=2026-12-31", want: []string{"end_date"}, bulk: true},
		{query: "domain=corp.internal", want: []string{"domain"}},
		{query: "domain=example.com,example.org", want: []string{"domain"}},
		{query: "search=https://login", want: []string{"search"}},
		{query: "search=api", want: []string{"search"}},
		{query: "host=a.example.com,b.example.com", want: []string{"host"}},
		{query: "labels=x&is_internal=false&sort_asc=name", want: []string{"labels"}},
		{query: "host=a&labels=x", want: []string{"host", "labels"}},

		// Narrow nothing: booleans, sorting, paging, empty and blank values.
		{query: ""},
		{query: "is_internal=false"},
		{query: "is_internal=true"},
		{query: "is_new=true"},
		{query: "only_dns=true"},
		{query: "only_ip=true"},
		{query: "is_tech=true&is_favicon=true&is_screenshot=true"},
		{query: "sort_asc=created_at&sort_desc=name"},
		{query: "offset=100&limit=10"},
		{query: "time=all_time"},
		{query: "time=+all_time+"},
		{query: "time="},
		{query: "host=+"},
		{query: "host=%09%0A"},
		{query: "labels="},
		{query: "labels=+,+,"}, // an array of blanks
		{query: "domain=,"},
		{query: "search=+++"},
		{query: "not_seen_for_days=0"},
		{query: "not_seen_for_days="},
		{query: "custom_filter="},
		{query: "custom_filter=+++"},        // whitespace only
		{query: "custom_filter=%2520%2520"}, // encoded whitespace only
		{query: "start_date=&end_date=+", bulk: true},
		// custom_filter's syntax is not specified: what it selects cannot
		// be judged (nor applied by the fake PDCP), so it never narrows.
		{query: "custom_filter=status_code%253D200"},
		{query: "custom_filter=%2500"},

		// Narrow nothing: a value that matches (nearly) everything.
		{query: "search=."},
		{query: "search=%25"},
		{query: "search=*"},
		{query: "search=-"},
		{query: "search=/"},
		{query: "search=HTTPS://"},
		{query: "search=https://"},
		{query: "search=https://a"},
		{query: "search=io"},                   // fewer than MinSearchAlnum letters or digits
		{query: "search=.com"},                 // a top-level-domain suffix
		{query: "search=%E2%80%8Bab%E2%80%8B"}, // zero-width spaces around 2 letters
		{query: "domain=com,+org,+internal"},
		{query: "domain=com"},
		{query: "domain=*.org"},
		{query: "domain=example.com,com"}, // one catch-all item widens the list
		{query: "host=*"},
		{query: "host=%25"},
		{query: "host=*.example.com"},
		{query: "host=%E2%80%8B"}, // a zero-width space
		{query: "host=%EF%BB%BF"}, // a byte-order mark
		{query: "status_code=*"},
		{query: "port=*"},
		{query: "labels=*"},
		{query: "ip=."},
		{query: "title=%E2%80%8B,-"},
		{query: "time=all_time&search=.&domain=com"},
		{query: "labels=x&search=.", want: []string{"labels"}}, // another filter still narrows
		{query: "time=all_time&host=+&is_internal=false"},      // the delete-all query

		// Errors: never a filter silently dropped.
		{query: "lables=x", err: `unknown asset filter "lables"`},
		{query: "labels=x&team=t", err: `unknown asset filter "team"`},
		{query: "labels=a&labels=b", err: "given 2 times"},
		{query: "not_seen_for_days=-1", err: "not_seen_for_days"},
		{query: "not_seen_for_days=ten", err: "whole number"},
		{query: "time=yesterday", err: "last_day"},
		{query: "start_date=01/02/2026", err: "YYYY-MM-DD", bulk: true},
		// The listing does not take the bulk filters: it would ignore them.
		{query: "start_date=2026-01-01", err: "not a parameter of the asset listing"},
		{query: "end_date=2026-12-31&labels=x", err: "not a parameter of the asset listing"},
		{query: "enumeration_ids=e1", err: "not a parameter of the asset listing"},
		{query: "is_internal=maybe", err: "true or false"},
		{query: "custom_filter=%25zz", err: "URL-encoded"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			narrowing := Narrowing
			if tc.bulk {
				narrowing = BulkNarrowing
			}
			got, err := narrowing(q)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Narrowing(%s) = %v, %v; want an error containing %q", tc.query, got, err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatalf("Narrowing(%s): %v", tc.query, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Narrowing(%s) (-want +got):\n%s", tc.query, diff)
			}
		})
	}
}

// TestNarrowingKnowsTheSpec: every query parameter of GET
// /v1/asset/enumerate/contents and every property of AssetFilters in the
// PDCP OpenAPI document is classified, and nothing else is.
func TestNarrowingKnowsTheSpec(t *testing.T) {
	doc, _ := loadSpec(t)
	spec := map[string]bool{}
	list := doc.Paths.Find("/v1/asset/enumerate/contents")
	if list == nil || list.Get == nil {
		t.Fatal("spec has no GET /v1/asset/enumerate/contents")
	}
	for _, p := range list.Get.Parameters {
		if p.Value.In == "query" {
			spec[p.Value.Name] = true
		}
	}
	filters := doc.Components.Schemas["AssetFilters"]
	if filters == nil {
		t.Fatal("spec has no AssetFilters schema")
	}
	for name := range filters.Value.Properties {
		spec[name] = true
	}
	var missing, extra []string
	for name := range spec {
		if _, ok := filterParams[name]; !ok {
			missing = append(missing, name)
		}
	}
	for name := range filterParams {
		if !spec[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("filter parameters not classified: %v; classified but not in the spec: %v", missing, extra)
	}
}
