package httpapi_test

import (
	"strings"
	"testing"
)

// TestErrorBodyKeepsAngleBrackets: error bodies quote what the client
// sent as it is; "\u003c" would hide it from the person reading the body.
func TestErrorBodyKeepsAngleBrackets(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(req{method: "POST", path: "/v1/campaigns?%3Cscript%3E=1", ctype: "text/csv", body: csvBody("1")})
	if r.status != 400 || r.errCode(t) != "unknown_parameter" {
		t.Fatalf("unknown parameter: %d %s, want 400 unknown_parameter", r.status, r.body)
	}
	body := string(r.body)
	if !strings.Contains(body, `\"<script>\": want`) {
		t.Errorf("error body: got %s, want the parameter <script> as sent", body)
	}
}
