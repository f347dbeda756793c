package client

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// filterKind says how a filter parameter affects which assets a query
// selects.
type filterKind int

const (
	// kindMatch is a string or comma-separated list matched against an
	// asset attribute: it narrows when one item is not blank.
	kindMatch filterKind = iota
	// kindBool selects a broad class of assets (internal hosts, new
	// content, DNS records only, ...): alone it narrows nothing anyone
	// chose asset by asset, so it never counts as narrowing.
	kindBool
	// kindDays is not_seen_for_days: an integer that narrows when >= 1.
	kindDays
	// kindTime is the time range: it narrows unless it is all_time.
	kindTime
	// kindDate is start_date or end_date (YYYY-MM-DD).
	kindDate
	// kindCustom is custom_filter, URL-encoded once: it narrows when its
	// decoded text is not blank.
	kindCustom
	// kindOrder sorts or pages (sort_asc, sort_desc, offset, limit): it
	// never changes which assets match.
	kindOrder
)

// filterParams classifies every query parameter of GET
// /v1/asset/enumerate/contents and every property of AssetFilters (the
// filters of PATCH /v1/asset/labels) in the PDCP OpenAPI document. A key
// missing here is refused by Narrowing: PDCP may ignore a parameter it
// does not know, and an ignored filter selects every asset.
var filterParams = map[string]filterKind{
	"labels": kindMatch, "host": kindMatch, "domain": kindMatch, "search": kindMatch,
	"ip": kindMatch, "port": kindMatch, "cname": kindMatch, "technologies": kindMatch,
	"title": kindMatch, "status_code": kindMatch, "content_length": kindMatch,
	"favicon": kindMatch, "enumeration_ids": kindMatch,

	"is_internal": kindBool, "is_new": kindBool, "only_dns": kindBool, "only_ip": kindBool,
	"is_tech": kindBool, "is_favicon": kindBool, "is_screenshot": kindBool,

	"not_seen_for_days": kindDays,
	"time":              kindTime,
	"start_date":        kindDate,
	"end_date":          kindDate,
	"custom_filter":     kindCustom,

	"sort_asc": kindOrder, "sort_desc": kindOrder, "offset": kindOrder, "limit": kindOrder,
}

// Narrowing returns, sorted, the keys of q that restrict the assets a
// PDCP listing or bulk filter selects by an asset attribute. A query for
// which it returns no key selects every asset of the team: callers that
// act on the result (a scheduled delete-all) refuse it unless told that
// "every asset" is meant.
//
// It is the one place of this rule, shared by the schedules' pdcp_query
// and the command line. Values are judged trimmed, and a comma-separated
// value by its non-blank items, so " ", "," and "0" days narrow nothing;
// booleans (is_internal, is_new, only_dns, only_ip, ...), sorting, paging
// and time=all_time never narrow. An unknown key, a key given twice, or a
// malformed value (days that are not an integer >= 0, an unknown time
// range, a date that is not YYYY-MM-DD, a boolean that is not true or
// false, a custom_filter that does not URL-decode) is an error naming the
// key, never a filter silently dropped.
func Narrowing(q url.Values) ([]string, error) {
	var out []string
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	}) {
		vals := q[key]
		kind, known := filterParams[key]
		if !known {
			return nil, fmt.Errorf("unknown asset filter %q (known: %s)", key, strings.Join(FilterParams(), ", "))
		}
		if len(vals) > 1 {
			return nil, fmt.Errorf("asset filter %q given %d times: give it once (a comma-separated list where it takes one)", key, len(vals))
		}
		v := ""
		if len(vals) == 1 {
			v = strings.TrimSpace(vals[0])
		}
		narrows, err := kind.narrows(v)
		if err != nil {
			return nil, fmt.Errorf("asset filter %s=%q: %w", key, v, err)
		}
		if narrows {
			out = append(out, key)
		}
	}
	return out, nil
}

// FilterParams returns the filter parameters Narrowing knows, sorted.
func FilterParams() []string {
	keys := make([]string, 0, len(filterParams))
	for k := range filterParams {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// narrows judges one trimmed value of a parameter of kind k.
func (k filterKind) narrows(v string) (bool, error) {
	switch k {
	case kindMatch:
		return slices.ContainsFunc(strings.Split(v, ","), func(item string) bool { return strings.TrimSpace(item) != "" }), nil
	case kindBool:
		if v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				return false, fmt.Errorf("want true or false")
			}
		}
		return false, nil
	case kindDays:
		if v == "" {
			return false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return false, fmt.Errorf("want a whole number of days >= 1 (0 = no filter)")
		}
		return n >= 1, nil
	case kindTime:
		switch TimeRange(v) {
		case "", TimeAll:
			return false, nil
		case TimeLastDay, TimeLastWeek, TimeLastMonth, TimeLast3Months, TimeLast6Months, TimeLast12Months:
			return true, nil
		}
		return false, fmt.Errorf("want one of last_day, last_week, last_month, last_3_months, last_6_months, last_12_months, all_time")
	case kindDate:
		if v == "" {
			return false, nil
		}
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return false, fmt.Errorf("want a date YYYY-MM-DD")
		}
		return true, nil
	case kindCustom:
		d, err := url.QueryUnescape(v)
		if err != nil {
			return false, fmt.Errorf("want it URL-encoded once: %w", err)
		}
		return strings.TrimSpace(d) != "", nil
	}
	return false, nil // kindOrder
}
