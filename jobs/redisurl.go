package jobs

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ParseRedisURL parses the --redis / REDIS_URL forms:
//
//	redis://[user:password@]host:port[/db][?option=value...]
//	rediss://...                                   (TLS, verification on)
//	redis-sentinel://[user:password@]host:port[,host:port...]/master-name[/db][?option=value...]
//	rediss-sentinel://...                          (TLS to the sentinels and the master)
//	redis-cluster://[user:password@]host:port[,host:port...][?option=value...]
//	rediss-cluster://...                           (TLS to every node)
//
// go-redis parses each form (ParseURL, ParseFailoverURL, ParseClusterURL),
// so its query options (dial_timeout=3s, pool_size=20, ...) work in all of
// them. A sentinel without a port is on 26379, a cluster node on 6379. The
// password authenticates to the master and to the sentinels alike; it is
// taken from the user info only (a password= option is refused), so that
// RedactURL hides it wherever the URL is printed. Errors never repeat it:
// go-redis never sees it.
func ParseRedisURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redis URL %s: not a URL", RedactURL(raw))
	}
	o, err := parseRedisURL(u)
	if err != nil {
		return nil, fmt.Errorf("redis URL %s: %s", RedactURL(raw), strings.TrimPrefix(err.Error(), "redis: "))
	}
	return o, nil
}

func parseRedisURL(u *url.URL) (*redis.UniversalOptions, error) {
	for name := range u.Query() {
		if n := strings.ToLower(name); strings.Contains(n, "password") || strings.Contains(n, "username") {
			return nil, fmt.Errorf("option %s: put the credentials in the URL's user info (scheme://user:password@host)", name)
		}
	}
	base, sentinel := strings.CutSuffix(u.Scheme, "-sentinel")
	base, cluster := strings.CutSuffix(base, "-cluster")
	if base != "redis" && base != "rediss" || sentinel && cluster {
		return nil, errors.New("scheme must be redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster")
	}
	// go-redis's parsers get the URL without its user info, so that none
	// of their errors can hold the password.
	bare := *u
	bare.User = nil
	bare.Scheme = base
	var o *redis.UniversalOptions
	var err error
	switch {
	case sentinel:
		o, err = parseSentinelURL(&bare)
	case cluster:
		o, err = parseClusterURL(&bare)
	default:
		o, err = parseStandaloneURL(&bare)
	}
	if err != nil {
		return nil, err
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	if sentinel {
		o.SentinelPassword = o.Password
	}
	if (sentinel || cluster) && o.TLSConfig != nil {
		// go-redis names the first host as the server of every
		// connection; with it unset each node's certificate is checked
		// against the address dialled, which is that node's own.
		o.TLSConfig.ServerName = ""
	}
	return o, nil
}

func parseStandaloneURL(u *url.URL) (*redis.UniversalOptions, error) {
	ro, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, err
	}
	o := &redis.UniversalOptions{}
	if err := copyOptions(o, ro, "Addr", "Network"); err != nil {
		return nil, err
	}
	o.Addrs = []string{ro.Addr}
	return o, nil
}

// parseSentinelURL reads host,host.../master[/db] as go-redis's failover
// form: the master name and the database as options.
func parseSentinelURL(u *url.URL) (*redis.UniversalOptions, error) {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if parts[0] == "" || len(parts) > 2 {
		return nil, errors.New("a sentinel URL needs the master name as path, then an optional database (redis-sentinel://host:26379/mymaster/0)")
	}
	q := u.Query()
	q.Set("master_name", parts[0])
	if len(parts) == 2 {
		if _, err := strconv.Atoi(parts[1]); err != nil {
			return nil, fmt.Errorf("database %q is not a number", parts[1])
		}
		q.Set("db", parts[1])
	}
	gu, err := goRedisURL(u.Scheme, u.Host, "26379", q)
	if err != nil {
		return nil, err
	}
	fo, err := redis.ParseFailoverURL(gu)
	if err != nil {
		return nil, err
	}
	o := &redis.UniversalOptions{}
	if err := copyOptions(o, fo, "SentinelAddrs"); err != nil {
		return nil, err
	}
	o.Addrs = fo.SentinelAddrs
	return o, nil
}

func parseClusterURL(u *url.URL) (*redis.UniversalOptions, error) {
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("path %q: a cluster has one database, 0", u.Path)
	}
	gu, err := goRedisURL(u.Scheme, u.Host, "6379", u.Query())
	if err != nil {
		return nil, err
	}
	co, err := redis.ParseClusterURL(gu)
	if err != nil {
		return nil, err
	}
	o := &redis.UniversalOptions{IsClusterMode: true}
	if err := copyOptions(o, co, "Addrs"); err != nil {
		return nil, err
	}
	o.Addrs = co.Addrs
	return o, nil
}

// goRedisURL spells a comma-separated host list in the form go-redis's
// multi-host parsers read: the first host in the URL, the others as addr
// options (before any the URL had), each with a port.
func goRedisURL(scheme, hosts, defaultPort string, q url.Values) (string, error) {
	list := strings.Split(hosts, ",")
	for i, h := range list {
		if h == "" {
			return "", errors.New("empty host in the host list")
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			list[i] = net.JoinHostPort(strings.Trim(h, "[]"), defaultPort)
		}
	}
	q = maps.Clone(q)
	q["addr"] = append(list[1:], q["addr"]...)
	return (&url.URL{Scheme: scheme, Host: list[0], RawQuery: q.Encode()}).String(), nil
}

// copyOptions copies every field of go-redis options src (a *Options,
// *FailoverOptions or *ClusterOptions) into the field of dst with the
// same name and type, so that every query option go-redis parsed reaches
// the client. A field that is set in src and has no such field in dst
// (apart from the handled ones) is an error, not a silently lost option.
func copyOptions(dst *redis.UniversalOptions, src any, handled ...string) error {
	d := reflect.ValueOf(dst).Elem()
	s := reflect.ValueOf(src).Elem()
	for i := range s.NumField() {
		f := s.Type().Field(i)
		if !f.IsExported() || s.Field(i).IsZero() {
			continue
		}
		if df := d.FieldByName(f.Name); df.IsValid() && df.Type() == f.Type {
			df.Set(s.Field(i))
		} else if !slices.Contains(handled, f.Name) {
			return fmt.Errorf("option %s: labelreset cannot pass it on (its client has no such setting)", f.Name)
		}
	}
	return nil
}

// RedactURL hides the password of a URL for messages and logs: the one of
// the user info, and the value of any option whose name says password
// (ParseRedisURL refuses those, and says so with the URL redacted).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if q := u.Query(); len(q) > 0 {
		hidden := false
		for name := range q {
			if strings.Contains(strings.ToLower(name), "password") {
				q.Set(name, "xxxxx")
				hidden = true
			}
		}
		if hidden {
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}
