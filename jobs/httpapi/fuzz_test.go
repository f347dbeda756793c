package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/labelreset/labelreset/jobs/httpapi"
)

// FuzzCreateCampaignBody: whatever the body, POST /v1/campaigns answers
// without panicking, never with a 5xx, and always with a JSON body.
func FuzzCreateCampaignBody(f *testing.F) {
	f.Add(false, "", []byte("id\n1\n2\n3\n"))
	f.Add(false, "labels=a,b&strict=true", []byte("1;2\n\"3\"\n"))
	f.Add(true, "", []byte(`{"asset_ids":["1",2,null,{"a":1}],"labels":["x"]}`))
	f.Add(true, "", []byte(`{"asset_ids":[`))
	f.Add(false, "dry_run=1", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	f.Add(false, "", []byte("\x89PNG\r\n\x1a\n\x00\x00"))
	e := newEnv(f, func(c *httpapi.Config) { c.MaxBodyBytes = 1 << 20; c.MaxRows = 10000 })
	f.Fuzz(func(t *testing.T, isJSON bool, query string, body []byte) {
		ctype := "text/csv"
		if isJSON {
			ctype, query = "application/json", ""
		}
		r := e.do(req{method: "POST", path: "/v1/campaigns", rawQuery: query, ctype: ctype, body: bytes.NewReader(body)})
		if r.status >= 500 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if !json.Valid(r.body) {
			t.Fatalf("status %d: body is not JSON: %q", r.status, r.body)
		}
		if r.status >= 400 && r.status != http.StatusUnauthorized {
			r.errCode(t)
		}
	})
}
