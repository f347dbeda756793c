// The signature of a notification body.

package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>", keyed
// with the notifier's secret; DeliveryHeader the entry's id, unique per
// transition, for receivers to dedupe on.
const (
	SignatureHeader = "X-Labelreset-Signature"
	DeliveryHeader  = "X-Labelreset-Delivery"
)

// Sign returns the X-Labelreset-Signature value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under secret, in
// constant time: what a receiver written in Go checks.
func Verify(secret string, body []byte, sig string) bool {
	got, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return false
	}
	want := Sign(secret, body)[len("sha256="):]
	return hmac.Equal([]byte(got), []byte(want))
}
