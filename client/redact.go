package client

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// redactedMark replaces the API key wherever the client keeps text that a
// server sent.
const redactedMark = "[REDACTED]"

// redactor removes the API key from text the client keeps beyond a call
// (error messages, body snippets, error_id): a server or proxy that echoes
// the request ("sk-… is not valid here") would otherwise carry the key
// into the ledger, reports and logs. It knows the key as sent and as
// servers commonly re-encode it (URL-encoded, JSON-escaped, base64 as a
// proxy logs a decoded header, upper case as log formatters shout), and
// it removes a prefix of the key that a server shortened ("sk-live-3f9a…
// is revoked"); anything more mixed is caught by decoding the text's
// escapes and looking again. Redaction runs before any truncation, so a
// clipped field never keeps a prefix of the key.
type redactor struct {
	key   string
	forms []string // the key and its encodings, longest first
	// fold is set when the key's letters are all of one case: case then
	// carries nothing, and any re-cased copy is the key. A mixed-case
	// key's lower-case twin is another credential and stays.
	fold bool
}

// minKeyPrefix is the shortest prefix of the key that is redacted when a
// server cut the key there: shorter prefixes ("sk-") are common words of
// a key format, not secrets. longKeyPrefix is the prefix length redacted
// whatever follows it.
const (
	minKeyPrefix  = 8
	longKeyPrefix = 16
)

func newRedactor(key string) redactor {
	if key == "" {
		return redactor{}
	}
	r := redactor{key: key, fold: asciiLower(key) == key || strings.ToUpper(key) == key}
	add := func(f string) {
		if f != "" && !slices.Contains(r.forms, f) {
			r.forms = append(r.forms, f)
		}
	}
	add(url.QueryEscape(key))
	add(url.PathEscape(key))
	add(lowerHex(url.QueryEscape(key))) // %2f as well as %2F
	if b, err := json.Marshal(key); err == nil {
		add(string(b[1 : len(b)-1])) // \u003c for <, \" for "
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		add(enc.EncodeToString([]byte(key)))
	}
	add(strings.ToUpper(key))
	add(key)
	// Longest first: a form that contains another is replaced whole.
	slices.SortStableFunc(r.forms, func(a, b string) int { return len(b) - len(a) })
	return r
}

// redact returns s without any copy of the key. It allocates only when s
// holds one or has escapes to decode.
func (r redactor) redact(s string) string {
	if r.key == "" || s == "" {
		return s
	}
	s = r.redactPlain(s)
	if strings.ContainsAny(s, `%\`) {
		// A partly or differently escaped copy ("sk%2dabc",
		// "\u0073k-abc"): show the decoded text, redacted.
		d := unescape(s)
		if red := r.redactPlain(d); red != d {
			return red
		}
	}
	return s
}

// redactPlain replaces the key's known forms, its re-cased copies when
// the key is single-case, and prefixes of it that a server cut.
func (r redactor) redactPlain(s string) string {
	for _, f := range r.forms {
		s = strings.ReplaceAll(s, f, redactedMark)
	}
	return r.redactPrefixes(s)
}

// redactPrefixes replaces every run of text that matches the key's first
// minKeyPrefix or more characters (case-insensitively when r.fold) and
// then stops where the key was cut: at an ellipsis ("...", "…"), or
// after longKeyPrefix characters whatever follows. A shorter prefix at the
// end of the text stays: it is as likely the key format's own words. A whole copy of the key in any case is replaced too when
// r.fold.
func (r redactor) redactPrefixes(s string) string {
	if len(r.key) < minKeyPrefix || len(s) < minKeyPrefix {
		return s
	}
	hay, head := s, r.key[:minKeyPrefix]
	if r.fold {
		hay, head = asciiLower(s), asciiLower(head)
	}
	if !strings.Contains(hay, head) {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i+minKeyPrefix <= len(s); {
		j := strings.Index(hay[i:], head)
		if j < 0 {
			break
		}
		start := i + j
		n := r.matchLen(s[start:])
		end := start + n
		rest := s[end:]
		if n == len(r.key) || n >= longKeyPrefix ||
			strings.HasPrefix(rest, "...") || strings.HasPrefix(rest, "…") {
			b.WriteString(s[last:start])
			b.WriteString(redactedMark)
			last = end
			i = end
			continue
		}
		i = start + 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// matchLen is how many leading bytes of s equal the key's (ignoring
// ASCII case when r.fold).
func (r redactor) matchLen(s string) int {
	n := 0
	for n < len(s) && n < len(r.key) {
		a, k := s[n], r.key[n]
		if a != k && !(r.fold && toLower(a) == toLower(k)) {
			break
		}
		n++
	}
	return n
}

// redactErr returns err, or an error whose message has the key redacted
// when err's message holds it. errors.Is and As still see err.
func (r redactor) redactErr(err error) error {
	if err == nil || r.key == "" {
		return err
	}
	msg := err.Error()
	if red := r.redact(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Unwrap keeps errors.Is/As working; the wrapped error is never printed
// by this package.
func (e *redactedError) Unwrap() error { return e.err }

// unescape decodes %XX and JSON escapes (\uXXXX, \/, \\, \") in s, leaving
// anything else as it is.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		switch {
		case s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(v))
			i += 3
		case s[i] == '\\' && i+5 < len(s) && s[i+1] == 'u' && isHex(s[i+2]) && isHex(s[i+3]) && isHex(s[i+4]) && isHex(s[i+5]):
			v, _ := strconv.ParseUint(s[i+2:i+6], 16, 16)
			b.WriteRune(rune(v))
			i += 6
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == '/' || s[i+1] == '\\' || s[i+1] == '"'):
			b.WriteByte(s[i+1])
			i += 2
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return strings.ToValidUTF8(b.String(), string(utf8.RuneError))
}

// lowerHex is s with the hex digits of its %XX escapes in lower case.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' && isHex(b[i+1]) && isHex(b[i+2]) {
			b[i+1], b[i+2] = toLower(b[i+1]), toLower(b[i+2])
			i += 2
		}
	}
	return string(b)
}

// asciiLower is s with ASCII letters in lower case and every other byte
// where it was, so offsets into it are offsets into s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = toLower(c)
	}
	return string(b)
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// displayServer is server as an error may show it: user info (a key or a
// password someone put in the URL) and query values are masked, also when
// the URL does not parse.
func displayServer(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" { // "user:pw@host" parses with scheme "user"
		// Mask from "//" (or the start) up to the last "@" before the
		// path: what stands there can only be credentials.
		rest, pre := s, ""
		if i := strings.Index(s, "//"); i >= 0 {
			pre, rest = s[:i+2], s[i+2:]
		}
		end := len(rest)
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			end = j
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			rest = "xxxxx" + rest[at:]
		}
		if q := strings.IndexAny(rest, "?#"); q >= 0 {
			rest = rest[:q] + "?xxxxx"
		}
		return pre + rest
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	if u.RawQuery != "" {
		u.RawQuery = "xxxxx"
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "xxxxx", ""
	}
	return u.String()
}
