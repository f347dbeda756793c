package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"unicode/utf8"
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
// any token is an error.
func LoadTokenFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("API token file: %w", err)
	}
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
		return nil, fmt.Errorf("API token file %s holds no token: write one token per line", path)
	}
	return toks, nil
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
// creates it, authenticate fills in the owner.
type reqInfo struct{ owner string }

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

func setOwner(ctx context.Context, owner string) {
	if info, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		info.owner = owner
	}
}

// tokenDigest is the fixed-length form tokens are compared in, so that the
// comparison time does not depend on the configured tokens' lengths.
func tokenDigest(tok string) [sha256.Size]byte { return sha256.Sum256([]byte(tok)) }

// matchToken reports whether tok is one of the configured tokens. It
// compares against every token, without stopping at a match, in constant
// time per token.
func (s *Server) matchToken(tok string) bool {
	d := tokenDigest(tok)
	match := 0
	for i := range s.tokens {
		match |= subtle.ConstantTimeCompare(d[:], s.tokens[i][:])
	}
	return match == 1
}

// ownerID is the opaque owner recorded on campaigns created with tok.
func ownerID(tok string) string {
	d := tokenDigest(tok)
	return "tok:" + hex.EncodeToString(d[:6])
}

// authenticate requires a valid bearer token and records its owner ID.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.InsecureNoAuth {
			setOwner(r.Context(), "insecure-no-auth")
			next.ServeHTTP(w, r)
			return
		}
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="labelreset"`)
			writeError(w, errorf(http.StatusUnauthorized, "unauthorized",
				"missing bearer token: send the header Authorization: Bearer <token>"))
			return
		}
		if !s.matchToken(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="labelreset", error="invalid_token"`)
			writeError(w, errorf(http.StatusUnauthorized, "unauthorized", "invalid bearer token"))
			return
		}
		setOwner(r.Context(), ownerID(tok))
		next.ServeHTTP(w, r)
	})
}
