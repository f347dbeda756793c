// Checking a schedule when the file is loaded: every error at once, each
// with its field, and the defaults and derived fields (cron, source, slug)
// computed.

package schedule

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
)

// fieldError is a problem with one field of a schedule, before it is placed
// in its file.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// validate compiles a schedule that was built in code rather than parsed.
func (s *Schedule) validate() error {
	var errs []error
	for _, fe := range s.compile("") {
		errs = append(errs, fmt.Errorf("schedule %q: %w", s.Name, fe))
	}
	return errors.Join(errs...)
}

// compile checks s, applies the defaults and computes the derived fields.
// dir resolves relative CSV paths ("" keeps them relative to the working
// directory).
func (s *Schedule) compile(dir string) []*fieldError {
	var errs fieldErrors
	s.compileName(&errs)
	s.compileWhen(&errs)
	s.compileAction(&errs)
	s.compileLimits(&errs)
	s.compileSnapshot(&errs)
	errs = append(errs, s.Source.compile(dir, s.SelectAll)...)
	s.compileExpress(&errs)
	s.desc = "schedule " + s.Name + ": " + s.Source.describe()
	return errs
}

// fieldErrors collects every error of a schedule, so that one load names
// them all.
type fieldErrors []*fieldError

func (e *fieldErrors) add(field, format string, args ...any) {
	*e = append(*e, &fieldError{field, fmt.Sprintf(format, args...)})
}

// compileName checks the name and derives the slug of the Redis keys and
// campaign IDs.
func (s *Schedule) compileName(errs *fieldErrors) {
	switch {
	case strings.TrimSpace(s.Name) == "":
		errs.add("name", "missing name: every schedule needs a unique name")
	case len(s.Name) > 200:
		errs.add("name", "name %q…: want at most 200 characters", s.Name[:32])
	case strings.IndexFunc(s.Name, unicode.IsControl) >= 0:
		errs.add("name", "name %q contains control characters", s.Name)
	}
	s.slug = Slug(s.Name)
}

// compileWhen checks the time zone and the cron expression, and that the
// schedule ever fires.
func (s *Schedule) compileWhen(errs *fieldErrors) {
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	var err error
	switch {
	case s.Timezone == "Local":
		errs.add("timezone", "timezone %q depends on the host; name an IANA zone such as \"Europe/Berlin\" or \"UTC\"", s.Timezone)
	default:
		if s.loc, err = time.LoadLocation(s.Timezone); err != nil {
			errs.add("timezone", "unknown time zone %q: want an IANA name such as \"Europe/Berlin\"", s.Timezone)
		}
	}
	if s.next, err = parseCron(s.Cron); err != nil {
		errs.add("cron", "%v", err)
	} else if s.loc != nil && s.nextAfter(time.Now()).IsZero() {
		errs.add("cron", "cron %q never fires", s.Cron)
	}
}

// compileAction checks the mode and the labels it removes.
func (s *Schedule) compileAction(errs *fieldErrors) {
	switch s.Mode {
	case "":
		s.Mode = jobs.ModeDelete
	case jobs.ModeDelete, jobs.ModeRemove:
	default:
		errs.add("mode", "mode %q: want delete or remove", s.Mode)
	}
	switch {
	case s.Mode == jobs.ModeRemove && len(s.Labels) == 0:
		errs.add("mode", "mode remove needs the labels to remove (labels: [a, b]); use mode delete to drop all labels")
	case s.Mode == jobs.ModeDelete && len(s.Labels) > 0:
		errs.add("labels", "labels %q are only used in mode remove; drop them to delete all labels, or set mode: remove", s.Labels)
	}
	if err := jobs.ValidateNotify(s.Notify); err != nil {
		errs.add("notify", "%v", err)
	}
	if len(s.Labels) > jobs.MaxLabels {
		errs.add("labels", "%d labels: want at most %d", len(s.Labels), jobs.MaxLabels)
		return
	}
	for _, l := range s.Labels {
		if strings.TrimSpace(l) == "" || len(l) > jobs.MaxLabelLen {
			errs.add("labels", "label %.40q: want 1..%d non-blank characters", l, jobs.MaxLabelLen)
		}
	}
}

// compileSnapshot applies the snapshot's default (on) and refuses
// reset_unlisted without it: "the assets the snapshot did not find" means
// nothing when no snapshot is taken.
func (s *Schedule) compileSnapshot(errs *fieldErrors) {
	s.snap = s.Snapshot == nil || *s.Snapshot
	if s.ResetUnlisted && !s.snap {
		errs.add("reset_unlisted", "reset_unlisted calls the assets the snapshot did not find: it needs snapshot: true (drop one of them)")
	}
	if s.ResetUnlisted && s.Source.PDCPQuery != nil {
		// As jobs.Campaign.Validate refuses it: a query's assets drift
		// out of its listing, and would be reset without a snapshot.
		errs.add("reset_unlisted", "reset_unlisted cannot be used with a pdcp_query source: its assets can drift out of the query's listing and would be reset without a snapshot (drop reset_unlisted)")
	}
}

// compileExpress checks express mode against what it needs, with the
// schedule's field names: the rules of jobs.Campaign.Validate, said before
// the first firing rather than at it.
func (s *Schedule) compileExpress(errs *fieldErrors) {
	before := len(*errs)
	if !s.Express {
		if s.ExpressDeadline != 0 {
			errs.add("express_deadline", "express_deadline %v is only used with express: true; drop it or set express: true", s.ExpressDeadline)
		}
		return
	}
	switch {
	case s.Source.PDCPQuery == nil:
		errs.add("express", "express: true needs a pdcp_query source: the bulk call selects assets by filter, not by ID")
		return
	case s.Mode != jobs.ModeRemove:
		errs.add("express", "express: true needs mode: remove with the labels to remove: PDCP's bulk call cannot remove every label of an asset exactly; drop express to delete all labels asset by asset")
	case !s.snap:
		errs.add("express", "express: true needs the snapshot (it is the record of what the bulk call changes, and what undo puts back): drop snapshot: false")
	case s.SelectAll:
		errs.add("express", "express: true cannot be used with select_all: the bulk call never takes a query that narrows nothing")
	}
	if d := s.ExpressDeadline; d != 0 && (d < time.Second || d > jobs.MaxExpressDeadline) {
		errs.add("express_deadline", "express_deadline %v: want 1s..%v (0 = default %v)", d, jobs.MaxExpressDeadline, jobs.DefaultExpressDeadline)
	}
	if len(*errs) > before {
		return
	}
	q, err := url.ParseQuery(s.Source.PDCPQuery.campaignQuery())
	if err == nil {
		_, err = client.ExpressFilters(q)
	}
	if err != nil {
		errs.add("source.pdcp_query", "express: true: %v", err)
	}
}

// compileLimits checks the priority and the size limits.
func (s *Schedule) compileLimits(errs *fieldErrors) {
	var err error
	if s.prio, err = jobs.ParsePriority(s.Priority); err != nil {
		errs.add("priority", "%v", err)
	}
	switch {
	case s.MaxAssets == 0:
		s.MaxAssets = DefaultMaxAssets
	case s.MaxAssets < 0 || s.MaxAssets > HardMaxAssets:
		errs.add("max_assets", "max_assets %d: want 1..%d", s.MaxAssets, HardMaxAssets)
	}
	if s.BatchSize < 0 || s.BatchSize > jobs.MaxBatchSize {
		errs.add("batch_size", "batch_size %d: want 1..%d (0 = default)", s.BatchSize, jobs.MaxBatchSize)
	}
}

// compile checks that exactly one source kind is set and compiles it.
func (src *Source) compile(dir string, selectAll bool) []*fieldError {
	var errs fieldErrors
	if !src.compileKind(&errs) {
		return errs
	}
	if selectAll && src.PDCPQuery == nil {
		errs.add("select_all", "select_all applies to pdcp_query sources only; drop it")
	}
	switch {
	case src.CSV != nil:
		src.CSV.compile(dir, &errs)
	case src.URL != nil:
		src.URL.compile(&errs)
	default:
		src.PDCPQuery.compile(selectAll, &errs)
	}
	return errs
}

// compileKind reports whether exactly one source kind is set.
func (src *Source) compileKind(errs *fieldErrors) bool {
	var set []string
	if src.CSV != nil {
		set = append(set, "csv")
	}
	if src.URL != nil {
		set = append(set, "url")
	}
	if src.PDCPQuery != nil {
		set = append(set, "pdcp_query")
	}
	switch len(set) {
	case 0:
		errs.add("source", "no source: set exactly one of source.csv, source.url or source.pdcp_query")
		return false
	case 1:
		return true
	default:
		errs.add("source", "%d sources (%s): set exactly one of csv, url or pdcp_query", len(set), strings.Join(set, ", "))
		return false
	}
}

// compile checks the ID file's path and resolves it against dir.
func (c *CSVSource) compile(dir string, errs *fieldErrors) {
	p := c.Path
	switch {
	case p == "":
		errs.add("source.csv.path", "missing path of the ID file")
	case p == "-":
		errs.add("source.csv.path", "path \"-\" (stdin) cannot be read by a schedule; name a file")
	default:
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		if err := checkReadable(p); err != nil {
			errs.add("source.csv.path", "ID file %q: %v", c.Path, err)
		} else {
			c.Path = p
		}
	}
}

// compile checks the URL and applies the default size and time limits.
func (u *URLSource) compile(errs *fieldErrors) {
	if msg := checkURL(u.URL); msg != "" {
		errs.add("source.url.url", "%s", msg)
	}
	switch {
	case u.MaxBytes == 0:
		u.MaxBytes = DefaultURLMaxBytes
	case u.MaxBytes < 0:
		errs.add("source.url.max_bytes", "max_bytes %d: want > 0", u.MaxBytes)
	}
	switch {
	case u.Timeout == 0:
		u.Timeout = DefaultURLTimeout
	case u.Timeout < 0:
		errs.add("source.url.timeout", "timeout %v: want > 0", u.Timeout)
	}
}

// compile checks the query's values and then that it narrows the team's
// assets, unless selectAll says it means every one.
func (q *QuerySource) compile(selectAll bool, errs *fieldErrors) {
	q.normalize()
	before := len(*errs)
	for _, l := range q.Labels {
		switch {
		case strings.TrimSpace(l) == "":
			errs.add("source.pdcp_query.labels", "blank label %q", l)
		case strings.Contains(l, ","):
			// PDCP's filter is one comma-separated string: "a,b"
			// would select label a or label b, a wider query.
			errs.add("source.pdcp_query.labels", "label %q contains a comma, which PDCP's labels filter cannot express (it would match %q)", l, strings.Split(l, ","))
		}
	}
	if strings.ContainsAny(q.CustomFilter, "=& ") {
		// PDCP wants custom_filter double-encoded; the query string
		// adds one encoding, the value must bring the other.
		errs.add("source.pdcp_query.custom_filter", "custom_filter %q is not URL-encoded: give it encoded once, e.g. %q (PDCP wants it double-encoded; the request adds the second)",
			q.CustomFilter, url.QueryEscape(q.CustomFilter))
	}
	if q.NotSeenForDays < 0 {
		errs.add("source.pdcp_query.not_seen_for_days", "not_seen_for_days %d: want >= 1 (0 = no filter)", q.NotSeenForDays)
	}
	if q.Time != "" && !contains(timeRanges, q.Time) {
		errs.add("source.pdcp_query.time", "time %q: want one of %s", q.Time, strings.Join(timeRanges, ", "))
	}
	switch {
	case q.PageSize == 0:
		q.PageSize = client.DefaultPageSize
	case q.PageSize < 0 || q.PageSize > client.MaxPageSize:
		errs.add("source.pdcp_query.page_size", "page_size %d: want 1..%d", q.PageSize, client.MaxPageSize)
	}
	if len(*errs) > before {
		return // the value errors say more than Narrowing would
	}
	q.compileNarrowing(selectAll, errs)
}

// compileNarrowing refuses a query that would select every asset of the
// team, unless selectAll says that is meant: jobs.CheckQuery, the rule and
// message every producer of query campaigns shares.
func (q *QuerySource) compileNarrowing(selectAll bool, errs *fieldErrors) {
	if err := jobs.CheckQuery(q.Filter().Query(), selectAll,
		"set select_all: true on the schedule (its campaigns then always wait for approval)"); err != nil {
		errs.add("source.pdcp_query", "%v", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkReadable opens a regular file and closes it again. Other kinds of
// file (a FIFO would block every firing) are refused.
func checkReadable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return unwrapPath(err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return unwrapPath(err)
	}
	return f.Close()
}

// unwrapPath drops the "open <path>:" prefix, which the caller already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkURL returns a problem with a source URL, or "".
func checkURL(raw string) string {
	if raw == "" {
		return "missing url"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("url %q: %v", raw, unwrapURL(err))
	}
	shown := raw
	if u.User != nil {
		shown = u.Redacted()
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return fmt.Sprintf("url %q: scheme http is allowed only for loopback hosts; use https", shown)
		}
	default:
		return fmt.Sprintf("url %q: bad URL scheme %q: want https", shown, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Sprintf("url %q: missing host", shown)
	}
	return ""
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (src *Source) describe() string {
	switch {
	case src.CSV != nil:
		return "csv " + src.CSV.Path
	case src.URL != nil:
		// Without the query, which may hold a signed token.
		if u, err := url.Parse(src.URL.URL); err == nil {
			u.RawQuery, u.Fragment, u.User = "", "", nil
			return "url " + u.String()
		}
		return "url"
	case src.PDCPQuery != nil:
		q := src.PDCPQuery.Filter().Query()
		return "pdcp_query " + q.Encode()
	}
	return "none"
}
