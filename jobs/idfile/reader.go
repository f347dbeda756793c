package idfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxLineBytes is the line (or quoted multi-line record) length limit
// used when Options.MaxLineBytes is zero or negative.
const DefaultMaxLineBytes = 1 << 20

const (
	readBufSize   = 64 << 10 // bufio buffer; lines up to this size are not copied
	maxValueBytes = 256      // at most this much of an offending value is kept in BadRow.Value
)

// ErrNoIDs is returned (wrapped with the file name, so test it with errors.Is)
// by Reader.Next at the end of an input that held no data row at all: an
// empty file, a header only, or only comments and blank lines. An input whose
// rows were all bad ends with io.EOF instead, after its bad rows.
var ErrNoIDs = errors.New("no asset IDs found (empty file or header only)")

// Options configure a Reader. The zero value is ready to use.
type Options struct {
	// Strict is for the caller, which typically aborts on the first *BadRow.
	// The Reader itself never acts on it: it always reports bad rows and lets
	// the caller decide whether to continue.
	Strict bool
	// MaxLineBytes limits the length of one line, excluding its line ending
	// (and of a quoted record spanning several lines). A longer line is a bad
	// row ("line longer than N bytes") and reading continues after it.
	// Zero or negative means DefaultMaxLineBytes (1 MiB).
	MaxLineBytes int
	// MaxLines bounds the physical lines read, blank and comment lines
	// included, so that a file of nothing but newlines (which compresses
	// to almost nothing) is cut early: beyond it Next fails with an error
	// wrapping ErrTooManyLines. Zero or negative means no limit.
	MaxLines int
	// Column chooses the column that holds the IDs: a 1-based number, or
	// the name of a header cell (case-insensitive). Empty means detect it
	// (see the package documentation).
	Column string
}

// ErrIDColumn is returned (wrapped with the file, the line and the
// columns) by Reader.Next when the ID column cannot be told: a header
// that names no ID column over rows where more than one column (or none)
// holds an ID, or an Options.Column that names no column of the header.
// It is fatal: the caller must choose the column (Options.Column).
var ErrIDColumn = errors.New("cannot tell which column holds the asset IDs")

// Column says which column a Reader takes the IDs from, and why.
type Column struct {
	Index int    // 0-based
	Name  string // the header cell; empty without a header
	Why   string // e.g. "header name", "the only column", "chosen"
}

// String renders the column as a plan shows it: `column 2 "asset" (header
// name)`.
func (c Column) String() string {
	s := "column " + strconv.Itoa(c.Index+1)
	if c.Name != "" {
		s += " " + strconv.Quote(c.Name)
	}
	return s + " (" + c.Why + ")"
}

// Reasons a Reader gives for its choice of column (Column.Why).
const (
	WhyChosen     = "chosen"
	WhyHeaderName = "header name"
	WhyOnlyColumn = "the only column"
	WhyNoHeader   = "no header: the first column"
	WhyOnlyIDs    = "the only column holding an ID"
)

// ErrTooManyLines is returned (wrapped with the file name) by Reader.Next
// once the input has more than Options.MaxLines physical lines.
var ErrTooManyLines = errors.New("too many lines")

// Row is one valid asset ID and the 1-based physical line it starts on.
type Row struct {
	Line int
	ID   int64
}

// BadRow is a row that was skipped. It is returned as the error of
// Reader.Next; the caller may keep calling Next.
type BadRow struct {
	File   string // display name: the file name, or "stdin"
	Line   int    // 1-based physical line the row starts on
	Value  string // the offending cell (or line), at most 256 bytes of it
	Reason string // e.g. "must be > 0", "missing id column", "contains NUL byte"
}

// Error renders exactly `file:line: "value": reason`, where value is quoted
// with strconv.Quote after truncation to 64 bytes; a truncated value ends in
// "…" inside the quotes.
func (b *BadRow) Error() string {
	return b.File + ":" + strconv.Itoa(b.Line) + ": " + quoteValue(b.Value) + ": " + b.Reason
}

// Reader streams asset IDs from one input. It is not safe for concurrent use.
type Reader struct {
	src      io.Reader
	name     string // display name
	max      int
	maxLines int

	br      *bufio.Reader
	started bool
	gz      bool
	eof     bool  // the source returned io.EOF; never read it again
	err     error // sticky terminal error (io.EOF, ErrNoIDs or fatal)
	line    int   // physical lines consumed so far
	rows    int   // data rows seen (valid or bad), excluding the header

	delimKnown bool
	hasDelim   bool
	delim      byte

	detected  bool // header detection done
	hasHeader bool
	header    []string
	idCol     int // -1 until a header naming no ID column meets its first row
	column    string
	why       string
	hdrLine   int // the header's line

	buf    []byte // long physical line
	rec    []byte // multi-line record
	fbuf   []byte // unescaped quoted field
	prefix []byte // kept start of an over-long record

	peeked  bool
	peekRow Row
	peekErr error
}

// NewReader returns a Reader over r. name is used in messages; "-" is shown as
// "stdin". Nothing is read until the first call to Next or Header.
func NewReader(r io.Reader, name string, opts Options) *Reader {
	switch name {
	case "-":
		name = "stdin"
	case "":
		name = "input"
	}
	max := opts.MaxLineBytes
	if max <= 0 {
		max = DefaultMaxLineBytes
	}
	return &Reader{src: r, name: name, max: max, maxLines: opts.MaxLines, column: strings.TrimSpace(opts.Column)}
}

// Column returns the column the IDs are taken from and why, and false
// until the Reader has decided (Next or Header read the first row).
func (r *Reader) Column() (Column, bool) {
	if !r.detected || r.idCol < 0 || r.why == "" {
		return Column{}, false
	}
	c := Column{Index: r.idCol, Why: r.why}
	if r.hasHeader && r.idCol < len(r.header) {
		c.Name = r.header[r.idCol]
	}
	return c, true
}

// Open opens path ("-" means stdin) and returns a Reader over it and the
// Closer to call when done (a no-op for stdin). Errors name the file.
func Open(path string, opts Options) (*Reader, io.Closer, error) {
	if path == "-" {
		return NewReader(os.Stdin, path, opts), io.NopCloser(nil), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err // *fs.PathError: "open <path>: ..."
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: is a directory, not an ID file", path)
	}
	return NewReader(f, path, opts), f, nil
}

// Header returns the detected header cells (trimmed), the index of the ID
// column and true, or ok=false if the input has no header. If Next has not
// been called yet, Header reads ahead to the first row (which Next then
// returns); ok=false is also returned when that first row was a bad row read
// before the format could be detected, or the input ended or failed.
func (r *Reader) Header() (cols []string, idCol int, ok bool) {
	if !r.detected && !r.peeked && r.err == nil {
		r.peekRow, r.peekErr = r.next()
		r.peeked = true
	}
	if !r.hasHeader {
		return nil, 0, false
	}
	return slices.Clone(r.header), r.idCol, true
}

// Next returns the next valid row. A bad row returns (Row{}, *BadRow) and the
// caller may continue calling Next. At the end Next returns io.EOF, or an
// error wrapping ErrNoIDs if the input had no data rows at all. Any other
// error (I/O, corrupt gzip, unsupported compression) is fatal, names the file
// and wraps the cause. Terminal errors are sticky.
func (r *Reader) Next() (Row, error) {
	if r.peeked {
		r.peeked = false
		return r.peekRow, r.peekErr
	}
	return r.next()
}

func (r *Reader) next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	if !r.started {
		if err := r.start(); err != nil {
			r.err = r.fatal(err)
			return Row{}, r.err
		}
	}
	for {
		rec, err := r.readRecord()
		if err != nil {
			switch {
			case err != io.EOF:
				r.err = r.fatal(err)
			case r.rows == 0:
				r.err = fmt.Errorf("%s: %w", r.name, ErrNoIDs)
			default:
				r.err = io.EOF
			}
			return Row{}, r.err
		}
		if val, reason := r.checkRecord(&rec); reason != "" {
			r.rows++
			if !r.detected {
				r.delimKnown = false // detect again on the next line
			}
			return Row{}, r.bad(rec.line, val, reason)
		}
		if !r.detected {
			r.detected = true
			header, err := r.detectHeader(rec.data, rec.line)
			if err != nil {
				r.err = err
				return Row{}, err
			}
			if header {
				continue
			}
		}
		if r.idCol < 0 {
			chosen, err := r.chooseByValues(rec.data, rec.line)
			if err != nil {
				r.err = err
				return Row{}, err
			}
			if !chosen {
				r.rows++
				return Row{}, r.bad(rec.line, rec.data, ReasonNoIDColumn)
			}
		}
		r.rows++
		val, reason := r.idField(rec.data)
		if reason == "" {
			var id int64
			if id, reason = parseID(val); reason == "" {
				return Row{Line: rec.line, ID: id}, nil
			}
			if reason == ReasonNotDecimal {
				reason += r.delimHint(val)
			}
		}
		return Row{}, r.bad(rec.line, val, reason)
	}
}

func (r *Reader) bad(line int, val []byte, reason string) *BadRow {
	if len(val) > maxValueBytes {
		val = val[:maxValueBytes]
	}
	return &BadRow{File: r.name, Line: line, Value: string(val), Reason: reason}
}

// fatal names the file and the last line read whole, so the user knows
// how far a damaged file got.
func (r *Reader) fatal(err error) error {
	at := r.name
	if r.line > 0 {
		at = fmt.Sprintf("%s: after line %d", r.name, r.line)
	}
	if r.gz {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: truncated gzip data: %w", at, err)
		}
		return fmt.Errorf("%s: reading gzip data: %w", at, err)
	}
	return fmt.Errorf("%s: %w", at, err)
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// start sets up decompression and skips a BOM.
func (r *Reader) start() error {
	r.started = true
	// Peek may swallow a read error; the sticky reader repeats it (and never
	// reads past EOF, which matters for a terminal on stdin).
	br := bufio.NewReaderSize(&stickyReader{r: r.src}, readBufSize)
	magic, _ := br.Peek(10)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		r.gz = true
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		br = bufio.NewReaderSize(gz, readBufSize) // gzip.Reader errors are sticky
	} else if kind := otherCompression(magic); kind != "" {
		return fmt.Errorf("input is %s; only gzip compression is supported, decompress it first", kind)
	}
	if b, _ := br.Peek(3); bytes.Equal(b, bom) {
		br.Discard(3)
	}
	r.br = br
	return nil
}

// stickyReader returns the first error of r forever after.
type stickyReader struct {
	r   io.Reader
	err error
}

func (s *stickyReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.err = err
	return n, err
}

func otherCompression(m []byte) string {
	switch {
	case bytes.HasPrefix(m, []byte("PK\x03\x04")):
		return "a zip archive"
	case bytes.HasPrefix(m, []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}):
		return "xz-compressed"
	case bytes.HasPrefix(m, []byte{0x28, 0xB5, 0x2F, 0xFD}):
		return "zstd-compressed"
	case len(m) >= 10 && bytes.HasPrefix(m, []byte("BZh")) && m[3] >= '1' && m[3] <= '9' &&
		string(m[4:10]) == "1AY&SY":
		return "bzip2-compressed"
	}
	return ""
}

// quote-tracking states for finding the end of a record.
type qstate uint8

const (
	qStart      qstate = iota // at the start of a field (only spaces seen)
	qUnquoted                 // inside an unquoted field
	qQuoted                   // inside a quoted field
	qQuoteSeen                // just after a '"' inside a quoted field
	qAfterQuote               // after a closing quote and spaces
)

// scanQuotes advances the quote state over p. It follows the same rules as
// nextField so that record boundaries and field parsing agree.
func scanQuotes(st qstate, p []byte, delim byte, hasDelim bool) qstate {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch st {
		case qStart:
			switch {
			case c == '"':
				st = qQuoted
			case c == ' ' || hasDelim && c == delim:
			default:
				st = qUnquoted
			}
		case qUnquoted:
			if !hasDelim {
				return qUnquoted
			}
			k := bytes.IndexByte(p[i:], delim)
			if k < 0 {
				return qUnquoted
			}
			i += k
			st = qStart
		case qQuoted:
			k := bytes.IndexByte(p[i:], '"')
			if k < 0 {
				return qQuoted
			}
			i += k
			st = qQuoteSeen
		case qQuoteSeen:
			switch {
			case c == '"':
				st = qQuoted
			case c == ' ':
				st = qAfterQuote
			case hasDelim && c == delim:
				st = qStart
			default:
				st = qUnquoted
			}
		case qAfterQuote:
			switch {
			case c == ' ':
			case hasDelim && c == delim:
				st = qStart
			default:
				st = qUnquoted
			}
		}
	}
	return st
}

func detectDelim(p []byte) (byte, bool) {
	for _, d := range []byte{'\t', ',', ';'} {
		if bytes.IndexByte(p, d) >= 0 {
			return d, true
		}
	}
	return 0, false
}

// delimFor returns the delimiter to track quotes with; before detection it
// guesses from p (the start of the record) without committing.
func (r *Reader) delimFor(p []byte) (byte, bool) {
	if r.delimKnown {
		return r.delim, r.hasDelim
	}
	return detectDelim(p)
}

func trimEOL(s []byte) []byte {
	if n := len(s); n > 0 && s[n-1] == '\n' {
		s = s[:n-1]
	}
	if n := len(s); n > 0 && s[n-1] == '\r' {
		s = s[:n-1]
	}
	return s
}

// readLine reads the next physical line without its line ending. The result
// may alias the read buffer and is valid until the next read. If the line is
// longer than r.max, long is true, p is (a prefix of) the line, the rest of
// the line is consumed, and endSt is the quote state after the whole line,
// starting from st. It returns io.EOF when no bytes are left.
func (r *Reader) readLine(st qstate) (p []byte, long bool, endSt qstate, err error) {
	if r.eof {
		return nil, false, st, io.EOF
	}
	s, err := r.br.ReadSlice('\n')
	if err == io.EOF {
		r.eof = true
		if len(s) == 0 {
			return nil, false, st, io.EOF
		}
		err = nil
	}
	if err == nil {
		if err := r.countLine(); err != nil {
			return nil, false, st, err
		}
		p = trimEOL(s)
		if len(p) <= r.max {
			return p, false, st, nil
		}
		d, hd := r.delimFor(p)
		return p, true, scanQuotes(st, p, d, hd), nil
	}
	if err != bufio.ErrBufferFull {
		return nil, false, st, err
	}
	// The line is longer than the read buffer: collect up to max+2 bytes
	// (content plus "\r\n"); beyond that, only track the quote state.
	r.buf = append(r.buf[:0], s...)
	long = len(r.buf) > r.max+2
	var d byte
	var hd bool
	if long {
		d, hd = r.delimFor(r.buf)
		st = scanQuotes(st, r.buf, d, hd)
	}
	for err == bufio.ErrBufferFull {
		s, err = r.br.ReadSlice('\n')
		if err == io.EOF {
			r.eof = true
		} else if err != nil && err != bufio.ErrBufferFull {
			return nil, false, st, err
		}
		if long {
			st = scanQuotes(st, s, d, hd)
			continue
		}
		r.buf = append(r.buf, s...)
		if len(r.buf) > r.max+2 {
			long = true
			d, hd = r.delimFor(r.buf)
			st = scanQuotes(st, r.buf, d, hd)
			r.buf = r.buf[:r.max]
		}
	}
	if err := r.countLine(); err != nil {
		return nil, false, st, err
	}
	if long {
		return r.buf, true, st, nil
	}
	p = trimEOL(r.buf)
	if len(p) > r.max {
		d, hd = r.delimFor(p)
		return p, true, scanQuotes(st, p, d, hd), nil
	}
	return p, false, st, nil
}

// countLine counts one more physical line against Options.MaxLines.
func (r *Reader) countLine() error {
	if r.maxLines > 0 && r.line >= r.maxLines {
		return fmt.Errorf("more than %d lines (blank and comment lines count): %w", r.maxLines, ErrTooManyLines)
	}
	r.line++
	return nil
}

// record is one logical row: usually one physical line, several when a quoted
// field contains newlines.
type record struct {
	data         []byte
	line         int // first physical line
	endLine      int // last physical line
	multi        bool
	tooLong      bool
	unterminated bool
}

// isSkippable reports whether p is blank or a comment.
func isSkippable(p []byte) bool {
	for _, c := range p {
		switch c {
		case ' ', '\t':
			continue
		case '#':
			return true
		}
		return false
	}
	return true
}

// readRecord returns the next non-blank, non-comment record, or io.EOF.
func (r *Reader) readRecord() (record, error) {
	var rec record
	st := qStart
	var d byte // delimiter for tracking quotes in this record
	var hd bool
	for {
		p, long, endSt, err := r.readLine(st)
		if err != nil {
			if err == io.EOF && rec.line > 0 {
				rec.unterminated = true
				if !rec.tooLong {
					rec.data = r.rec
				}
				return rec, nil
			}
			return record{}, err
		}
		if rec.line == 0 {
			if !long && isSkippable(p) {
				continue
			}
			rec.line = r.line
			if !long && !r.delimKnown {
				r.delim, r.hasDelim = detectDelim(p)
				r.delimKnown = true
			}
			d, hd = r.delimFor(p)
		}
		rec.endLine = r.line
		if !long && !rec.tooLong && rec.multi && len(r.rec)+len(p) > r.max {
			// The multi-line record outgrows the limit.
			long = true
			endSt = scanQuotes(st, p, d, hd)
		}
		if long || rec.tooLong {
			if !rec.tooLong {
				rec.tooLong = true
				src := p
				if rec.multi {
					src = r.rec
				}
				if r.prefix == nil {
					r.prefix = make([]byte, 0, maxValueBytes)
				}
				r.prefix = append(r.prefix[:0], src[:min(len(src), maxValueBytes)]...)
				rec.data = r.prefix
			} else if !long {
				endSt = scanQuotes(st, p, d, hd)
			}
			if endSt != qQuoted {
				return rec, nil
			}
			st = qQuoted
			continue
		}
		if rec.multi {
			r.rec = append(r.rec, p...)
			if st = scanQuotes(st, p, d, hd); st == qQuoted {
				r.rec = append(r.rec, '\n')
				continue
			}
			rec.data = r.rec
			return rec, nil
		}
		if bytes.IndexByte(p, '"') < 0 {
			rec.data = p
			return rec, nil
		}
		if st = scanQuotes(qStart, p, d, hd); st != qQuoted {
			rec.data = p
			return rec, nil
		}
		rec.multi = true
		r.rec = append(r.rec[:0], p...)
		r.rec = append(r.rec, '\n')
	}
}

// checkRecord returns a reason if the record as a whole is bad, with the value
// to show.
func (r *Reader) checkRecord(rec *record) ([]byte, string) {
	switch {
	case rec.tooLong && rec.endLine > rec.line:
		return rec.data, fmt.Sprintf("line longer than %d bytes (quoted field spans lines %d-%d)", r.max, rec.line, rec.endLine)
	case rec.tooLong:
		return rec.data, fmt.Sprintf("line longer than %d bytes", r.max)
	case rec.unterminated:
		return rec.data, fmt.Sprintf("unterminated quoted field (runs from line %d to the end of input)", rec.line)
	}
	if bytes.IndexByte(rec.data, 0) >= 0 {
		return rec.data, "contains NUL byte"
	}
	if !utf8.Valid(rec.data) {
		return rec.data, "invalid UTF-8 at byte " + strconv.Itoa(invalidUTF8At(rec.data)+1)
	}
	if rec.multi {
		// A quoted newline may come from a stray quote that swallowed the
		// following lines: insist that the whole record is well-formed.
		for pos := 0; pos >= 0; {
			var reason string
			if _, pos, reason = r.nextField(rec.data, pos); reason != "" {
				return rec.data, reason + fmt.Sprintf(" (record spans lines %d-%d)", rec.line, rec.endLine)
			}
		}
	}
	return nil, ""
}

func invalidUTF8At(p []byte) int {
	for i := 0; i < len(p); {
		c, n := utf8.DecodeRune(p[i:])
		if c == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(p)
}

// nextField parses the field starting at rec[pos:]. next is the start of the
// following field, or -1 if this was the last one.
func (r *Reader) nextField(rec []byte, pos int) (val []byte, next int, reason string) {
	j := pos
	for j < len(rec) && rec[j] == ' ' {
		j++
	}
	if j < len(rec) && rec[j] == '"' {
		j++
		start := j
		escaped := false
		for {
			k := bytes.IndexByte(rec[j:], '"')
			if k < 0 {
				return rec[start:], -1, "unterminated quoted field"
			}
			j += k
			if j+1 < len(rec) && rec[j+1] == '"' {
				escaped = true
				j += 2
				continue
			}
			break
		}
		val = rec[start:j]
		if escaped {
			r.fbuf = r.fbuf[:0]
			for len(val) > 0 {
				k := bytes.IndexByte(val, '"')
				if k < 0 {
					r.fbuf = append(r.fbuf, val...)
					break
				}
				r.fbuf = append(r.fbuf, val[:k+1]...)
				val = val[k+2:]
			}
			val = r.fbuf
		}
		j++
		for j < len(rec) && rec[j] == ' ' {
			j++
		}
		switch {
		case j == len(rec):
			return val, -1, ""
		case r.hasDelim && rec[j] == r.delim:
			return val, j + 1, ""
		}
		return rec[pos:], -1, "text after closing quote"
	}
	if !r.hasDelim {
		return rec[pos:], -1, ""
	}
	k := bytes.IndexByte(rec[pos:], r.delim)
	if k < 0 {
		return rec[pos:], -1, ""
	}
	return rec[pos : pos+k], pos + k + 1, ""
}

// idField extracts the ID column of a record.
func (r *Reader) idField(rec []byte) ([]byte, string) {
	pos := 0
	for col := 0; ; col++ {
		val, next, reason := r.nextField(rec, pos)
		if reason != "" {
			return val, reason
		}
		if col == r.idCol {
			return val, ""
		}
		if next < 0 {
			return rec, "missing id column"
		}
		pos = next
	}
}

var headerNames = []string{"id", "asset_id", "asset id", "assetid", "asset-id", "asset"}

func isHeaderName(c string) bool {
	for _, h := range headerNames {
		if strings.EqualFold(c, h) {
			return true
		}
	}
	return false
}

// cells splits a record into trimmed cells; ok is false for a malformed
// record.
func (r *Reader) cells(rec []byte) (cells []string, ok bool) {
	for pos := 0; pos >= 0; {
		var val []byte
		var reason string
		if val, pos, reason = r.nextField(rec, pos); reason != "" {
			return nil, false
		}
		cells = append(cells, strings.Trim(string(val), " \t"))
	}
	return cells, true
}

// looksLikeHeader reports whether cell c cannot be an ID row's cell: not
// a valid ID and without a digit (Unicode digits included, so a row of
// Arabic-Indic digits is reported, not swallowed as a header).
func looksLikeHeader(c string) bool {
	_, reason := parseID(c)
	return reason != "" && strings.IndexFunc(c, unicode.IsDigit) < 0
}

// detectHeader decides whether the first data record (on line) is a
// header and chooses the ID column: Options.Column if given, else a
// header cell with an ID name, else the only column; a header with
// several columns and no ID name leaves the choice to the first data row
// (idCol -1, chooseByValues).
func (r *Reader) detectHeader(rec []byte, line int) (bool, error) {
	cells, ok := r.cells(rec)
	if !ok {
		return false, nil // malformed: let the data path report it
	}
	r.hdrLine = line
	if r.column != "" {
		return r.chosenColumn(cells, line)
	}
	for i, c := range cells {
		if isHeaderName(c) {
			r.hasHeader, r.header, r.idCol, r.why = true, cells, i, WhyHeaderName
			return true, nil
		}
	}
	if !looksLikeHeader(cells[0]) {
		r.idCol, r.why = 0, WhyNoHeader
		if len(cells) == 1 {
			r.why = WhyOnlyColumn
		}
		return false, nil
	}
	r.hasHeader, r.header = true, cells
	if len(cells) == 1 {
		r.idCol, r.why = 0, WhyOnlyColumn
		return true, nil
	}
	r.idCol = -1
	return true, nil
}

// chosenColumn applies Options.Column to the first record.
func (r *Reader) chosenColumn(cells []string, line int) (bool, error) {
	if n, err := strconv.Atoi(r.column); err == nil {
		if n < 1 {
			return false, fmt.Errorf("%s: column %d: %w: columns count from 1", r.name, n, ErrIDColumn)
		}
		// The line is a header if a cell has an ID name or the chosen one
		// (the last, for a number past them) cannot be an ID.
		header := slices.ContainsFunc(cells, isHeaderName) || looksLikeHeader(cells[min(n, len(cells))-1])
		if header && n > len(cells) {
			return false, fmt.Errorf("%s:%d: column %d: %w: the header has %d columns: %s", r.name, line, n, ErrIDColumn, len(cells), listColumns(cells))
		}
		if header {
			r.hasHeader, r.header = true, cells
		}
		r.idCol, r.why = n-1, WhyChosen
		return header, nil
	}
	for i, c := range cells {
		if strings.EqualFold(c, r.column) {
			r.hasHeader, r.header, r.idCol, r.why = true, cells, i, WhyChosen
			return true, nil
		}
	}
	return false, fmt.Errorf("%s:%d: no column named %q: %w: the columns of the first line are %s", r.name, line, r.column, ErrIDColumn, listColumns(cells))
}

// ReasonNoIDColumn is the BadRow reason of a row under a header that
// names no ID column, read before the ID column is known, none of whose
// cells is a valid ID.
const ReasonNoIDColumn = "no column holds an asset ID"

// chooseByValues decides the ID column of a file whose header names none
// (a "port,host" header): the one column of the first data row (on line)
// that holds a valid ID. More than one is an error that lists the
// columns: reading the wrong column would reset the labels of other
// assets. None leaves the choice to the next row (chosen false): this
// row is a bad row.
func (r *Reader) chooseByValues(rec []byte, line int) (chosen bool, err error) {
	cells, ok := r.cells(rec)
	if !ok {
		cells = nil
	}
	var ids []int
	for i, c := range cells {
		if _, reason := parseID(c); reason == "" {
			ids = append(ids, i)
		}
	}
	switch len(ids) {
	case 0:
		return false, nil
	case 1:
		r.idCol, r.why = ids[0], WhyOnlyIDs
		return true, nil
	}
	return false, fmt.Errorf("%s:%d: the header names no ID column (%s) and %d of its columns hold an ID on line %d: %w: choose one; the columns are %s",
		r.name, r.hdrLine, strings.Join(headerNames, ", "), len(ids), line, ErrIDColumn, listColumns(r.header))
}

// listColumns renders header cells as `1 "port", 2 "host"`.
func listColumns(cells []string) string {
	var b strings.Builder
	for i, c := range cells {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(c))
	}
	return b.String()
}

// delimHint explains a non-decimal ID cell that contains a delimiter other
// than the file's.
func (r *Reader) delimHint(val []byte) string {
	for _, d := range []byte{'\t', ',', ';'} {
		if (!r.hasDelim || d != r.delim) && bytes.IndexByte(val, d) >= 0 {
			return fmt.Sprintf(" (contains %q but the file's delimiter is %s)", d, delimName(r.delim, r.hasDelim))
		}
	}
	return ""
}

func delimName(d byte, has bool) string {
	switch {
	case !has:
		return "none (one ID per line)"
	case d == '\t':
		return "tab"
	}
	return strconv.QuoteRune(rune(d))
}
