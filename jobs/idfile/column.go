package idfile

// The choice of the column that holds the asset IDs: the one Options.Column
// names, a recognised header name, the only column, or the only column
// whose first-row value is an ID; anything else is ErrIDColumn, never a guess.

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

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
	Why   string // e.g. "header name", "the only one", "chosen"
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

// Reasons a Reader gives for its choice of column (Column.Why). They
// follow "column N" in a plan, so they do not say "column" again.
const (
	WhyChosen     = "chosen"
	WhyHeaderName = "header name"
	WhyOnlyColumn = "the only one"
	WhyNoHeader   = "no header: the first one"
	WhyOnlyIDs    = "the only one holding an ID"
)

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
