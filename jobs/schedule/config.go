package schedule

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on images without /usr/share/zoneinfo
	"unicode"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
)

// Defaults and limits of the configuration.
const (
	// DefaultMaxAssets is Schedule.MaxAssets when the file leaves it out.
	DefaultMaxAssets = 10000
	// HardMaxAssets bounds what one firing reads from any source: a CSV or
	// URL source with more distinct IDs fails the firing.
	HardMaxAssets = 10_000_000
	// DefaultURLMaxBytes is URLSource.MaxBytes when left out (64 MiB).
	DefaultURLMaxBytes = 64 << 20
	// DefaultURLTimeout is URLSource.Timeout when left out.
	DefaultURLTimeout = 2 * time.Minute
	// MaxConfigBytes bounds the size of a schedules file.
	MaxConfigBytes = 1 << 20

	// maxSlug keeps "<slug>-20060102T150405Z" within the 64 characters of a
	// campaign ID.
	maxSlug = 64 - len("-20060102T150405Z")
)

// Config is a schedules file.
type Config struct {
	Schedules []Schedule `yaml:"schedules"`
}

// Schedule is one recurring campaign. ParseConfig fills in the defaults
// noted on each field.
type Schedule struct {
	// Name identifies the schedule (required, unique): it is the `schedule`
	// label of the metrics and, reduced to [A-Za-z0-9._-] and at most 47
	// characters, the prefix of every campaign ID it creates.
	Name string `yaml:"name"`
	// Cron is a 5-field cron expression (minute hour day-of-month month
	// day-of-week) or a descriptor such as "@daily" or "@every 10m".
	// "@every" intervals are aligned to multiples of the interval, so that
	// every replica computes the same fire times.
	Cron string `yaml:"cron"`
	// Timezone is the IANA zone Cron is evaluated in. Default "UTC".
	Timezone string `yaml:"timezone"`
	// Mode is delete (drop all labels, the default) or remove (remove only
	// Labels).
	Mode jobs.Mode `yaml:"mode"`
	// Labels are removed in remove mode; not allowed in delete mode.
	Labels []string `yaml:"labels"`
	// TeamID is the PDCP team; "" means the process default (PDCP_TEAM_ID).
	TeamID string `yaml:"team_id"`
	// Priority is high, normal (default) or low.
	Priority string `yaml:"priority"`
	// MaxAssets is the safety cap of one firing: a firing that selects more
	// assets creates its campaign pending, to be approved by an operator.
	// Default DefaultMaxAssets.
	MaxAssets int64 `yaml:"max_assets"`
	// BatchSize is the number of asset IDs per task; 0 means
	// Options.Defaults.BatchSize (itself defaulting to jobs.DefaultBatchSize).
	BatchSize int `yaml:"batch_size"`
	// Source says where the asset IDs come from.
	Source Source `yaml:"source"`
	// SelectAll accepts a pdcp_query that narrows nothing (every asset of
	// the team, e.g. only is_internal or time: all_time), which is refused
	// otherwise. Its campaigns always wait for approval, whatever
	// max_assets says.
	SelectAll bool `yaml:"select_all"`

	next func(time.Time) time.Time // fire time after t; zero = never
	loc  *time.Location            // of Timezone
	slug string                    // campaign ID prefix and Redis key part
	prio jobs.Priority             // parsed Priority
	desc string                    // campaign Source text
}

// Source holds exactly one way of obtaining asset IDs.
type Source struct {
	CSV       *CSVSource   `yaml:"csv"`
	URL       *URLSource   `yaml:"url"`
	PDCPQuery *QuerySource `yaml:"pdcp_query"`
}

// CSVSource reads a local ID file (any format jobs/idfile reads: CSV, TSV,
// plain, gzip) at every firing.
type CSVSource struct {
	// Path of the file; a relative path is relative to the directory of
	// the schedules file. It must exist and be readable when the
	// configuration is loaded.
	Path string `yaml:"path"`
}

// URLSource downloads an ID file at every firing.
type URLSource struct {
	// URL must be https; http is accepted for loopback hosts only, and only
	// when Options.AllowInsecureHTTP is set (tests, sidecars).
	URL string `yaml:"url"`
	// MaxBytes bounds the download; a larger body fails the firing.
	// Default DefaultURLMaxBytes.
	MaxBytes int64 `yaml:"max_bytes"`
	// Timeout bounds the whole download, e.g. "30s". Default
	// DefaultURLTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// QuerySource lists the assets matching a PDCP filter at every firing.
// Its keys are the query parameters of GET /v1/asset/enumerate/contents
// (offset and limit excepted, which the listing owns); an unknown key is
// an error, so a typo cannot drop a filter. Values are trimmed, and the
// comma-separated string filters (host, domain, ip, port, ...) also lose
// their blank items.
//
// The query must narrow the assets by an attribute (client.Narrowing):
// booleans, sorting and blank values alone would select every asset of
// the team, and such a schedule is refused unless it says select_all.
type QuerySource struct {
	Labels         []string `yaml:"labels"`
	NotSeenForDays int      `yaml:"not_seen_for_days"`
	Search         string   `yaml:"search"`
	Host           string   `yaml:"host"`
	Domain         string   `yaml:"domain"`
	// Time is a PDCP time range: last_day, last_week, last_month,
	// last_3_months, last_6_months, last_12_months or all_time.
	Time       string `yaml:"time"`
	IsInternal *bool  `yaml:"is_internal"`
	// CustomFilter is PDCP's custom_filter, URL-encoded once: the spec
	// wants it double-encoded and the request's query adds the second.
	CustomFilter string `yaml:"custom_filter"`

	// Further attribute filters, comma-separated lists passed through.
	IP            string `yaml:"ip"`
	Port          string `yaml:"port"`
	CName         string `yaml:"cname"`
	Technologies  string `yaml:"technologies"`
	Title         string `yaml:"title"`
	StatusCode    string `yaml:"status_code"`
	ContentLength string `yaml:"content_length"`
	Favicon       string `yaml:"favicon"`
	// Boolean filters; they never make a query narrow on their own.
	IsNew        *bool `yaml:"is_new"`
	IsTech       *bool `yaml:"is_tech"`
	IsFavicon    *bool `yaml:"is_favicon"`
	IsScreenshot *bool `yaml:"is_screenshot"`
	OnlyDNS      *bool `yaml:"only_dns"`
	OnlyIP       *bool `yaml:"only_ip"`
	// SortAsc and SortDesc order the listing (comma-separated fields).
	SortAsc  string `yaml:"sort_asc"`
	SortDesc string `yaml:"sort_desc"`

	// PageSize is the listing page size, 1..1000. Default 100.
	PageSize int `yaml:"page_size"`
}

// Filter returns the query as a client.AssetFilter.
func (q *QuerySource) Filter() client.AssetFilter {
	extra := url.Values{}
	for k, v := range q.extraStrings() {
		if *v != "" {
			extra.Set(k, *v)
		}
	}
	for k, v := range map[string]*bool{"is_new": q.IsNew, "is_tech": q.IsTech, "is_favicon": q.IsFavicon,
		"is_screenshot": q.IsScreenshot, "only_dns": q.OnlyDNS, "only_ip": q.OnlyIP} {
		if v != nil {
			extra.Set(k, strconv.FormatBool(*v))
		}
	}
	return client.AssetFilter{
		Labels: q.Labels, NotSeenForDays: q.NotSeenForDays, Search: q.Search,
		Host: q.Host, Domain: q.Domain, Time: client.TimeRange(q.Time),
		IsInternal: q.IsInternal, CustomFilter: q.CustomFilter, Extra: extra,
	}
}

// extraStrings are the string filters client.AssetFilter has no field
// for, by parameter name.
func (q *QuerySource) extraStrings() map[string]*string {
	return map[string]*string{
		"ip": &q.IP, "port": &q.Port, "cname": &q.CName, "technologies": &q.Technologies,
		"title": &q.Title, "status_code": &q.StatusCode, "content_length": &q.ContentLength,
		"favicon": &q.Favicon, "sort_asc": &q.SortAsc, "sort_desc": &q.SortDesc,
	}
}

// normalize trims every value and drops the blank items of the
// comma-separated ones, so that what is checked is what is sent.
func (q *QuerySource) normalize() {
	for i, l := range q.Labels {
		q.Labels[i] = strings.TrimSpace(l)
	}
	q.Search = strings.TrimSpace(q.Search)
	q.Time = strings.TrimSpace(q.Time)
	q.CustomFilter = strings.TrimSpace(q.CustomFilter)
	q.Host, q.Domain = commaList(q.Host), commaList(q.Domain)
	for _, v := range q.extraStrings() {
		*v = commaList(*v)
	}
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

// ConfigError is one problem of a schedules file. ParseConfig joins them
// (errors.Join); errors.As finds the first.
type ConfigError struct {
	File     string
	Line     int    // 1-based; 0 when unknown
	Schedule string // name of the schedule, "" for file-level problems
	Field    string // YAML path inside the schedule, e.g. "source.csv.path"
	Msg      string
}

// Error renders "file:line: schedule "name": field: message".
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Schedule != "" {
		b.WriteString("schedule " + strconv.Quote(e.Schedule) + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadConfig reads and parses a schedules file.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("schedules config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("schedules config %s: %w", path, err)
	}
	return ParseConfig(path, data)
}

// ParseConfig decodes a schedules file strictly: unknown fields, wrong
// types, duplicate keys and every invalid setting are errors that name the
// file (name) and the line. Relative CSV paths are resolved against the
// directory of name, and the files must be readable now.
func ParseConfig(name string, data []byte) (cfg *Config, err error) {
	if name == "" {
		name = "schedules.yaml"
	}
	defer func() {
		// Defence in depth: a malformed file must never crash the process.
		if r := recover(); r != nil {
			cfg, err = nil, &ConfigError{File: name, Msg: fmt.Sprintf("cannot parse YAML: %v", r)}
		}
	}()
	if len(data) > MaxConfigBytes {
		return nil, &ConfigError{File: name, Msg: fmt.Sprintf("file larger than %d bytes", MaxConfigBytes)}
	}
	cfg = &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if err == io.EOF {
			return nil, &ConfigError{File: name, Msg: "empty file: want a top-level \"schedules:\" list"}
		}
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		line := extra.Line
		if err != nil {
			return nil, yamlError(name, err)
		}
		return nil, &ConfigError{File: name, Line: line, Msg: "more than one YAML document; put all schedules in one \"schedules:\" list"}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	items := scheduleNodes(&doc)
	if len(cfg.Schedules) == 0 {
		return nil, &ConfigError{File: name, Line: rootLine(&doc), Msg: "no schedules: want a non-empty \"schedules:\" list"}
	}
	var errs []error
	type seen struct {
		name string
		line int
	}
	names := map[string]int{}
	slugs := map[string]seen{}
	for i := range cfg.Schedules {
		sc := &cfg.Schedules[i]
		var node *yaml.Node
		if i < len(items) {
			node = items[i]
		}
		ferrs := sc.compile(filepath.Dir(name))
		if strings.TrimSpace(sc.Name) != "" {
			line := lineOf(node, "name")
			if first, dup := names[sc.Name]; dup {
				ferrs = append(ferrs, &fieldError{"name", fmt.Sprintf("duplicate name %q (first used on line %d)", sc.Name, first)})
			} else if o, dup := slugs[sc.slug]; dup {
				ferrs = append(ferrs, &fieldError{"name", fmt.Sprintf("names %q and %q (line %d) both give campaign IDs starting %q; rename one",
					sc.Name, o.name, o.line, sc.slug)})
			} else {
				names[sc.Name] = line
				slugs[sc.slug] = seen{sc.Name, line}
			}
		}
		for _, fe := range ferrs {
			errs = append(errs, &ConfigError{File: name, Line: lineOf(node, strings.Split(fe.field, ".")...),
				Schedule: sc.Name, Field: fe.field, Msg: fe.msg})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

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

var (
	cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	timeRanges = []string{"last_day", "last_week", "last_month", "last_3_months", "last_6_months", "last_12_months", "all_time"}
)

// compile checks s, applies the defaults and computes the derived fields.
// dir resolves relative CSV paths ("" keeps them relative to the working
// directory).
func (s *Schedule) compile(dir string) []*fieldError {
	var errs []*fieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, &fieldError{field, fmt.Sprintf(format, args...)})
	}
	switch {
	case strings.TrimSpace(s.Name) == "":
		bad("name", "missing name: every schedule needs a unique name")
	case len(s.Name) > 200:
		bad("name", "name %q…: want at most 200 characters", s.Name[:32])
	case strings.IndexFunc(s.Name, unicode.IsControl) >= 0:
		bad("name", "name %q contains control characters", s.Name)
	}
	s.slug = Slug(s.Name)

	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	var err error
	switch {
	case s.Timezone == "Local":
		bad("timezone", "timezone %q depends on the host; name an IANA zone such as \"Europe/Berlin\" or \"UTC\"", s.Timezone)
	default:
		if s.loc, err = time.LoadLocation(s.Timezone); err != nil {
			bad("timezone", "unknown time zone %q: want an IANA name such as \"Europe/Berlin\"", s.Timezone)
		}
	}
	if s.next, err = parseCron(s.Cron); err != nil {
		bad("cron", "%v", err)
	} else if s.loc != nil && s.nextAfter(time.Now()).IsZero() {
		bad("cron", "cron %q never fires", s.Cron)
	}

	switch s.Mode {
	case "":
		s.Mode = jobs.ModeDelete
	case jobs.ModeDelete, jobs.ModeRemove:
	default:
		bad("mode", "mode %q: want delete or remove", s.Mode)
	}
	switch {
	case s.Mode == jobs.ModeRemove && len(s.Labels) == 0:
		bad("mode", "mode remove needs the labels to remove (labels: [a, b]); use mode delete to drop all labels")
	case s.Mode == jobs.ModeDelete && len(s.Labels) > 0:
		bad("labels", "labels %q are only used in mode remove; drop them to delete all labels, or set mode: remove", s.Labels)
	}
	if len(s.Labels) > jobs.MaxLabels {
		bad("labels", "%d labels: want at most %d", len(s.Labels), jobs.MaxLabels)
	} else {
		for _, l := range s.Labels {
			if strings.TrimSpace(l) == "" || len(l) > jobs.MaxLabelLen {
				bad("labels", "label %.40q: want 1..%d non-blank characters", l, jobs.MaxLabelLen)
			}
		}
	}
	if s.prio, err = jobs.ParsePriority(s.Priority); err != nil {
		bad("priority", "%v", err)
	}
	switch {
	case s.MaxAssets == 0:
		s.MaxAssets = DefaultMaxAssets
	case s.MaxAssets < 0 || s.MaxAssets > HardMaxAssets:
		bad("max_assets", "max_assets %d: want 1..%d", s.MaxAssets, HardMaxAssets)
	}
	if s.BatchSize < 0 || s.BatchSize > jobs.MaxBatchSize {
		bad("batch_size", "batch_size %d: want 1..%d (0 = default)", s.BatchSize, jobs.MaxBatchSize)
	}
	errs = append(errs, s.Source.compile(dir, s.SelectAll)...)
	s.desc = "schedule " + s.Name + ": " + s.Source.describe()
	return errs
}

func (src *Source) compile(dir string, selectAll bool) []*fieldError {
	var errs []*fieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, &fieldError{field, fmt.Sprintf(format, args...)})
	}
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
		bad("source", "no source: set exactly one of source.csv, source.url or source.pdcp_query")
		return errs
	case 1:
	default:
		bad("source", "%d sources (%s): set exactly one of csv, url or pdcp_query", len(set), strings.Join(set, ", "))
		return errs
	}
	if selectAll && src.PDCPQuery == nil {
		bad("select_all", "select_all applies to pdcp_query sources only; drop it")
	}
	switch {
	case src.CSV != nil:
		p := src.CSV.Path
		switch {
		case p == "":
			bad("source.csv.path", "missing path of the ID file")
		case p == "-":
			bad("source.csv.path", "path \"-\" (stdin) cannot be read by a schedule; name a file")
		default:
			if !filepath.IsAbs(p) && dir != "" {
				p = filepath.Join(dir, p)
			}
			if err := checkReadable(p); err != nil {
				bad("source.csv.path", "ID file %q: %v", src.CSV.Path, err)
			} else {
				src.CSV.Path = p
			}
		}
	case src.URL != nil:
		if msg := checkURL(src.URL.URL); msg != "" {
			bad("source.url.url", "%s", msg)
		}
		switch {
		case src.URL.MaxBytes == 0:
			src.URL.MaxBytes = DefaultURLMaxBytes
		case src.URL.MaxBytes < 0:
			bad("source.url.max_bytes", "max_bytes %d: want > 0", src.URL.MaxBytes)
		}
		switch {
		case src.URL.Timeout == 0:
			src.URL.Timeout = DefaultURLTimeout
		case src.URL.Timeout < 0:
			bad("source.url.timeout", "timeout %v: want > 0", src.URL.Timeout)
		}
	default:
		q := src.PDCPQuery
		q.normalize()
		before := len(errs)
		for _, l := range q.Labels {
			switch {
			case strings.TrimSpace(l) == "":
				bad("source.pdcp_query.labels", "blank label %q", l)
			case strings.Contains(l, ","):
				// PDCP's filter is one comma-separated string: "a,b"
				// would select label a or label b, a wider query.
				bad("source.pdcp_query.labels", "label %q contains a comma, which PDCP's labels filter cannot express (it would match %q)", l, strings.Split(l, ","))
			}
		}
		if strings.ContainsAny(q.CustomFilter, "=& ") {
			// PDCP wants custom_filter double-encoded; the query string
			// adds one encoding, the value must bring the other.
			bad("source.pdcp_query.custom_filter", "custom_filter %q is not URL-encoded: give it encoded once, e.g. %q (PDCP wants it double-encoded; the request adds the second)",
				q.CustomFilter, url.QueryEscape(q.CustomFilter))
		}
		if q.NotSeenForDays < 0 {
			bad("source.pdcp_query.not_seen_for_days", "not_seen_for_days %d: want >= 1 (0 = no filter)", q.NotSeenForDays)
		}
		if q.Time != "" && !contains(timeRanges, q.Time) {
			bad("source.pdcp_query.time", "time %q: want one of %s", q.Time, strings.Join(timeRanges, ", "))
		}
		switch {
		case q.PageSize == 0:
			q.PageSize = client.DefaultPageSize
		case q.PageSize < 0 || q.PageSize > client.MaxPageSize:
			bad("source.pdcp_query.page_size", "page_size %d: want 1..%d", q.PageSize, client.MaxPageSize)
		}
		if len(errs) > before {
			break // the value errors say more than Narrowing would
		}
		narrowing, err := client.Narrowing(q.Filter().Query())
		switch {
		case err != nil:
			bad("source.pdcp_query", "%v", err)
		case len(narrowing) == 0 && !selectAll:
			why := ""
			if wide := client.WideValues(q.Filter().Query()); len(wide) > 0 {
				why = " (" + strings.Join(wide, "; ") + ")"
			}
			bad("source.pdcp_query", "query %s narrows nothing and would select every asset of the team%s: "+
				"add a filter by asset attribute (labels, host, domain, search of %d+ letters or digits, ip, port, not_seen_for_days, time other than all_time, ...); "+
				"booleans, sorting, custom_filter, blank values and catch-all values (\".\", \"*\", \"https://\", a top-level domain) do not narrow. "+
				"To mean every asset, set select_all: true on the schedule (its campaigns then always wait for approval)",
				queryText(q), why, client.MinSearchAlnum)
		}
	}
	return errs
}

// queryText shows a query for messages: "{}" when nothing is sent.
func queryText(q *QuerySource) string {
	if v := q.Filter().Query().Encode(); v != "" {
		return strconv.Quote(v)
	}
	return "{}"
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

// parseCron parses a 5-field cron expression or a descriptor.
func parseCron(spec string) (next func(time.Time) time.Time, err error) {
	defer func() {
		if r := recover(); r != nil { // robfig/cron panics on some malformed specs
			next, err = nil, fmt.Errorf("cron %q: invalid expression", spec)
		}
	}()
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil, errors.New("missing cron expression (e.g. \"0 3 * * *\")")
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return nil, fmt.Errorf("cron %q: set the zone with the timezone field, not in the expression", spec)
	}
	sched, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v", spec, err)
	}
	switch sc := sched.(type) {
	case cron.ConstantDelaySchedule:
		if d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(spec, "@every"))); err != nil || d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("cron %q: want an interval of whole seconds, at least 1s", spec)
		}
		// Align to multiples of the interval: robfig counts from the time
		// given, which differs between replicas started at different times.
		d := sc.Delay
		return func(t time.Time) time.Time { return t.Truncate(d).Add(d) }, nil
	case *cron.SpecSchedule:
		// The location comes from Schedule.Timezone (see nextAfter).
		return sc.Next, nil
	}
	return sched.Next, nil
}

// nextAfter returns the first fire time after t, in the schedule's zone,
// or the zero time if it never fires again.
func (s *Schedule) nextAfter(t time.Time) time.Time {
	return s.next(t.In(s.loc))
}

// Slug reduces a schedule name to the campaign ID alphabet [A-Za-z0-9._-]
// (other characters become '_') and at most 47 characters, so that
// "<slug>-<fire time>" is a valid campaign ID.
func Slug(name string) string {
	b := make([]byte, 0, min(len(name), maxSlug))
	for _, r := range name {
		if len(b) == maxSlug {
			break
		}
		switch {
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'):
			b = append(b, byte(r))
		default:
			b = append(b, '_')
		}
	}
	if len(b) == 0 {
		return "schedule"
	}
	return string(b)
}

// CampaignID returns the ID of the campaign a schedule creates for the fire
// time at: "<slug>-20060102T150405Z".
func CampaignID(name string, at time.Time) string {
	return Slug(name) + "-" + at.UTC().Format("20060102T150405Z")
}

// lineOf returns the line of the value at path below a schedule's mapping
// node, or of the closest ancestor found.
func lineOf(n *yaml.Node, path ...string) int {
	if n == nil {
		return 0
	}
	line := n.Line
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			break
		}
		var found *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				found = n.Content[i+1]
				line = n.Content[i].Line
				if found.Kind == yaml.ScalarNode || found.Kind == yaml.SequenceNode && found.Style&yaml.FlowStyle != 0 {
					line = found.Line
				}
			}
		}
		if found == nil {
			break
		}
		n = found
	}
	return line
}

// scheduleNodes returns the mapping nodes of the schedules list.
func scheduleNodes(doc *yaml.Node) []*yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "schedules" && root.Content[i+1].Kind == yaml.SequenceNode {
			return root.Content[i+1].Content
		}
	}
	return nil
}

func rootLine(doc *yaml.Node) int {
	if len(doc.Content) > 0 {
		return doc.Content[0].Line
	}
	return 1
}

var (
	yamlLineRe     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	notFoundRe     = regexp.MustCompile(`^field (.+) not found in type (\S+)$`)
	unmarshalIntoR = regexp.MustCompile(`^cannot unmarshal (.*) into (\S+)$`)
)

// yamlTypes maps the Go type names in yaml.v3 messages to what they are in
// the file and their known fields.
var yamlTypes = map[string]struct {
	what string
	typ  reflect.Type
}{
	"schedule.Config":      {"the top level", reflect.TypeFor[Config]()},
	"schedule.Schedule":    {"a schedule", reflect.TypeFor[Schedule]()},
	"schedule.Source":      {"source", reflect.TypeFor[Source]()},
	"schedule.CSVSource":   {"source.csv", reflect.TypeFor[CSVSource]()},
	"schedule.URLSource":   {"source.url", reflect.TypeFor[URLSource]()},
	"schedule.QuerySource": {"source.pdcp_query", reflect.TypeFor[QuerySource]()},
}

func yamlFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" && tag != "-" {
			out = append(out, strings.Split(tag, ",")[0])
		}
	}
	return out
}

// yamlError turns a yaml.v3 error into ConfigErrors with file and line.
func yamlError(name string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var errs []error
	for _, m := range msgs {
		ce := &ConfigError{File: name, Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLineRe.FindStringSubmatch(m); sm != nil {
			ce.Line, _ = strconv.Atoi(sm[1])
			ce.Msg = sm[2]
		}
		if sm := notFoundRe.FindStringSubmatch(ce.Msg); sm != nil {
			if t, ok := yamlTypes[sm[2]]; ok {
				ce.Msg = fmt.Sprintf("unknown field %q in %s (known: %s)", sm[1], t.what, strings.Join(yamlFields(t.typ), ", "))
			} else {
				ce.Msg = fmt.Sprintf("unknown field %q", sm[1])
			}
		} else if sm := unmarshalIntoR.FindStringSubmatch(ce.Msg); sm != nil {
			ce.Msg = fmt.Sprintf("cannot use %s here: want %s", sm[1], friendlyType(sm[2]))
		}
		errs = append(errs, ce)
	}
	return errors.Join(errs...)
}

func friendlyType(t string) string {
	switch t {
	case "int", "int64":
		return "an integer"
	case "string", "jobs.Mode":
		return "a string"
	case "[]string":
		return "a list of strings"
	case "bool", "*bool":
		return "true or false"
	case "time.Duration":
		return "a duration such as \"30s\""
	case "[]schedule.Schedule":
		return "a list of schedules"
	}
	if t, ok := yamlTypes[strings.TrimPrefix(t, "*")]; ok {
		return "a mapping (" + t.what + ")"
	}
	return t
}
