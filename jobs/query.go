package jobs

// The one reading of a PDCP query for every producer of query-defined
// campaigns (schedules' pdcp_query, the CLI's --query, the HTTP API's
// query): the same normalisation, the same "must narrow" rule with the same
// message, and the same listing of it into a campaign's asset IDs. A rule
// kept in three places would drift, and the rule is what stands between a
// typo and a campaign over every asset of the team.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// MaxQueryLen bounds a query in URL query form: it is stored in the
// campaign's meta hash and shown in every message about it.
const MaxQueryLen = 8 << 10

// commaListParams are the listing parameters whose value is a
// comma-separated list of alternatives: their blank items are dropped, so
// that "a,,b" is checked and sent as "a,b".
var commaListParams = map[string]bool{
	"labels": true, "host": true, "domain": true, "ip": true, "port": true, "cname": true, "technologies": true,
	"title": true, "status_code": true, "content_length": true, "favicon": true, "sort_asc": true, "sort_desc": true,
}

// ParseQuery reads a query of the asset listing (GET
// /v1/asset/enumerate/contents) in URL query form, as --query and the HTTP
// API's query field take it, e.g. "labels=stale&not_seen_for_days=30". It
// trims every value, drops the blank items of comma-separated lists and
// then keys left blank, and refuses offset and limit (the listing owns
// them), unknown keys, keys of the bulk filters only, keys given twice,
// malformed values, a query longer than MaxQueryLen, and a query that
// narrows nothing unless selectAll says every asset is meant (CheckQuery).
// The result is what is checked and what is sent.
func ParseQuery(s string, selectAll bool) (url.Values, error) {
	if len(s) > MaxQueryLen {
		return nil, fmt.Errorf("query of %d bytes: want at most %d", len(s), MaxQueryLen)
	}
	raw, err := url.ParseQuery(s)
	if err != nil {
		return nil, fmt.Errorf("query %.80q: %w", s, err)
	}
	for _, k := range []string{"offset", "limit"} {
		if _, ok := raw[k]; ok {
			return nil, fmt.Errorf("query parameter %q belongs to the listing's paging, not to the query: drop it", k)
		}
	}
	q := url.Values{}
	for k, vals := range raw {
		if len(vals) != 1 || !knownFilter(k) {
			q[k] = vals // Narrowing refuses it, naming it
			continue
		}
		v := strings.TrimSpace(vals[0])
		if commaListParams[k] {
			v = commaList(v)
		}
		if v != "" { // blank: no filter, as a schedule's empty field
			q.Set(k, v)
		}
	}
	if err := CheckQuery(q, selectAll, ""); err != nil {
		return nil, err
	}
	return q, nil
}

// knownFilter reports whether k is a listing (or bulk filter) parameter.
func knownFilter(k string) bool {
	return slices.Contains(client.FilterParams(), k)
}

// commaList trims the items of a comma-separated list and drops the blank
// ones.
func commaList(s string) string {
	var items []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	return strings.Join(items, ",")
}

// ErrWideQuery is the refusal of a query that narrows nothing: it would
// select every asset of the team.
var ErrWideQuery = errors.New("query narrows nothing and would select every asset of the team")

// CheckQuery applies the "must narrow" rule (client.Narrowing) to q,
// listing parameters: an unknown, repeated or malformed parameter is an
// error naming it; a query that narrows nothing is refused (wrapping
// ErrWideQuery, with what would narrow and why its values do not) unless
// selectAll. selectAllHint is the producer's own way to say "every asset
// is meant" ("set select_all: true on the schedule"), appended to the
// refusal; "" names the generic select_all.
func CheckQuery(q url.Values, selectAll bool, selectAllHint string) error {
	narrowing, err := client.Narrowing(q)
	if err != nil {
		return err
	}
	if len(narrowing) > 0 || selectAll {
		return nil
	}
	why := ""
	if wide := client.WideValues(q); len(wide) > 0 {
		why = " (" + strings.Join(wide, "; ") + ")"
	}
	shown := "{}"
	if v := q.Encode(); v != "" {
		shown = strconv.Quote(v)
	}
	if selectAllHint == "" {
		selectAllHint = "set select_all (its campaigns then always wait for approval)"
	}
	return &wideQueryError{fmt.Sprintf("query %s narrows nothing and would select every asset of the team%s: "+
		"add a filter by asset attribute (labels, host, domain, search of %d+ letters or digits, ip, port, not_seen_for_days, time other than all_time, ...); "+
		"booleans, sorting, custom_filter, blank values and catch-all values (\".\", \"*\", \"https://\", a top-level domain) do not narrow. "+
		"To mean every asset, %s", shown, why, client.MinSearchAlnum, selectAllHint)}
}

// wideQueryError is CheckQuery's refusal: its own text, ErrWideQuery for
// errors.Is.
type wideQueryError struct{ msg string }

func (e *wideQueryError) Error() string { return e.msg }
func (e *wideQueryError) Unwrap() error { return ErrWideQuery }

// CampaignQuery is q as Campaign.Query stores it: sorting dropped, since
// it selects nothing and the snapshot pages in an order of its own that
// stays stable while it lists.
func CampaignQuery(q url.Values) string {
	v := url.Values{}
	for k, vals := range q {
		if k != "sort_asc" && k != "sort_desc" {
			v[k] = vals
		}
	}
	return v.Encode()
}

// Lister lists PDCP assets; *client.Client implements it.
type Lister interface {
	ListAssets(ctx context.Context, f client.AssetFilter, pageSize int) iter.Seq2[client.Asset, error]
}

var _ Lister = (*client.Client)(nil)

// ErrTooManyAssets: an input holds more distinct asset IDs than its
// producer may read.
var ErrTooManyAssets = errors.New("source holds more asset IDs than may be read")

// ListQuery lists f with l, pageSize items per page, as an Input of the
// listed asset IDs for ReadPlan: each distinct asset once, at most limit
// of them. Past limit the input ends (Truncated reports it) when
// truncate, and fails with ErrTooManyAssets otherwise. A listing that
// brings no new asset for ten pages in a row fails (a server that does not
// page by offset would never end). stop releases the listing; call it
// when done.
func ListQuery(ctx context.Context, l Lister, f client.AssetFilter, pageSize int, limit int64, truncate bool) (in *CapInput, stop func()) {
	next, stop := iter.Pull2(l.ListAssets(ctx, f, pageSize))
	return &CapInput{In: &listingInput{next: next}, Limit: limit, StopAtLimit: truncate,
		MaxRepeats: 10 * max(pageSize, client.DefaultPageSize)}, stop
}

// CapInput passes the rows of In through until more than Limit distinct
// IDs were seen: then it either ends the input (StopAtLimit, after the
// first ID beyond the limit: Truncated) or fails with ErrTooManyAssets.
type CapInput struct {
	In          Input
	Limit       int64
	StopAtLimit bool
	// MaxRepeats > 0 fails the input after that many rows in a row bring
	// no new ID: a listing whose server does not advance (ignores offset,
	// reshuffles each page) would otherwise never end.
	MaxRepeats int

	seen      *IDSet
	n         int64
	repeats   int
	truncated bool
}

// Truncated reports whether the input was ended at Limit.
func (c *CapInput) Truncated() bool { return c.truncated }

// Distinct is the number of distinct IDs passed so far.
func (c *CapInput) Distinct() int64 { return c.n }

// Next implements Input.
func (c *CapInput) Next() (idfile.Row, error) {
	if c.truncated {
		return idfile.Row{}, io.EOF
	}
	if c.seen == nil {
		c.seen = NewIDSet()
	}
	row, err := c.In.Next()
	if err != nil {
		return row, err
	}
	if !c.seen.Add(row.ID) {
		if c.repeats++; c.MaxRepeats > 0 && c.repeats > c.MaxRepeats {
			return idfile.Row{}, fmt.Errorf("the listing is not advancing: %d assets in a row were listed before (does the server page by offset?)", c.repeats)
		}
		return row, nil
	}
	c.repeats = 0
	if c.n++; c.n > c.Limit {
		if !c.StopAtLimit {
			return idfile.Row{}, fmt.Errorf("%w: more than %d", ErrTooManyAssets, c.Limit)
		}
		c.truncated = true
	}
	return row, nil
}

// Column lets ReadPlan name the ID column of a file input it wraps.
func (c *CapInput) Column() (idfile.Column, bool) {
	if r, ok := c.In.(interface{ Column() (idfile.Column, bool) }); ok {
		return r.Column()
	}
	return idfile.Column{}, false
}

// listingInput adapts a pulled ListAssets sequence to Input.
type listingInput struct {
	next func() (client.Asset, error, bool)
	n    int
}

func (a *listingInput) Next() (idfile.Row, error) {
	asset, err, ok := a.next()
	switch {
	case !ok:
		return idfile.Row{}, io.EOF
	case err != nil:
		return idfile.Row{}, err
	}
	a.n++
	if asset.ID <= 0 {
		return idfile.Row{}, &idfile.BadRow{File: "pdcp_query", Line: a.n, Value: strconv.FormatInt(asset.ID, 10), Reason: idfile.ReasonNotPositive}
	}
	return idfile.Row{Line: a.n, ID: asset.ID}, nil
}

// CheckExpress checks what express mode needs of c (the rules Validate
// applies), so that a producer refuses express before it lists a query.
func (c *Campaign) CheckExpress() error { return c.validateExpress() }
