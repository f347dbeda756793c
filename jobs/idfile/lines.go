package idfile

// Physical lines and records: quote state across lines, the delimiter,
// line endings, the line and length limits, skippable lines.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

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
