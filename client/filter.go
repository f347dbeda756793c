package client

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// filterKind says how a filter parameter affects which assets a query
// selects.
type filterKind int

const (
	// kindMatch is a string or comma-separated list matched against an
	// asset attribute: it narrows when every non-blank item holds a
	// letter or digit.
	kindMatch filterKind = iota
	// kindSearch is search, a substring of the asset name: kindMatch,
	// and MinSearchAlnum letters or digits besides a URL scheme, and not
	// a bare top-level-domain suffix.
	kindSearch
	// kindDomain is domain, matched as a suffix: kindMatch, and two
	// labels at least.
	kindDomain
	// kindHost is host, an exact host name: kindMatch, and no wildcard.
	kindHost
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
	// kindCustom is custom_filter, URL-encoded once: validated, never
	// narrowing (its syntax is not specified).
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
	"labels": kindMatch, "host": kindHost, "domain": kindDomain, "search": kindSearch,
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

// bulkOnly are the AssetFilters properties (PATCH /v1/asset/labels) that
// are no query parameter of the listing: sent to the listing they would
// be ignored, and an ignored filter selects every asset.
var bulkOnly = map[string]bool{"start_date": true, "end_date": true, "enumeration_ids": true}

// MinSearchAlnum is the fewest letters and digits (after a leading URL
// scheme is removed) a search value needs to count as narrowing: search
// is a substring of the asset name, and "a", "io" or "443" occur in most
// names.
const MinSearchAlnum = 3

// Narrowing returns, sorted, the keys of q, query parameters of the
// listing GET /v1/asset/enumerate/contents, that restrict the assets the
// listing selects by an asset attribute. A query for which it returns no
// key selects every asset of the team (or nearly): callers that act on
// the result (a scheduled delete-all over a pdcp_query) refuse it unless
// told that "every asset" is meant.
//
// Values are judged trimmed, and a comma-separated value by its non-blank
// items; a list narrows only when every item does (the items are
// alternatives, so one catch-all item selects everything). An item
// narrows when it holds a letter or digit (".", "*", "%", "-" and
// invisible characters such as a zero-width space do not), and further:
// a search needs MinSearchAlnum letters or digits besides a URL scheme
// ("https://" alone matches every asset name) and is not a bare suffix
// such as ".com"; a domain needs at least two labels ("com" or "*.org"
// is a whole top-level domain); a host holds no wildcard character.
// Booleans (is_internal, is_new, only_dns, only_ip, ...), sorting,
// paging, time=all_time and custom_filter never narrow: custom_filter's
// syntax is not specified, so nothing, the fake PDCP included, can show
// what it selects.
//
// An unknown key, a key of the bulk filters only (start_date, end_date,
// enumeration_ids: the listing does not take them), a key given twice, or
// a malformed value (days that are not an integer >= 0, an unknown time
// range, a boolean that is not true or false, a custom_filter that does
// not URL-decode) is an error naming the key, never a filter silently
// dropped.
func Narrowing(q url.Values) ([]string, error) {
	for _, key := range sortedKeys(q) {
		if bulkOnly[key] {
			return nil, fmt.Errorf("asset filter %q is not a parameter of the asset listing (GET /v1/asset/enumerate/contents), which would ignore it and select every asset", key)
		}
	}
	keys, _, err := narrowing(q)
	return keys, err
}

// BulkNarrowing is Narrowing for the filters of PATCH /v1/asset/labels
// (AssetFilters), which also take start_date, end_date (YYYY-MM-DD) and
// enumeration_ids. BulkUpdateLabels applies it to every filter at send
// time, and ExpressFilters when it builds one: the one rule schedules and
// the bulk call share, so that no caller can send filters that select
// every asset of the team.
func BulkNarrowing(q url.Values) ([]string, error) {
	keys, _, err := narrowing(q)
	return keys, err
}

// WideValues returns, sorted by key, "key=value: why" for each filter of
// q that has a value but narrows nothing by the rule of Narrowing, for
// messages that explain a refusal. Malformed values are left out.
func WideValues(q url.Values) []string {
	_, wide, _ := narrowing(q)
	return wide
}

func sortedKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// narrowing applies the rule of Narrowing to every key of q: the keys that
// narrow, and a note for each given value that does not.
func narrowing(q url.Values) (keys, wide []string, err error) {
	for _, key := range sortedKeys(q) {
		vals := q[key]
		kind, known := filterParams[key]
		if !known {
			return nil, nil, fmt.Errorf("unknown asset filter %q (known: %s)", key, strings.Join(FilterParams(), ", "))
		}
		if len(vals) > 1 {
			return nil, nil, fmt.Errorf("asset filter %q given %d times: give it once (a comma-separated list where it takes one)", key, len(vals))
		}
		v := ""
		if len(vals) == 1 {
			v = strings.TrimSpace(vals[0])
		}
		why, err := kind.narrows(v)
		if err != nil {
			return nil, nil, fmt.Errorf("asset filter %s=%q: %w", key, v, err)
		}
		switch {
		case why == "":
			keys = append(keys, key)
		case v != "" && kind != kindOrder:
			wide = append(wide, fmt.Sprintf("%s=%q: %s", key, v, why))
		}
	}
	return keys, wide, nil
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

// visible drops the characters a reader cannot see or that separate
// nothing: Unicode spaces, format characters (zero-width space, BOM,
// direction marks) and control characters.
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}

func alnumCount(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// withoutScheme removes a leading URL scheme ("https://").
func withoutScheme(s string) string {
	if i := strings.Index(s, "://"); i > 0 && !strings.ContainsFunc(s[:i], func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
	}) {
		return s[i+3:]
	}
	return s
}

// itemWide says why one visible, non-empty item of a filter of kind k
// selects (nearly) every asset, or "" when it narrows.
func (k filterKind) itemWide(item string) string {
	if alnumCount(item) == 0 {
		return "no letter or digit: matches everything"
	}
	switch k {
	case kindSearch:
		rest := withoutScheme(item)
		if alnumCount(rest) < MinSearchAlnum {
			return fmt.Sprintf("a search needs at least %d letters or digits besides a URL scheme", MinSearchAlnum)
		}
		if t := strings.Trim(rest, "."); strings.HasPrefix(rest, ".") && !strings.Contains(t, ".") {
			return "a top-level domain suffix matches every asset under it"
		}
	case kindDomain:
		if labels := strings.FieldsFunc(withoutScheme(item), func(r rune) bool {
			return r == '.' || r == '*' || r == '%' || r == '?'
		}); len(labels) < 2 {
			return "a single label (a top-level domain such as com) holds every asset under it"
		}
	case kindHost:
		if strings.ContainsAny(item, "*%?") {
			return "a wildcard host is not an exact host name"
		}
	}
	return ""
}

// narrows judges one trimmed value of a parameter of kind k: "" when it
// narrows, else why it does not.
func (k filterKind) narrows(v string) (string, error) {
	const blank = "blank"
	switch k {
	case kindMatch, kindSearch, kindDomain, kindHost:
		why := blank
		for _, item := range strings.Split(v, ",") {
			item = visible(item)
			if item == "" {
				continue
			}
			if w := k.itemWide(item); w != "" {
				return fmt.Sprintf("%q: %s", item, w), nil
			}
			why = ""
		}
		return why, nil
	case kindBool:
		if v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				return "", fmt.Errorf("want true or false")
			}
		}
		return "a boolean selects a class of assets, not assets by an attribute", nil
	case kindDays:
		if v == "" {
			return blank, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return "", fmt.Errorf("want a whole number of days >= 1 (0 = no filter)")
		}
		if n == 0 {
			return "0 is no filter", nil
		}
		return "", nil
	case kindTime:
		switch TimeRange(v) {
		case "":
			return blank, nil
		case TimeAll:
			return "all_time is every asset", nil
		case TimeLastDay, TimeLastWeek, TimeLastMonth, TimeLast3Months, TimeLast6Months, TimeLast12Months:
			return "", nil
		}
		return "", fmt.Errorf("want one of last_day, last_week, last_month, last_3_months, last_6_months, last_12_months, all_time")
	case kindDate:
		if v == "" {
			return blank, nil
		}
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return "", fmt.Errorf("want a date YYYY-MM-DD")
		}
		return "", nil
	case kindCustom:
		if _, err := url.QueryUnescape(v); err != nil {
			return "", fmt.Errorf("want it URL-encoded once: %w", err)
		}
		return "custom_filter's syntax is not specified: what it selects cannot be judged", nil
	}
	return "sorting and paging select nothing", nil // kindOrder
}
