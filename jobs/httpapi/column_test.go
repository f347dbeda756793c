package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
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

// TestReportPathColumn: the HTTP report ends each row with the path
// (bulk: reset without a call; per_asset: called; empty: no call), in
// CSV and in jsonl, whose lines match the document's ReportRow schema.
func TestReportPathColumn(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	def := &jobs.Campaign{ID: "paths", Name: "paths", Mode: jobs.ModeDelete, Priority: jobs.PriorityNormal,
		BatchSize: 100, Policy: jobs.DefaultPolicy()}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", []string{"1", "2", "3"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Submit(ctx, def, plan, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := e.store.Ledger().Record(ctx, "paths", []jobs.BatchRecords{{Batch: 0, Records: []jobs.Record{
		{AssetID: 1, Outcome: jobs.OutcomeReset, Status: 200, FinishedAt: now},
		{AssetID: 2, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now},
		{AssetID: 3, Outcome: jobs.OutcomeNotInInventory, FinishedAt: now},
	}}}, now); err != nil {
		t.Fatal(err)
	}
	r := e.do(req{method: "GET", path: "/v1/campaigns/paths/report?format=csv"})
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if r.status != http.StatusOK || err != nil || len(rows) != 4 {
		t.Fatalf("csv report: %d %v\n%s", r.status, err, r.body)
	}
	if got := strings.Join(rows[0], ","); got != "asset_id,outcome,http_status,attempts,error,finished_at,error_id,path" {
		t.Errorf("csv header %q", got)
	}
	want := map[string]string{"1": "bulk", "2": "per_asset", "3": ""}
	for _, row := range rows[1:] {
		if p := row[len(row)-1]; len(row) != 8 || p != want[row[0]] {
			t.Errorf("csv row %q: path %q, want %q", row, p, want[row[0]])
		}
	}

	doc, _ := loadDoc(t, e)
	schema := doc.Components.Schemas["ReportRow"]
	if schema == nil {
		t.Fatal("openapi.yaml has no ReportRow schema")
	}
	r = e.do(req{method: "GET", path: "/v1/campaigns/paths/report?format=jsonl"})
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if r.status != http.StatusOK || len(lines) != 3 {
		t.Fatalf("jsonl report: %d\n%s", r.status, r.body)
	}
	for _, line := range lines {
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatal(err)
		}
		if err := schema.Value.VisitJSON(row); err != nil {
			t.Errorf("jsonl line %s does not match ReportRow: %v", line, err)
		}
		id := strconv.FormatFloat(row["asset_id"].(float64), 'f', -1, 64)
		if row["path"] != want[id] {
			t.Errorf("jsonl line %s: path %v, want %q", line, row["path"], want[id])
		}
	}
}
