// Reading the ID list of a create request: gzip with a bound on what it
// expands to, multipart uploads, and the MaxRows count with the sum that
// goes into the request fingerprint.

package httpapi

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// countingInput enforces MaxRows and sums the valid IDs (in an
// order-independent way) for the request fingerprint.
type countingInput struct {
	in   jobs.Input
	max  int64
	rows int64
	sum  uint64
}

var errTooManyRows = errors.New("too many rows")

func (c *countingInput) Next() (idfile.Row, error) {
	row, err := c.in.Next()
	var bad *idfile.BadRow
	if err == nil || errors.As(err, &bad) {
		c.rows++
		if c.rows > c.max {
			return idfile.Row{}, errTooManyRows
		}
		if err == nil {
			c.sum += mix64(uint64(row.ID))
		}
	}
	return row, err
}

// mix64 is SplitMix64's finaliser.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// readIDFile streams an ID file (CSV, TSV, plain, optionally gzip) into a
// plan.
func (s *Server) readIDFile(r io.Reader, name string) (*jobs.Plan, *countingInput, error) {
	src, err := s.decompress(r, name)
	if err != nil {
		return nil, nil, s.readError(err)
	}
	// Blank and comment lines count toward MaxRows (one more for a
	// header): a body of newlines is cut after MaxRows lines, not read to
	// the gzip expansion bound.
	rd := idfile.NewReader(src, name, idfile.Options{MaxLines: int(min(s.cfg.MaxRows+1, math.MaxInt32))})
	in := &countingInput{in: rd, max: s.cfg.MaxRows}
	plan, err := jobs.ReadPlanBudget(&jobs.Campaign{BatchSize: s.cfg.Defaults.BatchSize}, in, s.cfg.MaxUploadMemory)
	if err != nil {
		return nil, nil, s.readError(err)
	}
	return plan, in, nil
}

var errExpandsTooMuch = errors.New("decompressed body too large")

// decompress undoes gzip itself, with a bound on the output, so that a
// small compressed body cannot keep the server busy for long.
func (s *Server) decompress(r io.Reader, name string) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if !isGzip(br) {
		return br, nil
	}
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%s: gzip: %w", name, err)
	}
	out := bufio.NewReaderSize(&boundedReader{r: gz, n: gzipExpansion * s.cfg.MaxBodyBytes}, 64<<10)
	if isGzip(out) {
		return nil, errorf(http.StatusBadRequest, "malformed_body", "%s: gzip inside gzip is not supported: compress the file once", name)
	}
	return out, nil
}

func isGzip(br *bufio.Reader) bool {
	m, _ := br.Peek(2)
	return len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b
}

type boundedReader struct {
	r io.Reader
	n int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errExpandsTooMuch
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}

// readError maps an error of reading the body to a client error.
func (s *Server) readError(err error) error {
	var ae *apiError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mb):
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large",
			"request body exceeds %d bytes: split the IDs into several requests (append=true adds them to one campaign)", mb.Limit)
	case errors.Is(err, errExpandsTooMuch):
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large",
			"gzip-compressed body expands to more than %d bytes: split the IDs into several requests", gzipExpansion*s.cfg.MaxBodyBytes)
	case errors.Is(err, errTooManyRows), errors.Is(err, idfile.ErrTooManyLines):
		return errorf(http.StatusRequestEntityTooLarge, "too_many_rows",
			"more than %d rows in one request (blank and comment lines count): split the IDs into several requests (append=true adds them to one campaign)", s.cfg.MaxRows)
	case errors.Is(err, jobs.ErrOverMemoryBudget):
		return errorf(http.StatusRequestEntityTooLarge, "upload_over_memory_budget",
			"the asset IDs of this upload need more than the upload memory budget of %d bytes (--max-upload-memory; scattered IDs cost up to 330 bytes each, consecutive ones almost nothing): split the IDs into several campaigns",
			s.cfg.MaxUploadMemory)
	case errors.Is(err, idfile.ErrNoIDs):
		return errorf(http.StatusUnprocessableEntity, "no_ids", "%v", err)
	}
	return errorf(http.StatusBadRequest, "malformed_body", "%v", err)
}

// readMultipart reads form fields and the "file" part.
func (s *Server) readMultipart(r *http.Request, req *createRequest) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return errorf(http.StatusBadRequest, "malformed_body", "multipart body: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if e := s.readError(err); e.(*apiError).status != http.StatusBadRequest {
				return e
			}
			return errorf(http.StatusBadRequest, "malformed_body", "malformed multipart body: %v", err)
		}
		name := part.FormName()
		switch {
		case name == "file":
			if req.plan != nil {
				return errorf(http.StatusBadRequest, "malformed_body", "multipart body has more than one \"file\" part: send one file per request")
			}
			req.file = safeFileName(part.FileName())
			display := req.file
			if display == "" {
				display = "file"
			}
			if req.plan, req.input, err = s.readIDFile(part, display); err != nil {
				return err
			}
		case slices.Contains(createParamNames, name):
			b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return s.readError(err)
			}
			if len(b) > maxFieldBytes {
				return errorf(http.StatusBadRequest, "invalid_parameter", "form field %q is longer than %d bytes", name, maxFieldBytes)
			}
			if err := req.params.set(name, string(b), "form field"); err != nil {
				return err
			}
		default:
			return errorf(http.StatusBadRequest, "unknown_field", "unknown form field %q: want \"file\" or one of %s",
				name, joinComma(createParamNames))
		}
		part.Close()
	}
	if req.plan == nil {
		return errorf(http.StatusBadRequest, "malformed_body", "multipart body has no \"file\" part: send the ID file as form field \"file\"")
	}
	return nil
}

// safeFileName keeps a client's file name printable and short; it only
// labels messages.
func safeFileName(n string) string {
	b := []byte(n)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), 64)])
}
