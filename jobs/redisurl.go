package jobs

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ParseRedisURL parses the --redis / REDIS_URL forms:
//
//	redis://[user:password@]host:port[/db]
//	rediss://...                                  (TLS, verification on)
//	redis-sentinel://[:password@]host:port[,host:port...]/master-name[/db]
//	redis-cluster://[:password@]host:port[,host:port...]
//
// Errors never repeat the password.
func ParseRedisURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redis URL %s: not a URL", RedactURL(raw))
	}
	switch u.Scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("redis URL %s: %s", RedactURL(raw), strings.ReplaceAll(err.Error(), raw, RedactURL(raw)))
		}
		return &redis.UniversalOptions{
			Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		}, nil
	case "redis-sentinel", "redis-cluster":
		o := &redis.UniversalOptions{Addrs: strings.Split(u.Host, ",")}
		if u.User != nil {
			o.Username = u.User.Username()
			o.Password, _ = u.User.Password()
		}
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if u.Scheme == "redis-sentinel" {
			if parts[0] == "" {
				return nil, fmt.Errorf("redis URL %s: sentinel URL needs the master name as path (redis-sentinel://host:26379/mymaster)", RedactURL(raw))
			}
			o.MasterName = parts[0]
			// The password authenticates to the master; sentinels here
			// are assumed to share it (set SentinelPassword the same).
			o.SentinelPassword = o.Password
			if len(parts) > 1 {
				db, err := strconv.Atoi(parts[1])
				if err != nil {
					return nil, fmt.Errorf("redis URL %s: database %q is not a number", RedactURL(raw), parts[1])
				}
				o.DB = db
			}
		} else {
			o.IsClusterMode = true
		}
		return o, nil
	}
	return nil, fmt.Errorf("redis URL %s: scheme must be redis, rediss, redis-sentinel or redis-cluster", RedactURL(raw))
}

// RedactURL hides the password of a URL for messages and logs.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
