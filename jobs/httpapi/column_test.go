package httpapi_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// TestCreateIDColumn: the plan names the column the IDs came from; the
// column parameter chooses it; an ambiguous header without it is a 400
// that lists the columns.
func TestCreateIDColumn(t *testing.T) {
	e := newEnv(t, nil)
	body := func() *strings.Reader { return strings.NewReader("port,host\n443,1234\n80,5678\n") }
	plan := func(r resp) map[string]any {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("dry run: status %d, want 200: %s", r.status, r.body)
		}
		return r.json(t)["plan"].(map[string]any)
	}

	r := e.do(req{method: "POST", path: "/v1/campaigns?dry_run=true", ctype: "text/csv", body: body()})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `the columns are 1 \"port\", 2 \"host\"`) ||
		!strings.Contains(string(r.body), "body:1:") {
		t.Errorf("ambiguous header: status %d %s; want 400 naming body:1 and the columns", r.status, r.body)
	}

	p := plan(e.do(req{method: "POST", path: "/v1/campaigns?dry_run=true&column=host", ctype: "text/csv", body: body()}))
	if p["valid"] != 2.0 || p["id_column"] != `column 2 "host" (chosen)` {
		t.Errorf("column=host: plan %v, want 2 valid IDs from column 2 \"host\"", p)
	}

	p = plan(e.do(req{method: "POST", path: "/v1/campaigns?dry_run=true", ctype: "text/csv",
		body: strings.NewReader("port,asset\n443,1234\n")}))
	if p["id_column"] != `column 2 "asset" (header name)` {
		t.Errorf("port,asset: id_column %v, want column 2 \"asset\" (header name)", p["id_column"])
	}

	// Multipart: the column field before the file part.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	w.WriteField("dry_run", "true")
	w.WriteField("column", "1")
	fw, _ := w.CreateFormFile("file", "ids.csv")
	fw.Write([]byte("port,host\n443,1234\n"))
	w.Close()
	p = plan(e.do(req{method: "POST", path: "/v1/campaigns", ctype: w.FormDataContentType(), body: &mp}))
	if p["id_column"] != `column 1 "port" (chosen)` {
		t.Errorf("multipart column=1: id_column %v, want column 1 \"port\" (chosen)", p["id_column"])
	}

	r = e.do(req{method: "POST", path: "/v1/campaigns", ctype: "application/json",
		body: strings.NewReader(`{"asset_ids":[1,2],"column":"1","dry_run":true}`)})
	if r.status != http.StatusBadRequest {
		t.Errorf("column with JSON asset_ids: status %d, want 400: %s", r.status, r.body)
	}
}
