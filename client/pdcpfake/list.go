package pdcpfake

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// filter is a parsed listing or bulk filter; zero fields match everything.
type filter struct {
	labels   []string
	search   string // lower case
	hosts    []string
	domains  []string
	notSeen  int
	maxAge   int // days; 0 = any
	internal *bool
	// The listing's class booleans: true keeps the assets that have the
	// attribute, false those that have not (as is_internal); only_dns and
	// only_ip restrict when true and select everything when false.
	tech, favicon, isNew, screenshot *bool
	onlyDNS, onlyIP                  bool
	// Bulk filters only (AssetFilters): creation dates within [from, to)
	// and enumeration IDs; the listing has no such parameters.
	from, to time.Time
	enums    []string
	// attribute lists (comma-separated in the query): an asset matches
	// when one of its values equals one item, ignoring case.
	ips, ports, cnames, techs, titles, codes, lengths, favicons []string
}

// attrs are the listing attributes of an asset, derived from its ID (and
// whether it is internal) so that tests can predict every selection.
type attrs struct {
	ip            string
	port          int
	cname         string // "" = none
	technologies  []string
	title         string
	statusCode    int
	contentLength int
	favicon       string
}

// attrsOf returns the attributes of asset id (a locked): every asset
// serves port 443; a third have a CNAME; even IDs run nginx, odd ones
// Apache and PHP; one in ten answers 404, the rest 200.
func (f *Fake) attrsOf(id int64, a *asset) attrs {
	u := uint64(id)
	at := attrs{
		ip:            fmt.Sprintf("198.18.%d.%d", (u>>8)&255, u&255),
		port:          443,
		title:         "Asset " + strconv.FormatInt(id, 10),
		statusCode:    200,
		contentLength: 512 + int(u%100),
		favicon:       strconv.FormatInt(int64(u%4)*1000003, 10),
		technologies:  []string{"nginx"},
	}
	if a.internal {
		at.ip = fmt.Sprintf("10.0.%d.%d", (u>>8)&255, u&255)
	}
	if u%3 == 0 {
		at.cname = "cdn-" + strconv.FormatUint(u%10, 10) + ".example.net"
	}
	if u%2 == 1 {
		at.technologies = []string{"Apache", "PHP"}
	}
	if u%10 == 9 {
		at.statusCode = 404
	}
	return at
}

// anyFold reports whether one of vals equals one of items, ignoring case.
func anyFold(items []string, vals ...string) bool {
	return slices.ContainsFunc(items, func(it string) bool {
		return slices.ContainsFunc(vals, func(v string) bool { return v != "" && strings.EqualFold(it, v) })
	})
}

// matchAttrs reports whether the attribute filters of flt all match at.
func (flt *filter) matchAttrs(at attrs) bool {
	type check struct {
		items []string
		vals  []string
	}
	for _, c := range []check{
		{flt.ips, []string{at.ip}},
		{flt.ports, []string{strconv.Itoa(at.port)}},
		{flt.cnames, []string{at.cname}},
		{flt.techs, at.technologies},
		{flt.titles, []string{at.title}},
		{flt.codes, []string{strconv.Itoa(at.statusCode)}},
		{flt.lengths, []string{strconv.Itoa(at.contentLength)}},
		{flt.favicons, []string{at.favicon}},
	} {
		if len(c.items) > 0 && !anyFold(c.items, c.vals...) {
			return false
		}
	}
	return true
}

func (flt *filter) hasAttrs() bool {
	return len(flt.ips)+len(flt.ports)+len(flt.cnames)+len(flt.techs)+len(flt.titles)+
		len(flt.codes)+len(flt.lengths)+len(flt.favicons) > 0
}

var timeRanges = map[string]int{
	"last_day": 1, "last_week": 7, "last_month": 31, "last_3_months": 92,
	"last_6_months": 183, "last_12_months": 366, "all_time": 0,
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var domains = [...]string{"example.com", "example.org", "corp.internal"}

func (f *Fake) hostOf(id int64, a *asset) string {
	d := domains[uint64(id)%2]
	if a.internal {
		d = domains[2]
	}
	return "asset-" + strconv.FormatInt(id, 10) + "." + d
}

// match reports whether asset a (locked) matches flt.
func (f *Fake) match(id int64, a *asset, flt *filter) bool {
	if len(flt.labels) > 0 && !slices.ContainsFunc(flt.labels, func(l string) bool { return a.has(f.vocab, l) }) {
		return false
	}
	if flt.notSeen > 0 && int(a.lastSeen) < flt.notSeen {
		return false
	}
	if flt.maxAge > 0 && int(a.created) > flt.maxAge {
		return false
	}
	if flt.internal != nil && a.internal != *flt.internal {
		return false
	}
	if !flt.matchClasses() {
		return false
	}
	if !flt.from.IsZero() || !flt.to.IsZero() {
		created := f.epoch.Add(-time.Duration(a.created) * 24 * time.Hour)
		if !flt.from.IsZero() && created.Before(flt.from) || !flt.to.IsZero() && !created.Before(flt.to) {
			return false
		}
	}
	if len(flt.enums) > 0 && !slices.Contains(flt.enums, enumerationOf(id)) {
		return false
	}
	if flt.hasAttrs() && !flt.matchAttrs(f.attrsOf(id, a)) {
		return false
	}
	if flt.search == "" && len(flt.hosts) == 0 && len(flt.domains) == 0 {
		return true
	}
	host := f.hostOf(id, a)
	if flt.search != "" && !strings.Contains("https://"+host, flt.search) {
		return false
	}
	if len(flt.hosts) > 0 && !slices.Contains(flt.hosts, host) {
		return false
	}
	if len(flt.domains) > 0 && !slices.ContainsFunc(flt.domains, func(d string) bool {
		return host == d || strings.HasSuffix(host, "."+d)
	}) {
		return false
	}
	return true
}

// The class attributes of every seeded asset: each has technologies and a
// favicon (attrsOf), none is new or has a screenshot, and each is a DNS
// name (FQDN) record, none a bare IP record. A class filter therefore
// keeps every asset or none, which is what the items the fake returns
// show.
const (
	assetHasTech, assetHasFavicon, assetIsNew, assetHasScreenshot = true, true, false, false
	assetIsDNS, assetIsIP                                         = true, false
)

// matchClasses applies the class booleans; they depend on no asset state.
func (flt *filter) matchClasses() bool {
	if flt.tech == nil && flt.favicon == nil && flt.isNew == nil && flt.screenshot == nil && !flt.onlyDNS && !flt.onlyIP {
		return true // the listing's hot path: no class filter
	}
	for _, c := range []struct {
		want *bool
		has  bool
	}{{flt.tech, assetHasTech}, {flt.favicon, assetHasFavicon}, {flt.isNew, assetIsNew}, {flt.screenshot, assetHasScreenshot}} {
		if c.want != nil && *c.want != c.has {
			return false
		}
	}
	return !(flt.onlyDNS && !assetIsDNS) && !(flt.onlyIP && !assetIsIP)
}

// enumerationOf is the enumeration_id of asset id's items.
func enumerationOf(id int64) string { return "enum-" + strconv.FormatInt(id%10, 10) }

// badParam answers 400 for a malformed parameter.
func (f *Fake) badParam(w http.ResponseWriter, name string) {
	f.write(w, http.StatusBadRequest, errorBody(400, "Invalid value of parameter "+name, "INVALID_PARAM"))
}

// parseFilter reads the listing filters from q; ok=false after a 400.
func (f *Fake) parseFilter(w http.ResponseWriter, q url.Values) (flt filter, ok bool) {
	flt.labels = splitList(q.Get("labels"))
	flt.search = strings.ToLower(q.Get("search"))
	flt.hosts = splitList(q.Get("host"))
	flt.domains = splitList(q.Get("domain"))
	flt.ips = splitList(q.Get("ip"))
	flt.ports = splitList(q.Get("port"))
	flt.cnames = splitList(q.Get("cname"))
	flt.techs = splitList(q.Get("technologies"))
	flt.titles = splitList(q.Get("title"))
	flt.codes = splitList(q.Get("status_code"))
	flt.lengths = splitList(q.Get("content_length"))
	flt.favicons = splitList(q.Get("favicon"))
	if v := q.Get("not_seen_for_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			f.badParam(w, "not_seen_for_days")
			return flt, false
		}
		flt.notSeen = n
	}
	if v := q.Get("time"); v != "" {
		d, known := timeRanges[v]
		if !known {
			f.badParam(w, "time")
			return flt, false
		}
		flt.maxAge = d
	}
	for _, p := range []struct {
		name string
		dst  **bool
	}{{"is_internal", &flt.internal}, {"is_tech", &flt.tech}, {"is_favicon", &flt.favicon}, {"is_new", &flt.isNew}, {"is_screenshot", &flt.screenshot}} {
		if v := q.Get(p.name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				f.badParam(w, p.name)
				return flt, false
			}
			*p.dst = &b
		}
	}
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"only_dns", &flt.onlyDNS}, {"only_ip", &flt.onlyIP}} {
		if v := q.Get(p.name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				f.badParam(w, p.name)
				return flt, false
			}
			*p.dst = b
		}
	}
	return flt, true
}

// item is an EnumerationContent with the fields the fake knows.
type item struct {
	EnumerationID string   `json:"enumeration_id"`
	Name          string   `json:"name"`
	CreatedAt     string   `json:"created_at"`
	UpdatedAt     string   `json:"updated_at"`
	ID            int64    `json:"id"`
	Labels        []string `json:"labels"`
	Host          string   `json:"host"`
	Port          int      `json:"port"`
	IsNew         bool     `json:"is_new"`
	IsInternal    bool     `json:"is_internal"`
	DomainName    string   `json:"domain_name"`
	IP            []string `json:"ip"`
	CName         []string `json:"cname,omitempty"`
	Technologies  []string `json:"technologies"`
	Title         string   `json:"title"`
	StatusCode    int      `json:"status_code"`
	ContentLength int      `json:"content_length"`
	Favicon       string   `json:"favicon"`
}

// list serves GET /v1/asset/enumerate/contents.
func (f *Fake) list(w http.ResponseWriter, r *http.Request, o *Options) {
	if r.Method != http.MethodGet {
		f.methodNotAllowed(w, "GET")
		return
	}
	if !f.authorized(w, r, o) {
		return
	}
	n := f.listCalls.Add(1)
	if chance(o.Seed, n, 0, saltListFail, o.ListFailFraction) {
		if o.ListThrottle {
			f.throttled.Add(1)
			ra := o.RetryAfter
			if ra == "" {
				ra = "1"
			}
			w.Header().Set("Retry-After", ra)
			f.write(w, http.StatusTooManyRequests, bodyThrottled)
			return
		}
		f.write(w, http.StatusInternalServerError, errorBody(500, "Internal Server Error", "INTERNAL_ERROR"))
		return
	}
	q := r.URL.Query()
	offset, limit := 0, defaultLimit
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			f.badParam(w, "offset")
			return
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			f.badParam(w, "limit")
			return
		}
		limit = min(n, maxLimit)
	}
	if o.ListLimitCap > 0 {
		limit = min(limit, o.ListLimitCap)
	}
	order, ok := f.listOrder(w, q)
	if !ok {
		return
	}
	flt, ok := f.parseFilter(w, q)
	if !ok {
		return
	}
	var items []item
	if flt.empty() {
		// No filter: the page is a slice of the order, found in O(1).
		items = make([]item, 0, max(0, min(limit, len(order)-offset)))
		for i := offset; i < len(order) && len(items) < limit; i++ {
			id := order[i]
			a := f.lookup(id)
			l := f.lock(id)
			l.Lock()
			it := f.item(id, a)
			l.Unlock()
			items = append(items, it)
		}
	} else {
		items = make([]item, 0, min(limit, 128))
		for _, id := range order {
			a := f.lookup(id)
			l := f.lock(id)
			l.Lock()
			if !f.match(id, a, &flt) {
				l.Unlock()
				continue
			}
			if offset > 0 {
				offset--
				l.Unlock()
				continue
			}
			it := f.item(id, a)
			l.Unlock()
			items = append(items, it)
			if len(items) == limit {
				break
			}
		}
	}
	f.write(w, http.StatusOK, appendPage(make([]byte, 0, 64+512*len(items)), items))
}

// empty reports whether flt matches every asset.
func (flt *filter) empty() bool {
	return len(flt.labels) == 0 && flt.search == "" && len(flt.hosts) == 0 && len(flt.domains) == 0 &&
		flt.notSeen == 0 && flt.maxAge == 0 && flt.internal == nil && !flt.hasAttrs() &&
		flt.tech == nil && flt.favicon == nil && flt.isNew == nil && flt.screenshot == nil && !flt.onlyDNS && !flt.onlyIP &&
		flt.from.IsZero() && flt.to.IsZero() && len(flt.enums) == 0
}

// sortFields are the sort_asc/sort_desc fields the fake orders by; the
// spec documents the parameters as comma-separated field names
// ("created_at,name"), and a field the fake cannot order by answers 400
// rather than being silently ignored.
var sortFields = map[string]bool{"created_at": true, "id": true}

// listOrder returns the IDs in the order sort_asc/sort_desc ask for: by ID
// without them; by created_at, then ID, with created_at (oldest first for
// sort_asc, the exact reverse for sort_desc). The orders are built once:
// no page copies the inventory.
func (f *Fake) listOrder(w http.ResponseWriter, q url.Values) ([]int64, bool) {
	asc, desc := q.Get("sort_asc"), q.Get("sort_desc")
	if asc != "" && desc != "" {
		f.badParam(w, "sort_desc")
		return nil, false
	}
	name, spec := "sort_asc", asc
	if desc != "" {
		name, spec = "sort_desc", desc
	}
	if spec == "" {
		return f.order, true
	}
	fields := strings.Split(spec, ",")
	for _, fl := range fields {
		if !sortFields[strings.TrimSpace(fl)] {
			f.badParam(w, name)
			return nil, false
		}
	}
	if strings.TrimSpace(fields[0]) == "id" {
		if desc != "" {
			return f.idDesc(), true
		}
		return f.order, true
	}
	if desc != "" {
		return f.createdDesc(), true
	}
	return f.createdAsc(), true
}

func (f *Fake) createdAsc() []int64 {
	f.sortOnce.Do(f.buildOrders)
	return f.byCreated
}

func (f *Fake) createdDesc() []int64 {
	f.sortOnce.Do(f.buildOrders)
	return f.byCreatedDesc
}

func (f *Fake) idDesc() []int64 {
	f.sortOnce.Do(f.buildOrders)
	return f.byIDDesc
}

// buildOrders sorts the seeded IDs by creation (an asset's age never
// changes, so the orders hold for the Fake's life).
func (f *Fake) buildOrders() {
	f.byCreated = slices.Clone(f.order)
	slices.SortStableFunc(f.byCreated, func(x, y int64) int {
		// created counts days before epoch: larger is older, first.
		return int(f.lookup(y).created) - int(f.lookup(x).created)
	})
	f.byCreatedDesc = slices.Clone(f.byCreated)
	slices.Reverse(f.byCreatedDesc)
	f.byIDDesc = slices.Clone(f.order)
	slices.Reverse(f.byIDDesc)
}

func (f *Fake) item(id int64, a *asset) item {
	host := f.hostOf(id, a)
	at := f.attrsOf(id, a)
	var cname []string
	if at.cname != "" {
		cname = []string{at.cname}
	}
	created := f.epoch.Add(-time.Duration(a.created) * 24 * time.Hour)
	seen := f.epoch.Add(-time.Duration(a.lastSeen) * 24 * time.Hour)
	if seen.Before(created) {
		seen = created
	}
	return item{
		EnumerationID: enumerationOf(id),
		Name:          "https://" + host,
		CreatedAt:     created.Format(time.RFC3339),
		UpdatedAt:     seen.Format(time.RFC3339),
		ID:            id,
		Labels:        a.labels(f.vocab),
		Host:          host,
		Port:          at.port,
		IsNew:         assetIsNew,
		IsInternal:    a.internal,
		DomainName:    host[strings.IndexByte(host, '.')+1:],
		IP:            []string{at.ip},
		CName:         cname,
		Technologies:  at.technologies,
		Title:         at.title,
		StatusCode:    at.statusCode,
		ContentLength: at.contentLength,
		Favicon:       at.favicon,
	}
}
