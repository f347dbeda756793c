package client

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Version is the labelreset version sent in the User-Agent header. It is
// stamped at build time with
// -ldflags "-X github.com/labelreset/labelreset/client.Version=v1.2.3".
var Version = "dev"

// Defaults applied by [New] to zero fields of [Config].
const (
	DefaultServer   = "https://api.projectdiscovery.io"
	DefaultTimeout  = 30 * time.Second
	DefaultMaxConns = 64
)

// Environment variables read by [ResolveConfig]; the names are the ones
// ProjectDiscovery's own tools use.
const (
	EnvAPIKey = "PDCP_API_KEY"
	EnvServer = "PDCP_API_SERVER"
	EnvTeamID = "PDCP_TEAM_ID"
)

// ErrNoAPIKey is returned when no API key was configured anywhere.
var ErrNoAPIKey = errors.New("no PDCP API key configured: set the " + EnvAPIKey +
	" environment variable, pass the API key flag, or add api-key to ~/.pdcp/credentials.yaml " +
	"(get a key at https://cloud.projectdiscovery.io/settings/api-key)")

// ErrConfig is wrapped by every configuration error other than ErrNoAPIKey,
// so callers can map all of them to one exit code with errors.Is.
var ErrConfig = errors.New("invalid PDCP client configuration")

// Config configures a [Client]. The zero value of every field except APIKey
// is usable and means the documented default.
type Config struct {
	// APIKey is sent as X-Api-Key. Required. It never appears in errors or
	// in the formatted Config.
	APIKey string
	// Server is the API base URL. Default DefaultServer. A path prefix is
	// kept. http:// is refused unless the host is loopback or
	// AllowInsecureHTTP is set.
	Server string
	// TeamID is sent as X-Team-Id; omitted when empty.
	TeamID string
	// Timeout bounds one HTTP exchange including reading the body.
	// Default DefaultTimeout (30s).
	Timeout time.Duration
	// MaxConns is the connection pool size per host (idle and total).
	// Callers set it to their concurrency. Default DefaultMaxConns (64).
	MaxConns int
	// UserAgent overrides the User-Agent header. Default "labelreset/"+Version.
	UserAgent string
	// AllowInsecureHTTP permits http:// to non-loopback hosts. Default false.
	AllowInsecureHTTP bool
	// Transport replaces the built-in pooled transport (for tests). When
	// set, MaxConns is not applied.
	Transport http.RoundTripper
}

// Validate reports the first problem of c with an actionable message. Zero
// fields are valid where a default exists.
func (c Config) Validate() error {
	if c.APIKey == "" {
		return ErrNoAPIKey
	}
	if hasCtl(c.APIKey) {
		// Never echo the key: it may be a pasted secret with a newline.
		return fmt.Errorf("%w: the API key contains control characters or spaces (check for a trailing newline)", ErrConfig)
	}
	if !ValidTeamID(c.TeamID) {
		return fmt.Errorf("%w: the team ID contains control characters or spaces", ErrConfig)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%w: timeout %v is negative", ErrConfig, c.Timeout)
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("%w: max connections %d is negative", ErrConfig, c.MaxConns)
	}
	if hasCtl(strings.ReplaceAll(c.UserAgent, " ", "")) {
		return fmt.Errorf("%w: the user agent contains control characters", ErrConfig)
	}
	_, err := c.serverURL()
	return err
}

// serverURL parses and checks Server (or the default).
func (c Config) serverURL() (*url.URL, error) {
	s := c.Server
	if s == "" {
		s = DefaultServer
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: server %q is not a URL", ErrConfig, displayServer(s))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: server %q must start with https://", ErrConfig, displayServer(s))
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%w: server %q has no host", ErrConfig, displayServer(s))
	case u.User != nil:
		return nil, fmt.Errorf("%w: server URL must not contain credentials; use the API key setting", ErrConfig)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w: server %q must not have a query or fragment", ErrConfig, displayServer(s))
	case u.Scheme == "http" && !c.AllowInsecureHTTP && !isLoopback(u.Hostname()):
		return nil, fmt.Errorf("%w: refusing plain http:// to %s: the API key would travel unencrypted; use https:// or allow insecure HTTP explicitly", ErrConfig, u.Host)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// String describes c without the API key.
func (c Config) String() string {
	key := "unset"
	if c.APIKey != "" {
		key = "set"
	}
	return "client.Config{Server: " + c.Server + ", TeamID: " + c.TeamID + ", APIKey: " + key + "}"
}

// Format implements fmt.Formatter so that no verb (%v, %+v, %#v, %d, %x...)
// can print the API key.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// ValidTeamID reports whether id can be sent as the X-Team-Id header: no
// spaces or control characters. Producers check it when a campaign is
// defined, so a bad team ID is refused at submit, not by every worker.
func ValidTeamID(id string) bool { return !hasCtl(id) }

func hasCtl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DefaultCredentialsPath returns ~/.pdcp/credentials.yaml, the file that
// ProjectDiscovery's tools (pdtm, nuclei -auth) write, or "" when the home
// directory is unknown.
func DefaultCredentialsPath() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".pdcp", "credentials.yaml")
}

// ResolveTeamID resolves the team ID alone, in ResolveConfig's order: flag,
// then PDCP_TEAM_ID (getenv; nil means os.Getenv), then the credentials file
// ("" skips it; a missing file is not an error). Campaign producers use it
// to record the team a campaign is for when they need no API key
// themselves: the workers send the recorded team, not their own.
func ResolveTeamID(flag string, getenv func(string) string, credentialsPath string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := strings.TrimSpace(getenv(EnvTeamID)); v != "" || credentialsPath == "" {
		return v, nil
	}
	cred, err := readCredentials(credentialsPath)
	return cred.TeamID, err
}

// ResolveConfig fills APIKey, Server and TeamID of flags, field by field,
// from the first source that sets them: flags, then the environment
// (PDCP_API_KEY, PDCP_API_SERVER, PDCP_TEAM_ID via getenv; nil means
// os.Getenv), then the credentials file at credentialsPath ("" skips it; a
// missing file is not an error). Server defaults to DefaultServer. Other
// fields are taken from flags unchanged. The result is validated; a missing
// key yields ErrNoAPIKey. The file is read only when needed; an unreadable or
// malformed file is an error naming the file but never quoting it.
func ResolveConfig(flags Config, getenv func(string) string, credentialsPath string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := flags
	pick := func(dst *string, env string) {
		if *dst == "" {
			*dst = strings.TrimSpace(getenv(env))
		}
	}
	pick(&cfg.APIKey, EnvAPIKey)
	pick(&cfg.Server, EnvServer)
	pick(&cfg.TeamID, EnvTeamID)
	if (cfg.APIKey == "" || cfg.Server == "" || cfg.TeamID == "") && credentialsPath != "" {
		cred, err := readCredentials(credentialsPath)
		if err != nil {
			return Config{}, err
		}
		if cfg.APIKey == "" {
			cfg.APIKey = cred.APIKey
		}
		if cfg.Server == "" {
			cfg.Server = cred.Server
		}
		if cfg.TeamID == "" {
			cfg.TeamID = cred.TeamID
		}
	}
	if cfg.Server == "" {
		cfg.Server = DefaultServer
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// credentials is one entry of ~/.pdcp/credentials.yaml.
type credentials struct {
	APIKey string `yaml:"api-key"`
	Server string `yaml:"server"`
	TeamID string `yaml:"team-id"`
}

// maxCredentialsSize bounds the credentials file; real ones are ~200 bytes.
const maxCredentialsSize = 1 << 20

// readCredentials reads the first entry of a ProjectDiscovery credentials
// file. It accepts the official list form and, leniently, a single mapping.
// YAML errors are not wrapped because they quote the offending content.
func readCredentials(path string) (credentials, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return credentials{}, nil
	}
	if err != nil {
		return credentials{}, fmt.Errorf("%w: cannot read credentials file %s: %w", ErrConfig, path, errors.Unwrap(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialsSize+1))
	if err != nil {
		return credentials{}, fmt.Errorf("%w: cannot read credentials file %s", ErrConfig, path)
	}
	malformed := fmt.Errorf("%w: credentials file %s is malformed: expected a YAML list whose first entry has api-key (and optionally server, team-id)", ErrConfig, path)
	if len(data) > maxCredentialsSize {
		return credentials{}, malformed
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return credentials{}, nil
	}
	var list []credentials
	if err := yaml.Unmarshal(data, &list); err != nil {
		var one credentials
		if err := yaml.Unmarshal(data, &one); err != nil {
			return credentials{}, malformed
		}
		list = []credentials{one}
	}
	if len(list) == 0 {
		return credentials{}, nil
	}
	c := list[0]
	c.APIKey = strings.TrimSpace(c.APIKey)
	c.Server = strings.TrimSpace(c.Server)
	c.TeamID = strings.TrimSpace(c.TeamID)
	return c, nil
}

// NormalizeServer returns the canonical form of an API server URL ("" means
// DefaultServer): scheme and host in lower case, the host's trailing dot
// and the scheme's default port dropped, no trailing slash. Campaigns
// record the server they were planned against in this form, and workers
// compare theirs with it, so that
// "https://API.example.com:443/" and "https://api.example.com" are one
// server.
func NormalizeServer(s string) (string, error) {
	if s = strings.TrimSpace(s); s == "" {
		s = DefaultServer
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: server %q: want http(s)://host[:port][/path]", ErrConfig, displayServer(s))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	// "api.example.com." is the fully qualified spelling of the same host.
	host, port := strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), u.Port()
	if host == "" {
		return "", fmt.Errorf("%w: server %q: want http(s)://host[:port][/path]", ErrConfig, displayServer(s))
	}
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// ResolveServer resolves the API server alone, in ResolveConfig's order
// (flag, PDCP_API_SERVER, the credentials file, DefaultServer), normalized
// by NormalizeServer. Campaign producers record it without needing the
// API key.
func ResolveServer(flag string, getenv func(string) string, credentialsPath string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	s := strings.TrimSpace(flag)
	if s == "" {
		s = strings.TrimSpace(getenv(EnvServer))
	}
	if s == "" && credentialsPath != "" {
		cred, err := readCredentials(credentialsPath)
		if err != nil {
			return "", err
		}
		s = cred.Server
	}
	return NormalizeServer(s)
}
