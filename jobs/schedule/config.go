package schedule

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on images without /usr/share/zoneinfo

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
	// Snapshot records every asset's labels before the campaign resets
	// any, so that it can be undone. Default true; false opts out, and
	// the campaign then cannot be undone.
	Snapshot *bool `yaml:"snapshot"`
	// ResetUnlisted calls the assets the snapshot did not find in the
	// inventory instead of recording them not_in_inventory. It needs the
	// snapshot. Default false.
	ResetUnlisted bool `yaml:"reset_unlisted"`
	// Notify names the operator's notifiers (docs/notifications.md) that
	// hear of the state changes of the schedule's campaigns (a firing that
	// needs approval above all). Names only; checked against
	// Options.Notifiers.
	Notify []string `yaml:"notify"`
	// Express removes the labels with one bulk call (PATCH
	// /v1/asset/labels) over the query instead of one call per asset, then
	// verifies asset by asset (jobs.Campaign.Express). It needs a
	// pdcp_query source, mode remove and the snapshot, and a query every
	// filter of which the bulk call reads the same. Default false.
	Express bool `yaml:"express"`
	// ExpressDeadline bounds the verification of an express campaign;
	// assets not seen clean by then are called one by one. Default
	// jobs.DefaultExpressDeadline (10m); only with express.
	ExpressDeadline time.Duration `yaml:"express_deadline"`

	next func(time.Time) time.Time // fire time after t; zero = never
	loc  *time.Location            // of Timezone
	slug string                    // campaign ID prefix and Redis key part
	prio jobs.Priority             // parsed Priority
	desc string                    // campaign Source text
	snap bool                      // Snapshot with its default applied
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

// campaignQuery is the query's filter in URL query form, for
// jobs.Campaign.Query: the snapshot of the campaign lists only what the
// query selects. Sorting is left out, since it selects nothing and the
// snapshot pages in an order of its own that stays stable while it lists.
func (q *QuerySource) campaignQuery() string { return jobs.CampaignQuery(q.Filter().Query()) }

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

var (
	cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	timeRanges = []string{"last_day", "last_week", "last_month", "last_3_months", "last_6_months", "last_12_months", "all_time"}
)
