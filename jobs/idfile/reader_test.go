package idfile

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// collect reads r to the end and renders every result as a string:
// "L:ID" for a row, "bad L \"value\": reason" for a bad row, and a final
// "EOF", "NOIDS" or "fatal: message".
func collect(t testing.TB, r *Reader) []string {
	t.Helper()
	var out []string
	for i := 0; ; i++ {
		if i > 1e7 {
			t.Fatal("reader does not terminate")
		}
		row, err := r.Next()
		var bad *BadRow
		switch {
		case err == nil:
			if row.ID <= 0 || row.Line < 1 {
				t.Fatalf("invalid row %+v", row)
			}
			out = append(out, fmt.Sprintf("%d:%d", row.Line, row.ID))
		case errors.As(err, &bad):
			if bad.Line < 1 {
				t.Fatalf("bad row with line %d: %v", bad.Line, bad)
			}
			out = append(out, fmt.Sprintf("bad %d %s: %s", bad.Line, quoteValue(bad.Value), bad.Reason))
		case err == io.EOF:
			return append(out, "EOF")
		case errors.Is(err, ErrNoIDs):
			return append(out, "NOIDS")
		default:
			return append(out, "fatal: "+err.Error())
		}
	}
}

func readString(t testing.TB, in string, opts Options) []string {
	t.Helper()
	return collect(t, NewReader(strings.NewReader(in), "f.csv", opts))
}

func TestParseID(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		reason string
	}{
		{"42", 42, ""},
		{" 42 ", 42, ""},
		{"\t42\t", 42, ""},
		{"007", 7, ""},
		{"1", 1, ""},
		{"9223372036854775807", 9223372036854775807, ""},
		{"0", 0, ReasonNotPositive},
		{"000", 0, ReasonNotPositive},
		{"-1", 0, ReasonNotPositive},
		{"-0", 0, ReasonNotPositive},
		{"-9223372036854775809", 0, ReasonNotPositive},
		{"9223372036854775808", 0, ReasonOutOfRange},
		{"99999999999999999999999999", 0, ReasonOutOfRange},
		{"", 0, ReasonEmpty},
		{"   ", 0, ReasonEmpty},
		{"+42", 0, ReasonNotDecimal},
		{"-", 0, ReasonNotDecimal},
		{"--1", 0, ReasonNotDecimal},
		{"1e3", 0, ReasonNotDecimal},
		{"0x10", 0, ReasonNotDecimal},
		{"42abc", 0, ReasonNotDecimal},
		{"4 2", 0, ReasonNotDecimal},
		{"42\n", 0, ReasonNotDecimal},
		{"42\r", 0, ReasonNotDecimal},
		{"1.0", 0, ReasonNotDecimal},
		{"1_000", 0, ReasonNotDecimal},
		{"٤٢", 0, ReasonNotDecimal},       // Arabic-Indic digits
		{"４２", 0, ReasonNotDecimal},       // fullwidth digits
		{"\u00a042", 0, ReasonNotDecimal}, // NBSP is not ASCII space
		{"42\x00", 0, ReasonNotDecimal},
		{"99999999999999999999x", 0, ReasonNotDecimal}, // syntax beats range
	}
	for _, tt := range tests {
		got, err := ParseID(tt.in)
		if tt.reason == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseID(%q) = %d, %v; want %d, nil", tt.in, got, err, tt.want)
			}
			continue
		}
		var ie *IDError
		if !errors.As(err, &ie) || ie.Reason != tt.reason || got != 0 || ie.Value != tt.in {
			t.Errorf("ParseID(%q) = %d, %#v; want 0, *IDError{Reason: %q}", tt.in, got, err, tt.reason)
		}
	}
	_, err := ParseID("0x10")
	if got, want := err.Error(), `invalid asset ID "0x10": not a decimal integer`; got != want {
		t.Errorf("IDError.Error() = %q, want %q", got, want)
	}
}

func TestBadRowError(t *testing.T) {
	tests := []struct {
		b    BadRow
		want string
	}{
		{BadRow{"ids.csv", 3, "42abc", "not a decimal integer"}, `ids.csv:3: "42abc": not a decimal integer`},
		{BadRow{"stdin", 1, "a\x00b", "contains NUL byte"}, `stdin:1: "a\x00b": contains NUL byte`},
		{BadRow{"f", 9, strings.Repeat("x", 64), "r"}, `f:9: "` + strings.Repeat("x", 64) + `": r`},
		{BadRow{"f", 9, strings.Repeat("x", 65), "r"}, `f:9: "` + strings.Repeat("x", 64) + `…": r`},
		// truncation does not split a multi-byte rune
		{BadRow{"f", 1, strings.Repeat("x", 63) + "éé", "r"}, `f:1: "` + strings.Repeat("x", 63) + `…": r`},
	}
	for _, tt := range tests {
		if got := tt.b.Error(); got != tt.want {
			t.Errorf("BadRow.Error() = %s, want %s", got, tt.want)
		}
	}
}

func TestReader(t *testing.T) {
	cols100 := make([]string, 100)
	row100 := make([]string, 100)
	for i := range cols100 {
		cols100[i] = "c" + strconv.Itoa(i)
		row100[i] = strconv.Itoa(1000 + i)
	}
	cols100[56] = "Asset_ID"
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"one column", "1\n2\n3\n", []string{"1:1", "2:2", "3:3", "EOF"}},
		{"no final newline", "1\n2", []string{"1:1", "2:2", "EOF"}},
		{"hostile ids", "id\n0\n-1\n9223372036854775808\n1e3\n0x10\n 42 \n42abc\n٤٢\n４２\n9223372036854775807\n", []string{
			`bad 2 "0": must be > 0`,
			`bad 3 "-1": must be > 0`,
			`bad 4 "9223372036854775808": out of int64 range`,
			`bad 5 "1e3": not a decimal integer`,
			`bad 6 "0x10": not a decimal integer`,
			"7:42",
			`bad 8 "42abc": not a decimal integer`,
			`bad 9 "٤٢": not a decimal integer`,
			`bad 10 "４２": not a decimal integer`,
			"11:9223372036854775807",
			"EOF",
		}},
		{"first line unicode digits is data, not header", "٤٢\n5\n", []string{`bad 1 "٤٢": not a decimal integer`, "2:5", "EOF"}},
		{"first line bad id with ascii digit is data", "42abc\n5\n", []string{`bad 1 "42abc": not a decimal integer`, "2:5", "EOF"}},
		{"header without known name", "Ident\n5\n", []string{"2:5", "EOF"}},
		{"header name in second column", "name,Asset ID,x\nfoo,5,bar\nbaz,6\n", []string{"2:5", "3:6", "EOF"}},
		{"header names", "ASSETID\n1\n", []string{"2:1", "EOF"}},
		{"header asset-id", "x;asset-id\na;7\n", []string{"2:7", "EOF"}},
		{"pandas index column", ",asset_id,name\n0,11,a\n1,12,b\n", []string{"2:11", "3:12", "EOF"}},
		{"no header, first column", "5,foo\n6,bar\n", []string{"1:5", "2:6", "EOF"}},
		{"tsv", "id\tname\n5\tfoo, bar; baz\n", []string{"2:5", "EOF"}},
		{"semicolon", "5;foo\n6;bar\n", []string{"1:5", "2:6", "EOF"}},
		{"100 columns, id in column 57", strings.Join(cols100, ",") + "\n" + strings.Join(row100, ",") + "\n" + strings.Join(row100[:56], ",") + "\n",
			[]string{"2:1056", `bad 3 "` + strings.Join(row100[:56], ",")[:64] + `…": missing id column`, "EOF"}},
		{"missing id column", "a,id\nx,1\ny\nz,\n", []string{"2:1", `bad 3 "y": missing id column`, `bad 4 "": empty`, "EOF"}},
		{"mixed delimiters", "id,name\n1,a\n2;b\n3\tc\n4,d\n", []string{
			"2:1",
			`bad 3 "2;b": not a decimal integer (contains ';' but the file's delimiter is ',')`,
			`bad 4 "3\tc": not a decimal integer (contains '\t' but the file's delimiter is ',')`,
			"5:4", "EOF"}},
		{"one id per line then csv", "1\n2,x\n", []string{"1:1", `bad 2 "2,x": not a decimal integer (contains ',' but the file's delimiter is none (one ID per line))`, "EOF"}},
		{"empty file", "", []string{"NOIDS"}},
		{"header only", "asset_id\n", []string{"NOIDS"}},
		{"header only no newline", "id,name", []string{"NOIDS"}},
		{"comments and blanks only", "# export\n\n   \n\t\n  # indented\n", []string{"NOIDS"}},
		{"bom only", "\ufeff", []string{"NOIDS"}},
		{"bom crlf", "\ufeffasset_id,name\r\n1,a\r\n2,b\r\n", []string{"2:1", "3:2", "EOF"}},
		{"bom crlf one column no header", "\ufeff10\r\n20\r\n", []string{"1:10", "2:20", "EOF"}},
		{"trailing spaces", "id  \n1   \n2\t\n", []string{"2:1", "3:2", "EOF"}},
		{"comments and blank lines", "# generated\n\nid\n# note\n1\n\n  \n2\n#3\n", []string{"5:1", "8:2", "EOF"}},
		{"quoted fields with commas", "\"name, full\",\"id\"\n\"Doe, John\",\"42\"\n\"a \"\"b\"\", c\",43\n", []string{"2:42", "3:43", "EOF"}},
		{"quoted id with spaces", "\" 42 \"\n  \"43\"  \n", []string{"1:42", "2:43", "EOF"}},
		{"quote inside unquoted field is literal", "id,desc\n1,5\" disk\n2,x\n", []string{"2:1", "3:2", "EOF"}},
		{"quoted id escaped quote", "id\n\"4\"\"2\"\n", []string{`bad 2 "4\"2": not a decimal integer`, "EOF"}},
		{"text after closing quote", "\"1\"x,a\n2,b\n", []string{`bad 1 "\"1\"x,a": text after closing quote`, "2:2", "EOF"}},
		{"multi-line quoted field", "id,desc\n1,\"line one\nline two\n3,not a row\"\n4,x\n", []string{"2:1", "5:4", "EOF"}},
		{"multi-line quoted id", "\"1\n2\"\n3\n", []string{`bad 1 "1\n2": not a decimal integer`, "3:3", "EOF"}},
		{"multi-line crlf", "id,d\r\n1,\"a\r\nb\"\r\n2,c\r\n", []string{"2:1", "4:2", "EOF"}},
		{"stray quote swallowing lines is reported", "id,d\n1,\"oops\n2,x\n3,\"y\"\n4,z\n", []string{
			`bad 2 "1,\"oops\n2,x\n3,\"y\"": text after closing quote (record spans lines 2-4)`, "5:4", "EOF"}},
		{"unterminated quote at eof", "id,d\n1,a\n2,\"open\n3,x\n", []string{"2:1", `bad 3 "2,\"open\n3,x\n": unterminated quoted field (runs from line 3 to the end of input)`, "EOF"}},
		{"nul bytes", "1\n2\x003\n\x00\n4\n", []string{"1:1", `bad 2 "2\x003": contains NUL byte`, `bad 3 "\x00": contains NUL byte`, "4:4", "EOF"}},
		{"invalid utf8", "1\nab\xffc,2\n3\n", []string{"1:1", `bad 2 "ab\xffc,2": invalid UTF-8 at byte 3`, "3:3", "EOF"}},
		{"bad first line does not fix the format", "\xff\xfe\t\n\"id\",x\n5,y\n", []string{`bad 1 "\xff\xfe\t": invalid UTF-8 at byte 1`, "3:5", "EOF"}},
		{"only bad rows ends with EOF", "0\n-5\n", []string{`bad 1 "0": must be > 0`, `bad 2 "-5": must be > 0`, "EOF"}},
		{"cr only line endings", "1\r2\r3\r", []string{`bad 1 "1\r2\r3": not a decimal integer`, "EOF"}},
		{"empty header cell is header", ",x\n1,y\n", []string{"2:1", "EOF"}},
		{"empty id cell", "id,x\n,y\n\"\",z\n", []string{`bad 2 "": empty`, `bad 3 "": empty`, "EOF"}},
		{"tab delimiter keeps empty trailing fields", "a\tb\tid\n1\t2\t\n", []string{`bad 2 "": empty`, "EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readString(t, tt.in, Options{})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("input %q:\ngot  %q\nwant %q\ndiff (-want +got):\n%s", tt.in, got, tt.want, diff)
			}
			// Chunking must not matter.
			got1 := collect(t, NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), "f.csv", Options{}))
			if diff := cmp.Diff(got, got1); diff != "" {
				t.Errorf("one-byte reads differ (-full +onebyte):\n%s", diff)
			}
		})
	}
}

func TestLongLines(t *testing.T) {
	mb1 := "42" + strings.Repeat(" ", 1_000_000-2) // 1 MB, under the 1 MiB default
	mb2 := strings.Repeat("7", 2_000_000)
	in := "id\n" + mb1 + "\n" + mb2 + "\r\n5\n"
	want := []string{"2:42", `bad 3 "` + strings.Repeat("7", 64) + `…": line longer than 1048576 bytes`, "4:5", "EOF"}
	if got := readString(t, in, Options{}); !cmp.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	// Exactly at the limit is fine; one more byte is not (line endings excluded).
	max := 100 << 10 // longer than the read buffer
	at := strings.Repeat(" ", max-1) + "1"
	over := strings.Repeat(" ", max) + "2"
	got := readString(t, at+"\r\n"+over+"\r\n3", Options{MaxLineBytes: max})
	want = []string{"1:1", fmt.Sprintf(`bad 2 "%s…": line longer than %d bytes`, strings.Repeat(" ", 64), max), "3:3", "EOF"}
	if !cmp.Equal(got, want) {
		t.Errorf("limit %d: got %q, want %q", max, got, want)
	}

	// Small limits (shorter than the read buffer) work the same.
	got = readString(t, "12345\n123456\n1234\n", Options{MaxLineBytes: 5})
	want = []string{"1:12345", `bad 2 "123456": line longer than 5 bytes`, "3:1234", "EOF"}
	if !cmp.Equal(got, want) {
		t.Errorf("limit 5: got %q, want %q", got, want)
	}

	// A line longer than both a small limit and the read buffer.
	got = readString(t, "1\n"+strings.Repeat("9", 100<<10)+"\n\"a,"+strings.Repeat("b", 100<<10)+"\n\"\n2\n", Options{MaxLineBytes: 10})
	want = []string{"1:1", `bad 2 "` + strings.Repeat("9", 64) + `…": line longer than 10 bytes`,
		`bad 3 "\"a,` + strings.Repeat("b", 61) + `…": line longer than 10 bytes (quoted field spans lines 3-4)`, "5:2", "EOF"}
	if !cmp.Equal(got, want) {
		t.Errorf("limit 10, long lines: got %q, want %q", got, want)
	}

	// A long quoted record is skipped up to its closing quote, not just to
	// the end of its first line, so its continuation lines are never read as rows.
	long := strings.Repeat("x", 200<<10)
	in = "id,d\n1,\"" + long + "\n2,in quotes\n" + long + "\"\n3,after\n"
	got = readString(t, in, Options{MaxLineBytes: 100 << 10})
	want = []string{fmt.Sprintf(`bad 2 "1,\"%s…": line longer than %d bytes (quoted field spans lines 2-4)`, strings.Repeat("x", 61), 100<<10), "5:3", "EOF"}
	if !cmp.Equal(got, want) {
		t.Errorf("long quoted: got %q, want %q", got, want)
	}
	got = readString(t, "id,d\n1,\"a\nb\nc\nd\"\n2\n", Options{MaxLineBytes: 6})
	want = []string{`bad 2 "1,\"a\nb\n": line longer than 6 bytes (quoted field spans lines 2-5)`, "6:2", "EOF"}
	if !cmp.Equal(got, want) {
		t.Errorf("multi-line over limit: got %q, want %q", got, want)
	}
}

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGzip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ids.csv.gz")
	if err := os.WriteFile(path, gz(t, "\ufeffasset_id\r\n1\r\nx\r\n3\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, c, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := collect(t, r)
	want := []string{"2:1", `bad 3 "x": not a decimal integer`, "4:3", "EOF"}
	if !cmp.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	// Messages keep the file name.
	r = NewReader(bytes.NewReader(gz(t, "0\n")), "ids.csv.gz", Options{})
	if _, err := r.Next(); err == nil || err.Error() != `ids.csv.gz:1: "0": must be > 0` {
		t.Errorf("got %v, want ids.csv.gz:1: \"0\": must be > 0", err)
	}

	// Concatenated gzip members are read as one stream.
	cat := append(gz(t, "1\n"), gz(t, "2\n")...)
	if got, want := collect(t, NewReader(bytes.NewReader(cat), "f", Options{})), []string{"1:1", "2:2", "EOF"}; !cmp.Equal(got, want) {
		t.Errorf("multistream: got %q, want %q", got, want)
	}

	// Empty gzip: no IDs.
	if got, want := collect(t, NewReader(bytes.NewReader(gz(t, "")), "f", Options{})), []string{"NOIDS"}; !cmp.Equal(got, want) {
		t.Errorf("empty gzip: got %q, want %q", got, want)
	}

	// Truncated and corrupt gzip are fatal and name the file.
	full := gz(t, strings.Repeat("123456789\n", 10000))
	got = collect(t, NewReader(bytes.NewReader(full[:len(full)/2]), "big.gz", Options{}))
	// The error says how far the file got: the last row read is the line
	// before the one it names.
	wantLast := fmt.Sprintf("fatal: big.gz: after line %d: truncated gzip data", len(got)-1)
	if last := got[len(got)-1]; !strings.HasPrefix(last, wantLast) {
		t.Errorf("truncated gzip: last result %q, want %q...", last, wantLast)
	}
	bad := bytes.Clone(full)
	bad[len(bad)-6] ^= 0xff // CRC
	got = collect(t, NewReader(bytes.NewReader(bad), "crc.gz", Options{}))
	if last := got[len(got)-1]; last != "fatal: crc.gz: after line 10000: reading gzip data: gzip: invalid checksum" {
		t.Errorf("bad crc: last result %q", last)
	}
	got = collect(t, NewReader(bytes.NewReader([]byte{0x1f, 0x8b, 0}), "hdr.gz", Options{}))
	if want := []string{"fatal: hdr.gz: truncated gzip data: unexpected EOF"}; !cmp.Equal(got, want) {
		t.Errorf("bad header: got %q, want %q", got, want)
	}
}

func TestBinaryInput(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"zip", "PK\x03\x04\x14\x00rest", "fatal: f: input is a zip archive; only gzip compression is supported, decompress it first"},
		{"xz", "\xfd7zXZ\x00\x00", "fatal: f: input is xz-compressed; only gzip compression is supported, decompress it first"},
		{"zstd", "\x28\xb5\x2f\xfd\x00", "fatal: f: input is zstd-compressed; only gzip compression is supported, decompress it first"},
		{"bzip2", "BZh91AY&SY\x00", "fatal: f: input is bzip2-compressed; only gzip compression is supported, decompress it first"},
	} {
		got := collect(t, NewReader(strings.NewReader(tt.in), "f", Options{}))
		if want := []string{tt.want}; !cmp.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, want)
		}
	}
	// "BZh" as a header is just text.
	if got, want := readString(t, "BZh\n1\n", Options{}), []string{"2:1", "EOF"}; !cmp.Equal(got, want) {
		t.Errorf("BZh header: got %q, want %q", got, want)
	}
	// Random bytes: bad rows, never a panic or a bogus row.
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	got := collect(t, NewReader(bytes.NewReader(buf), "noise.bin", Options{MaxLineBytes: 4096}))
	if got[len(got)-1] != "EOF" {
		t.Errorf("random bytes: ended with %q", got[len(got)-1])
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestIOError(t *testing.T) {
	cause := errors.New("connection reset")
	r := NewReader(&failingReader{data: []byte("1\n2\n3"), err: cause}, "-", Options{})
	got := collect(t, r)
	want := []string{"1:1", "2:2", "fatal: stdin: after line 2: connection reset"}
	if !cmp.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := r.Next(); !errors.Is(err, cause) {
		t.Errorf("second Next after fatal error = %v, want sticky error wrapping %v", err, cause)
	}
	r = NewReader(iotest.ErrReader(cause), "x.csv", Options{})
	if _, err := r.Next(); !errors.Is(err, cause) || err.Error() != "x.csv: connection reset" {
		t.Errorf("error on first read = %v, want x.csv: connection reset", err)
	}
}

func TestStickyEnd(t *testing.T) {
	r := NewReader(strings.NewReader("id\n"), "empty.csv", Options{})
	for range 3 {
		_, err := r.Next()
		if !errors.Is(err, ErrNoIDs) || err.Error() != "empty.csv: no asset IDs found (empty file or header only)" {
			t.Fatalf("Next = %v, want empty.csv: no asset IDs found (empty file or header only)", err)
		}
	}
	r = NewReader(strings.NewReader("1\n"), "f", Options{})
	r.Next()
	for range 3 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next = %v, want io.EOF", err)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.csv")
	if _, _, err := Open(missing, Options{}); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want error naming %s and wrapping os.ErrNotExist", err, missing)
	}
	if _, _, err := Open(dir, Options{}); err == nil || err.Error() != dir+": is a directory, not an ID file" {
		t.Errorf("Open(dir) = %v, want %s: is a directory, not an ID file", err, dir)
	}
	path := filepath.Join(dir, "ids.txt")
	os.WriteFile(path, []byte("5\nx5\n"), 0o600)
	r, c, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r.Next()
	_, err = r.Next()
	if want := path + `:2: "x5": not a decimal integer`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	r, c, err = Open("-", Options{})
	if err != nil || r.name != "stdin" || c.Close() != nil {
		t.Errorf(`Open("-") = %v, %v (name %q), want stdin reader and no-op closer`, r, err, r.name)
	}
}

func TestHeader(t *testing.T) {
	r := NewReader(strings.NewReader("# x\nname,Asset_ID\na,1\n"), "f", Options{})
	cols, idCol, ok := r.Header() // before Next: reads ahead
	if want := []string{"name", "Asset_ID"}; !ok || idCol != 1 || !cmp.Equal(cols, want) {
		t.Errorf("Header() = %q, %d, %v; want %q, 1, true", cols, idCol, ok, want)
	}
	if got, want := collect(t, r), []string{"3:1", "EOF"}; !cmp.Equal(got, want) {
		t.Errorf("rows after Header: got %q, want %q", got, want)
	}
	r = NewReader(strings.NewReader("1\n2\n"), "f", Options{})
	if cols, idCol, ok := r.Header(); ok || cols != nil || idCol != 0 {
		t.Errorf("Header() without header = %q, %d, %v; want nil, 0, false", cols, idCol, ok)
	}
	if got, want := collect(t, r), []string{"1:1", "2:2", "EOF"}; !cmp.Equal(got, want) {
		t.Errorf("rows after Header: got %q, want %q", got, want)
	}
}

// TestNoAllocs checks that valid rows cost no allocation, which together with
// the fixed buffers keeps memory constant for any input size.
func TestNoAllocs(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("id,name,\"note\"\n")
	for i := 1; i <= 10000; i++ {
		fmt.Fprintf(&sb, "%d,\"n, %d\",x\n", i, i)
	}
	r := NewReader(strings.NewReader(sb.String()), "f", Options{})
	r.Next()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("allocations per row = %v, want 0", allocs)
	}
}

// TestConstantMemory streams 3M rows through a generator and checks that the
// Reader's buffers never grow.
func TestConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 3_000_000
	r := NewReader(&genReader{n: n, cols: 1}, "gen", Options{})
	count := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		count++
	}
	if count != n {
		t.Errorf("read %d rows, want %d", count, n)
	}
	if c := cap(r.buf) + cap(r.rec) + cap(r.fbuf); c != 0 {
		t.Errorf("scratch buffers grew to %d bytes for short lines", c)
	}
}

// genReader generates "id[,name,flag]\n" rows without holding them in memory.
type genReader struct {
	n, i, cols int
	pending    []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(g.pending) == 0 {
			if g.i >= g.n {
				if n == 0 {
					return 0, io.EOF
				}
				break
			}
			g.i++
			g.pending = strconv.AppendInt(g.pending[:0], 1_000_000_000_000+int64(g.i), 10)
			if g.cols == 3 {
				g.pending = append(g.pending, ",\"asset name\",true"...)
			}
			g.pending = append(g.pending, '\n')
		}
		k := copy(p[n:], g.pending)
		n += k
		g.pending = g.pending[k:]
	}
	return n, nil
}

func BenchmarkReader(b *testing.B) {
	for _, bc := range []struct {
		name string
		cols int
	}{{"1col", 1}, {"3col", 3}} {
		b.Run(bc.name, func(b *testing.B) {
			const rowsPerPass = 200_000
			var buf bytes.Buffer
			io.Copy(&buf, &genReader{n: rowsPerPass, cols: bc.cols})
			data := buf.Bytes()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			rows := 0
			for b.Loop() {
				r := NewReader(bytes.NewReader(data), "bench", Options{})
				for {
					_, err := r.Next()
					if err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
					rows++
				}
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// TestMaxLinesCountsBlankAndCommentLines: blank and comment lines count
// toward MaxLines, so an input of newlines ends early with ErrTooManyLines.
func TestMaxLinesCountsBlankAndCommentLines(t *testing.T) {
	r := NewReader(strings.NewReader("id\n1\n\n# note\n\n2\n"), "f.csv", Options{MaxLines: 4})
	var ids []int64
	var err error
	for {
		var row Row
		if row, err = r.Next(); err != nil {
			break
		}
		ids = append(ids, row.ID)
	}
	if !errors.Is(err, ErrTooManyLines) || len(ids) != 1 {
		t.Fatalf("6 lines with MaxLines 4: ids %v, err %v; want [1] then ErrTooManyLines", ids, err)
	}
	if !strings.Contains(err.Error(), "f.csv") || !strings.Contains(err.Error(), "more than 4 lines") {
		t.Errorf("error does not name the file and the limit: %v", err)
	}
	r = NewReader(strings.NewReader("id\n1\n\n# note\n"), "f.csv", Options{MaxLines: 4})
	if _, err := r.Next(); err != nil {
		t.Fatalf("4 lines with MaxLines 4: %v", err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("4 lines with MaxLines 4: end %v, want io.EOF", err)
	}
}

// TestIDColumn: which column the IDs come from, why, and the inputs where
// it cannot be told.
func TestIDColumn(t *testing.T) {
	tests := []struct {
		name, in, column string
		want             []string
		col              string // Column().String(); "" = none
	}{
		{"port,asset: the header name", "port,asset\n443,1234\n80,5678\n", "", []string{"2:1234", "3:5678", "EOF"}, `column 2 "asset" (header name)`},
		{"one column", "1\n2\n", "", []string{"1:1", "2:2", "EOF"}, "column 1 (the only one)"},
		{"one column header", "Ident\n5\n", "", []string{"2:5", "EOF"}, `column 1 "Ident" (the only one)`},
		{"no header", "5,foo\n6,bar\n", "", []string{"1:5", "2:6", "EOF"}, "column 1 (no header: the first one)"},
		{"the only column with an ID", "name,ref\nweb,7\n", "", []string{"2:7", "EOF"}, `column 2 "ref" (the only one holding an ID)`},
		{"ambiguous header", "# ports\nport,host\n443,1234\n", "", []string{`fatal: f.csv:2: the header names no ID column (id, asset_id, asset id, assetid, asset-id, asset) and 2 of its columns hold an ID on line 3: cannot tell which column holds the asset IDs: choose one; the columns are 1 "port", 2 "host"`}, ""},
		{"no column holds IDs", "a,b\nx,y\n", "", []string{`bad 2 "x,y": no column holds an asset ID`, "EOF"}, ""},
		{"decided on the first row with an ID", "a,b\nx,0\nx,7\ny,8\n", "", []string{`bad 2 "x,0": no column holds an asset ID`, "3:7", "4:8", "EOF"}, `column 2 "b" (the only one holding an ID)`},
		{"chosen by number", "port,host\n443,1234\n", "2", []string{"2:1234", "EOF"}, `column 2 "host" (chosen)`},
		{"chosen by number, no header", "443,1234\n", "2", []string{"1:1234", "EOF"}, "column 2 (chosen)"},
		{"chosen by name", "Port,Host\n443,1234\n", "host", []string{"2:1234", "EOF"}, `column 2 "Host" (chosen)`},
		{"chosen over the header name", "id,ref\n1,2\n", "ref", []string{"2:2", "EOF"}, `column 2 "ref" (chosen)`},
		{"no such name", "port,host\n443,1234\n", "asset", []string{`fatal: f.csv:1: no column named "asset": cannot tell which column holds the asset IDs: the columns of the first line are 1 "port", 2 "host"`}, ""},
		{"number past the header", "port,host\n443,1234\n", "3", []string{`fatal: f.csv:1: column 3: cannot tell which column holds the asset IDs: the header has 2 columns: 1 "port", 2 "host"`}, ""},
		{"number zero", "1\n", "0", []string{`fatal: f.csv: column 0: cannot tell which column holds the asset IDs: columns count from 1`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), "f.csv", Options{Column: tt.column})
			got := collect(t, r)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("input %q column %q: diff (-want +got):\n%s", tt.in, tt.column, diff)
			}
			c, ok := r.Column()
			if gotCol := c.String(); ok != (tt.col != "") || ok && gotCol != tt.col {
				t.Errorf("Column() = %q, %v; want %q", gotCol, ok, tt.col)
			}
		})
	}
	_, err := NewReader(strings.NewReader("port,host\n1,2\n"), "f.csv", Options{}).Next()
	if !errors.Is(err, ErrIDColumn) {
		t.Errorf("ambiguous header: %v, want ErrIDColumn", err)
	}
}
