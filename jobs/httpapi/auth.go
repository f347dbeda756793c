package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/labelreset/labelreset/jobs"
)

// ParseTokens splits the value of LABELRESET_API_TOKENS: tokens separated
// by commas or newlines, surrounding whitespace trimmed, empty entries
// dropped.
func ParseTokens(s string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// LoadTokenFile reads tokens from a file (such as a mounted secret) in the
// ParseTokens format; lines starting with '#' are comments. A file without
// any token is an error. For the structured format with names, roles and
// teams, set Config.TokenFile instead.
func LoadTokenFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("API token file: %w", err)
	}
	return parsePlainTokens(path, b)
}

// checkToken rejects tokens that are weak or cannot travel in a header.
// Messages never include the token.
func checkToken(t string) error {
	if n := utf8.RuneCountInString(t); n < MinTokenLength {
		return fmt.Errorf("%d characters long: want at least %d (e.g. openssl rand -hex 32)", n, MinTokenLength)
	}
	for _, r := range t {
		if r <= ' ' || r == 0x7f || r > '~' {
			return errors.New("contains whitespace, control or non-ASCII characters: use printable ASCII only")
		}
	}
	return nil
}

// reqInfo is per-request state shared between the middlewares: instrument
// creates it, authenticate fills in the owner and the principal.
type reqInfo struct {
	owner     string
	principal *Principal
}

type reqInfoKey struct{}

func withReqInfo(r *http.Request) (*http.Request, *reqInfo) {
	info := &reqInfo{owner: "anonymous"}
	return r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info)), info
}

// ownerOf returns the identity that authenticate recorded for the request.
func ownerOf(ctx context.Context) string {
	if info, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return info.owner
	}
	return "anonymous"
}

// principalOf returns who the request acts for; nil before authenticate.
func principalOf(ctx context.Context) *Principal {
	if info, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return info.principal
	}
	return nil
}

func setPrincipal(ctx context.Context, p *Principal) {
	if info, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		info.owner = p.owner
		info.principal = p
	}
}

// tokenDigest is the fixed-length form tokens are compared in, so that the
// comparison time does not depend on the configured tokens' lengths.
func tokenDigest(tok string) [sha256.Size]byte { return sha256.Sum256([]byte(tok)) }

// matchToken returns the principal of tok in the token set in force now,
// or nil.
func (s *Server) matchToken(tok string) *Principal { return s.tokens.Load().match(tok) }

// ownerID is the opaque owner recorded on campaigns created with a token
// of the plain list.
func ownerID(tok string) string {
	d := tokenDigest(tok)
	return "tok:" + hex.EncodeToString(d[:6])
}

// insecurePrincipal acts for requests of a server without authentication.
var insecurePrincipal = &Principal{Name: "insecure-no-auth", owner: "insecure-no-auth",
	roles: []Role{RoleOperator, RoleApprover}, teams: []string{AllTeams}, selfApprove: true}

// authenticate requires a valid bearer token whose principal holds role,
// and carries the principal in the request: its owner, and its actor for
// the audit log of every state change the request makes.
//
// The token is looked up in the token set in force for every request, so
// a token removed from the token file is refused from the next request on.
// A session (the web console, later) must do the same: record the
// principal's Name and digest when it is created and look them up in the
// current set on every request, refusing the session once they are gone.
func (s *Server) authenticate(role Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p *Principal
		if cp := consolePrincipal(r.Context()); cp != nil {
			// A console session, already resolved by ServeAs. It acts
			// under the token's own actor, so that the stagers a
			// self-approval check compares are one identity per token
			// whichever way it came.
			p = cp
		} else if s.cfg.InsecureNoAuth {
			p = insecurePrincipal
		} else {
			scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			tok = strings.TrimSpace(tok)
			if !strings.EqualFold(scheme, "Bearer") || tok == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="labelreset"`)
				writeError(w, errorf(http.StatusUnauthorized, "unauthorized",
					"missing bearer token: send the header Authorization: Bearer <token>"))
				return
			}
			if p = s.matchToken(tok); p == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="labelreset", error="invalid_token"`)
				writeError(w, errorf(http.StatusUnauthorized, "unauthorized", "invalid bearer token"))
				return
			}
		}
		setPrincipal(r.Context(), p)
		if !p.Has(role) {
			writeError(w, errorf(http.StatusForbidden, "forbidden", "token %q lacks the role %s needed for %s %s",
				p.Name, role, r.Method, r.URL.Path))
			return
		}
		next.ServeHTTP(w, r.WithContext(jobs.WithActor(r.Context(), p.Actor())))
	})
}

// visibleCampaign loads campaign id for the request's principal. A
// campaign of a team the principal may not act for is "not found", as if
// it did not exist, so that campaign IDs of other teams do not leak.
func (s *Server) visibleCampaign(ctx context.Context, id string) (*jobs.Campaign, error) {
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, storeError(err)
	}
	if p := principalOf(ctx); p == nil || !p.AllowsTeam(c.TeamID) {
		e := errorf(http.StatusNotFound, "not_found", "campaign %s: %v", id, jobs.ErrNotFound)
		e.cause = errHidden
		return nil, e
	}
	return c, nil
}

// errHidden marks the "not found" of a campaign that exists but belongs to
// a team the request's token may not act for.
var errHidden = errors.New("campaign of a team the token may not act for")

// errIDUnavailable refuses a create or append whose campaign ID belongs to
// a campaign of a team the token may not act for. Campaign IDs are one
// namespace across teams, so no answer but 201 can hide that the ID is in
// use; this one says no more: not "taken" or "exists" (the 409 the token
// gets for its own teams' campaigns, which it may read anyway), not which
// team, nothing of the campaign. It is a 403 like every other refusal of
// what the token may not do.
func errIDUnavailable(id string) *apiError {
	return errorf(http.StatusForbidden, "campaign_id_unavailable",
		"campaign ID %s is not available to this token: choose another campaign_id", id)
}
