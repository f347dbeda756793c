// Package idfile streams PDCP asset IDs out of CSV, TSV, semicolon-separated
// and plain one-ID-per-line files (optionally gzip-compressed) and stdin.
//
// ParseID is the single validation rule for an asset ID: ASCII decimal digits
// only, surrounding ASCII spaces/tabs ignored, no sign, value 1..math.MaxInt64.
// It is used for files here and for --ids and JSON inputs elsewhere.
//
// A Reader reads its input one physical line at a time through a fixed-size
// buffer, so memory stays bounded by Options.MaxLineBytes (plus a 64 KiB read
// buffer) whatever the size of the input, and a valid row costs no allocation.
//
// # Format
//
// The format is detected on the first non-blank, non-comment line that is not
// itself a bad row (see below):
//
//   - delimiter: tab if the line contains a tab, else ',' if it contains a
//     comma, else ';' if it contains a semicolon, else none (the whole line is
//     one field, one ID per line). The delimiter is fixed for the whole file: a
//     later row written with another delimiter becomes a bad row whose reason
//     names the stray delimiter.
//   - header and ID column: if any cell, trimmed and case-insensitive, is one
//     of "id", "asset_id", "asset id", "assetid", "asset-id" or "asset", the
//     line is a header and the first such column holds the IDs ("header
//     name"). Otherwise, if the first cell is not a valid ID and contains no
//     digit (Unicode digits included, so a row of Arabic-Indic digits is
//     reported, not swallowed as a header), the line is a header: with one
//     column, that column holds the IDs; with several, the one column that
//     holds a valid ID on the first data row with any (rows before it are
//     bad rows, ReasonNoIDColumn), and when more than one does (a
//     "port,host" header over "443,1234"), Next fails with an error
//     wrapping ErrIDColumn that names the file and line and lists the
//     columns. Otherwise there is no header and the first column holds
//     the IDs. Options.Column (a 1-based number or a header name) overrides
//     the choice; Reader.Column says which column was taken and why.

// A leading UTF-8 byte order mark is dropped. Lines end in "\n" or "\r\n". Blank
// lines (only spaces/tabs) and lines whose first non-space character is '#' are
// skipped and are not errors, but they count toward Options.MaxLines. Cells are
// trimmed of ASCII spaces and tabs.
//
// Quoting follows RFC 4180: a field that starts with '"' (after optional
// spaces) is quoted, "" inside it is a literal quote, and delimiters inside it
// are data. A quote inside an unquoted field is an ordinary character.
// Newlines inside quoted fields are supported: the record then spans several
// physical lines, its Line is the first of them, the MaxLineBytes limit applies
// to the whole record, and every field of such a record is checked so that a
// stray opening quote that swallowed following lines is reported as a bad row
// rather than silently dropping the rows it covered. A quoted field still open
// at the end of input is a bad row ("unterminated quoted field ...").
//
// # Bad rows
//
// A row that cannot yield an ID is returned by Reader.Next as a *BadRow and
// reading continues with the next row: an invalid ID (any ParseID reason), a
// row with fewer columns than the ID column ("missing id column"), a NUL byte
// ("contains NUL byte"), invalid UTF-8 ("invalid UTF-8 at byte N"), a line or
// quoted record longer than MaxLineBytes ("line longer than N bytes"; the rest
// of that line, or of that quoted record, is skipped), text after a closing
// quote, or an unterminated quoted field.
//
// Input starting with the gzip magic bytes (1f 8b) is decompressed on the fly;
// messages keep the original name. Input that looks like zip, bzip2, xz or
// zstd fails with a clear error; any other binary input yields bad rows.
//
// Errors other than *BadRow are fatal: I/O and gzip errors (wrapped with the
// file name), ErrIDColumn when the ID column cannot be told, and ErrNoIDs
// when the input holds no data row at all.
package idfile
