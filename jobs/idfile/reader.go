package idfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
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
