package httpapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/labelreset/labelreset/jobs"
)

// Role is what a token may do. A token holds a set of roles.
type Role string

// Roles. Every role may read the campaigns of its teams; operator and
// approver add the actions below.
const (
	// RoleViewer reads: list, status, report, events.
	RoleViewer Role = "viewer"
	// RoleOperator creates campaigns and pauses, resumes, cancels and
	// retries them.
	RoleOperator Role = "operator"
	// RoleApprover approves pending campaigns, never one its own token
	// created unless the token file says self_approve: true.
	RoleApprover Role = "approver"
)

// AllTeams in a token's teams lets it act for every team, including
// campaigns without a team ID.
const AllTeams = "*"

// Principal is who a request acts for: one entry of the token file. It
// carries no secret, only the token's digest.
type Principal struct {
	// Name identifies the token in the audit log ("api:NAME") and in the
	// server's log.
	Name  string
	roles []Role
	// teams are the team IDs the token may see and act on; AllTeams
	// means all.
	teams       []string
	selfApprove bool
	// owner is recorded on campaigns the token creates, to tell the
	// creator at approval: "api:NAME", or for a token of the plain list
	// the "tok:<12 hex>" that earlier versions recorded (which also keeps
	// their Idempotency-Keys).
	owner  string
	digest [sha256.Size]byte
	// legacy: a token of the plain list format, operator and approver of
	// every team.
	legacy bool
}

// Actor is the identity state changes are recorded under.
func (p *Principal) Actor() string { return "api:" + p.Name }

// Has reports whether the principal may do what role allows. Reading is
// open to every role: an approver must see what it approves.
func (p *Principal) Has(r Role) bool {
	return r == RoleViewer || slices.Contains(p.roles, r)
}

// AllowsTeam reports whether the principal may see and act on campaigns
// of team ("" is the campaigns without a team ID, which only an all-teams
// token reaches).
func (p *Principal) AllowsTeam(team string) bool {
	return slices.Contains(p.teams, AllTeams) || (team != "" && slices.Contains(p.teams, team))
}

// tokenSet is the accepted tokens at one time. It is replaced whole on a
// reload, never changed.
type tokenSet struct {
	principals []*Principal
	// legacy counts tokens of the plain list format, which act as
	// operator and approver for every team.
	legacy int
	// plaintext: the file holds tokens themselves (the plain list format
	// or token: entries), not only token_sha256 digests.
	plaintext bool
}

// match returns the principal of tok, or nil. It compares against every
// token, without stopping at a match, in constant time per token, on
// fixed-length digests so that the time does not depend on the configured
// tokens' lengths.
func (ts *tokenSet) match(tok string) *Principal {
	d := tokenDigest(tok)
	var found *Principal
	for _, p := range ts.principals {
		if subtle.ConstantTimeCompare(d[:], p.digest[:]) == 1 {
			found = p
		}
	}
	return found
}

// legacyPrincipal is a token of the plain list: what every token could do
// before roles existed.
func legacyPrincipal(tok string) *Principal {
	o := ownerID(tok)
	return &Principal{Name: o, roles: []Role{RoleOperator, RoleApprover}, teams: []string{AllTeams},
		selfApprove: true, owner: o, digest: tokenDigest(tok), legacy: true}
}

// tokenFile is the structured token file (YAML, or JSON which is YAML).
type tokenFile struct {
	Tokens []tokenEntry `yaml:"tokens"`
}

type tokenEntry struct {
	Name string `yaml:"name"`
	// Token or TokenSHA256 (hex of the SHA-256 of the token): the digest
	// keeps the secret itself out of the file.
	Token       string   `yaml:"token"`
	TokenSHA256 string   `yaml:"token_sha256"`
	Roles       []Role   `yaml:"roles"`
	Teams       []string `yaml:"teams"`
	SelfApprove bool     `yaml:"self_approve"`
}

// isStructured tells the structured format from the plain list: its first
// line that is neither blank nor a comment opens a mapping.
func isStructured(b []byte) bool {
	for line := range strings.Lines(string(b)) {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		return strings.HasPrefix(l, "{") || strings.HasPrefix(l, "tokens:")
	}
	return false
}

// parseTokenFile reads a token file of either format. Errors name the
// entry, never a token.
func parseTokenFile(path string, b []byte) (*tokenSet, error) {
	if !isStructured(b) {
		toks, err := parsePlainTokens(path, b)
		if err != nil {
			return nil, err
		}
		ts := &tokenSet{legacy: len(toks), plaintext: true}
		for i, t := range toks {
			if err := checkToken(t); err != nil {
				return nil, fmt.Errorf("API token file %s: token %d of %d: %w", path, i+1, len(toks), err)
			}
			ts.principals = append(ts.principals, legacyPrincipal(t))
		}
		return ts, nil
	}
	var f tokenFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		// yaml errors quote lines of the file, which may hold a token.
		return nil, fmt.Errorf("API token file %s: not valid YAML/JSON of the form tokens: [{name, token_sha256, roles, teams}] (%s)",
			path, redactYAMLError(err))
	}
	if len(f.Tokens) == 0 {
		return nil, fmt.Errorf("API token file %s holds no token", path)
	}
	ts := &tokenSet{}
	// Names are unique ignoring case: "Op" and "op" would read as one
	// actor in the audit log.
	names := map[string]bool{}
	digests := map[[sha256.Size]byte]bool{}
	for i, e := range f.Tokens {
		p, err := e.principal()
		if err != nil {
			return nil, fmt.Errorf("API token file %s: entry %d (%q): %w", path, i+1, e.Name, err)
		}
		if names[strings.ToLower(p.Name)] {
			return nil, fmt.Errorf("API token file %s: entry %d: name %q is used twice (names are compared ignoring case)", path, i+1, p.Name)
		}
		if digests[p.digest] {
			return nil, fmt.Errorf("API token file %s: entry %d (%q): the same token is listed twice", path, i+1, p.Name)
		}
		names[strings.ToLower(p.Name)], digests[p.digest] = true, true
		ts.principals = append(ts.principals, p)
		ts.plaintext = ts.plaintext || e.Token != ""
	}
	return ts, nil
}

// redactYAMLError keeps the line number of a YAML error and drops the
// quoted value.
func redactYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			out[i], _, _ = strings.Cut(e, ":")
			if strings.Contains(e, "not found in type") {
				// "field X not found in type": the key is not a secret.
				out[i] = e
			}
		}
		return strings.Join(out, "; ")
	}
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		l, _, _ := strings.Cut(msg[i:], ":")
		return l
	}
	return "syntax error"
}

func (e tokenEntry) principal() (*Principal, error) {
	if !validName(e.Name) {
		return nil, errors.New("name: want 1..64 letters, digits, '.', '_', '-' or '@'")
	}
	p := &Principal{Name: e.Name, owner: "api:" + e.Name, selfApprove: e.SelfApprove}
	switch {
	case e.Token != "" && e.TokenSHA256 != "":
		return nil, errors.New("give token or token_sha256, not both")
	case e.Token != "":
		if err := checkToken(e.Token); err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
		p.digest = tokenDigest(e.Token)
	case e.TokenSHA256 != "":
		b, err := hex.DecodeString(strings.TrimSpace(e.TokenSHA256))
		if err != nil || len(b) != sha256.Size {
			return nil, errors.New("token_sha256: want 64 hex digits (sha256sum of the token)")
		}
		copy(p.digest[:], b)
	default:
		return nil, errors.New("no token: give token_sha256 (echo -n TOKEN | sha256sum) or token")
	}
	if len(e.Roles) == 0 {
		return nil, errors.New("no roles: give roles, e.g. [viewer] or [operator, approver]")
	}
	for _, r := range e.Roles {
		switch r {
		case RoleViewer, RoleOperator, RoleApprover:
		default:
			return nil, fmt.Errorf("role %q: want viewer, operator or approver", r)
		}
		if !slices.Contains(p.roles, r) {
			p.roles = append(p.roles, r)
		}
	}
	// No teams is an error, not "all": a forgotten line must not open
	// every team.
	if len(e.Teams) == 0 {
		return nil, errors.New(`no teams: list the team IDs, or ["*"] for every team`)
	}
	for _, t := range e.Teams {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, errors.New("teams: an empty team ID")
		}
		if t != AllTeams {
			if err := jobs.CheckTeamID(t); err != nil {
				return nil, fmt.Errorf("teams: %w", err)
			}
		}
		p.teams = append(p.teams, t)
	}
	return p, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return false
		}
	}
	return true
}

// parsePlainTokens reads the plain list format: one token per line (or
// comma-separated), '#' comments.
func parsePlainTokens(path string, b []byte) ([]string, error) {
	var sb strings.Builder
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		sb.WriteString(line)
		sb.WriteByte('\n')
	}
	toks := ParseTokens(sb.String())
	if len(toks) == 0 {
		return nil, fmt.Errorf("API token file %s holds no token: write one token per line, or a tokens: list (see docs/http-api.md)", path)
	}
	return toks, nil
}

// readTokenFile loads a token file of either format.
func readTokenFile(path string) (*tokenSet, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("API token file: %w", err)
	}
	ts, err := parseTokenFile(path, b)
	return ts, b, err
}
