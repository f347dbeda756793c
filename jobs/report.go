package jobs

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ReportFormat is csv or jsonl.
type ReportFormat string

// Report formats.
const (
	ReportCSV   ReportFormat = "csv"
	ReportJSONL ReportFormat = "jsonl"
)

// ParseReportFormat accepts csv and jsonl ("" = csv).
func ParseReportFormat(s string) (ReportFormat, error) {
	switch ReportFormat(strings.ToLower(s)) {
	case "", ReportCSV:
		return ReportCSV, nil
	case ReportJSONL:
		return ReportJSONL, nil
	}
	return "", fmt.Errorf("report format %q: want csv or jsonl", s)
}

// ErrUnknownOutcome is returned for an outcome name that does not exist
// (a report filter, a re-drive).
var ErrUnknownOutcome = errors.New("unknown outcome")

// ReportColumns are the CSV report's columns. New columns go at the end:
// scripts that read a report by position keep working. path is
// Record.Path: "bulk", "per_asset" or "".
var ReportColumns = []string{"asset_id", "outcome", "http_status", "attempts", "error", "finished_at", "error_id", "path"}

// ReportWriter writes report rows.
type ReportWriter struct {
	format ReportFormat
	bw     *bufio.Writer
	cw     *csv.Writer
	only   map[string]bool
	rows   int64
}

// NewReportWriter writes a report in format f to w; only (if non-empty)
// keeps the rows with those outcomes.
func NewReportWriter(w io.Writer, f ReportFormat, only []string) (*ReportWriter, error) {
	rw := &ReportWriter{format: f, bw: bufio.NewWriterSize(w, 64<<10)}
	if len(only) > 0 {
		rw.only = map[string]bool{}
		for _, o := range only {
			o = strings.TrimSpace(o)
			if outcomeCode(o) == 0 && o != OutcomePending {
				return nil, fmt.Errorf("%w %q: want one of %s, pending", ErrUnknownOutcome, o, strings.Join(Outcomes, ", "))
			}
			rw.only[o] = true
		}
	}
	if f == ReportCSV {
		rw.cw = csv.NewWriter(rw.bw)
		if err := rw.cw.Write(ReportColumns); err != nil {
			return nil, err
		}
	}
	return rw, nil
}

// Write writes one record (if it passes the filter).
func (rw *ReportWriter) Write(r Record) error {
	if rw.only != nil && !rw.only[r.Outcome] {
		return nil
	}
	rw.rows++
	finished := ""
	if !r.FinishedAt.IsZero() {
		finished = r.FinishedAt.UTC().Format(time.RFC3339)
	}
	if rw.format == ReportJSONL {
		b, err := json.Marshal(struct {
			AssetID    int64  `json:"asset_id"`
			Outcome    string `json:"outcome"`
			HTTPStatus int    `json:"http_status"`
			Attempts   int    `json:"attempts"`
			Error      string `json:"error"`
			FinishedAt string `json:"finished_at"`
			ErrorID    string `json:"error_id"`
			Path       string `json:"path"`
		}{r.AssetID, r.Outcome, r.Status, r.Attempts, r.Error, finished, r.ErrorID, r.Path()})
		if err != nil {
			return err
		}
		rw.bw.Write(b)
		return rw.bw.WriteByte('\n')
	}
	status := ""
	if r.Status > 0 {
		status = strconv.Itoa(r.Status)
	}
	return rw.cw.Write([]string{
		strconv.FormatInt(r.AssetID, 10), r.Outcome, status, strconv.Itoa(r.Attempts),
		NeutraliseCell(r.Error), finished, NeutraliseCell(r.ErrorID), r.Path(),
	})
}

// Rows returns the number of rows written.
func (rw *ReportWriter) Rows() int64 { return rw.rows }

// Close flushes the report.
func (rw *ReportWriter) Close() error {
	if rw.cw != nil {
		rw.cw.Flush()
		if err := rw.cw.Error(); err != nil {
			return err
		}
	}
	return rw.bw.Flush()
}

// NeutraliseCell keeps a spreadsheet from executing a cell: values that
// start with = + - @ (or a tab or carriage return, which some spreadsheets
// strip before looking) get a leading apostrophe, as OWASP recommends for
// CSV injection.
func NeutraliseCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// WriteReport writes the campaign's report to w.
func (s *Store) WriteReport(ctx context.Context, id string, w io.Writer, f ReportFormat, only []string) (int64, error) {
	rw, err := NewReportWriter(w, f, only)
	if err != nil {
		return 0, err
	}
	if err := s.Records(ctx, id, rw.Write); err != nil {
		return rw.Rows(), err
	}
	return rw.Rows(), rw.Close()
}
