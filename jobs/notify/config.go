// The operator's notifiers: the file that names them and its checks.

package notify

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/labelreset/labelreset/jobs"
)

// Notifier is one receiver of notifications.
type Notifier struct {
	// Name is what campaigns and schedules refer to
	// ([a-z0-9][a-z0-9-_]{0,62}).
	Name string
	// URL receives the POSTs: https, or http (for a receiver on the
	// same host or network, and for tests).
	URL string
	// Secret keys the HMAC-SHA256 signature of each body. Never logged,
	// never in an error.
	Secret string
}

// Config is the set of notifiers a process knows.
type Config struct {
	Notifiers []Notifier
}

// MaxConfigBytes bounds the size of a notifiers file.
const MaxConfigBytes = 1 << 20

// Validate checks every notifier: a valid and unique name, an absolute
// http(s) URL without credentials, a secret.
func (c *Config) Validate() error {
	seen := map[string]bool{}
	for i, n := range c.Notifiers {
		if err := jobs.ValidateNotifierName(n.Name); err != nil {
			return fmt.Errorf("notifier %d: %w", i+1, err)
		}
		if seen[n.Name] {
			return fmt.Errorf("notifier %q defined twice", n.Name)
		}
		seen[n.Name] = true
		if err := checkURL(n.URL); err != nil {
			return fmt.Errorf("notifier %q: %w", n.Name, err)
		}
		if n.Secret == "" {
			return fmt.Errorf("notifier %q: no secret: set secret_file or secret_env", n.Name)
		}
	}
	return nil
}

// checkURL accepts absolute http and https URLs without user info: a
// password in the URL would end up in logs that print the URL. Its errors
// name the scheme and host at most: a webhook URL often carries its token
// in the path or the query.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error quotes the whole URL
		}
		return fmt.Errorf("url: not a valid URL: %w", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("url of scheme %q: want an http or https URL", u.Scheme)
	case u.Host == "":
		return fmt.Errorf("url of scheme %s: no host", u.Scheme)
	case u.User != nil:
		return fmt.Errorf("url of host %s: credentials in the URL are not allowed; the receiver checks the signature", u.Host)
	}
	return nil
}

// Names returns the names of the notifiers, sorted.
func (c *Config) Names() []string {
	out := make([]string, 0, len(c.Notifiers))
	for _, n := range c.Notifiers {
		out = append(out, n.Name)
	}
	slices.Sort(out)
	return out
}

// ErrUnknownNotifier is returned by Check for a name no notifier has.
var ErrUnknownNotifier = errors.New("unknown notifier")

// Check returns an error naming the first of names that c does not
// define, and the names it does: what a campaign or schedule is checked
// with before it is stored. A nil Config knows no notifier.
func (c *Config) Check(names []string) error {
	if len(names) == 0 {
		return nil
	}
	if err := jobs.ValidateNotify(names); err != nil {
		return err
	}
	var known []string
	if c != nil {
		known = c.Names()
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			if len(known) == 0 {
				return fmt.Errorf("notifier %q: %w: no notifiers are configured (--notifiers FILE)", n, ErrUnknownNotifier)
			}
			return fmt.Errorf("notifier %q: %w; known: %s", n, ErrUnknownNotifier, strings.Join(known, ", "))
		}
	}
	return nil
}

// fileNotifier is one entry of a notifiers file. The secret is never in
// the file itself (which may be committed): it is read from a file or
// an environment variable.
type fileNotifier struct {
	Name       string `yaml:"name"`
	URL        string `yaml:"url"`
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
}

// LoadFile reads a notifiers file:
//
//	notifiers:
//	  - name: ops
//	    url: https://hooks.example.com/labelreset
//	    secret_file: /run/secrets/labelreset-ops   # or secret_env: OPS_HOOK_SECRET
//
// Errors name the file and the line of the notifier, never a secret. A
// secret_file is read whole, without its trailing line break.
func LoadFile(path string) (*Config, error) { return load(path, true) }

// LoadNames reads the notifiers of a notifiers file without their
// secrets (Secret is empty): what a process that only checks the names a
// campaign gives (Check), and sends nothing, needs.
func LoadNames(path string) (*Config, error) { return load(path, false) }

func load(path string, secrets bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notifiers file: %w", err)
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("notifiers file %s: %d bytes, want at most %d", path, len(data), MaxConfigBytes)
	}
	var doc struct {
		Notifiers []yaml.Node `yaml:"notifiers"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("notifiers file %s: %w", path, err)
	}
	cfg := &Config{}
	for _, node := range doc.Notifiers {
		if err := checkKeys(&node); err != nil {
			return nil, fmt.Errorf("notifiers file %s line %d: %w", path, node.Line, err)
		}
		var fn fileNotifier
		if err := node.Decode(&fn); err != nil {
			return nil, fmt.Errorf("notifiers file %s line %d: %w", path, node.Line, err)
		}
		n := Notifier{Name: fn.Name, URL: fn.URL}
		switch {
		case !secrets:
			n.Secret = "-" // not read: Validate checks the rest
		case fn.SecretFile != "" && fn.SecretEnv != "":
			return nil, fmt.Errorf("notifiers file %s line %d: notifier %q: set secret_file or secret_env, not both", path, node.Line, fn.Name)
		case fn.SecretFile != "":
			b, err := os.ReadFile(fn.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("notifiers file %s line %d: notifier %q: secret_file: %w", path, node.Line, fn.Name, err)
			}
			n.Secret = strings.TrimRight(string(b), "\r\n")
		case fn.SecretEnv != "":
			n.Secret = os.Getenv(fn.SecretEnv)
			if n.Secret == "" {
				return nil, fmt.Errorf("notifiers file %s line %d: notifier %q: environment variable %s is empty or unset", path, node.Line, fn.Name, fn.SecretEnv)
			}
		}
		one := Config{Notifiers: []Notifier{n}}
		if err := one.Validate(); err != nil {
			return nil, fmt.Errorf("notifiers file %s line %d: %w", path, node.Line, err)
		}
		cfg.Notifiers = append(cfg.Notifiers, n)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("notifiers file %s: %w", path, err)
	}
	if !secrets {
		for i := range cfg.Notifiers {
			cfg.Notifiers[i].Secret = ""
		}
	}
	return cfg, nil
}

// checkKeys refuses unknown keys in a notifier's mapping, and a "secret"
// key above all: a secret written into the file is a secret committed
// with it. (yaml.v3's KnownFields does not reach into nodes decoded on
// their own.)
func checkKeys(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("want a mapping with name, url and secret_file or secret_env")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i].Value; k {
		case "name", "url", "secret_file", "secret_env":
		case "secret":
			return errors.New("the secret is not allowed in the file: use secret_file or secret_env")
		default:
			return fmt.Errorf("unknown field %q (want name, url, secret_file, secret_env)", k)
		}
	}
	return nil
}
