package idfile

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// FuzzReader feeds arbitrary bytes to a Reader: it must never panic, must
// terminate, keep its buffers bounded, report BadRows with Line >= 1 and rows
// with ID > 0, and give the same results whatever the read chunking.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"1\n2\n",
		"\ufeffasset_id,name\r\n1,\"a, b\"\r\n",
		"id,d\n1,\"x\ny\"\n0\n",
		"\"1\"x\n\x00\n\xff\n",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Add(gz(f, "id\n1\n2\n"), uint8(8))
	f.Fuzz(func(t *testing.T, data []byte, max uint8) {
		opts := Options{MaxLineBytes: int(max)} // 0 = default
		got := collectFuzz(t, NewReader(bytes.NewReader(data), "fuzz", opts))
		got1 := collectFuzz(t, NewReader(iotest.OneByteReader(bytes.NewReader(data)), "fuzz", opts))
		if diff := cmp.Diff(got, got1); diff != "" {
			t.Errorf("one-byte reads differ (-full +onebyte):\n%s", diff)
		}
	})
}

func collectFuzz(t *testing.T, r *Reader) []string {
	var out []string
	for i := 0; ; i++ {
		if i > 1<<20 {
			t.Fatal("reader does not terminate")
		}
		row, err := r.Next()
		limit := r.max + 2 + 2*readBufSize
		if cap(r.buf) > 2*limit || cap(r.rec) > 2*limit || cap(r.fbuf) > 2*limit || cap(r.prefix) > maxValueBytes {
			t.Fatalf("buffers grew beyond the line limit: buf %d rec %d fbuf %d prefix %d", cap(r.buf), cap(r.rec), cap(r.fbuf), cap(r.prefix))
		}
		var bad *BadRow
		switch {
		case err == nil:
			if row.ID <= 0 || row.Line < 1 {
				t.Fatalf("invalid row %+v", row)
			}
			out = append(out, strconv.Itoa(row.Line)+":"+strconv.FormatInt(row.ID, 10))
		case errors.As(err, &bad):
			if bad.Line < 1 || bad.Reason == "" || len(bad.Value) > maxValueBytes {
				t.Fatalf("bad row %+v", bad)
			}
			out = append(out, bad.Error())
		case err == io.EOF, errors.Is(err, ErrNoIDs):
			return append(out, err.Error())
		default:
			if !strings.HasPrefix(err.Error(), "fuzz:") { // "fuzz: ..." or "fuzz:LINE: ..."
				t.Fatalf("fatal error %q does not name the file", err)
			}
			return append(out, err.Error())
		}
	}
}

// FuzzParseID checks ParseID against strconv.ParseInt: on strings that are
// ASCII digits once trimmed of spaces and tabs they agree (for values > 0);
// everything else is rejected.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"42", " 42 ", "0", "-1", "9223372036854775807", "9223372036854775808", "+1", "1e3", "٤٢"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		trimmed := strings.Trim(s, " \t")
		digits := trimmed != "" && strings.Trim(trimmed, "0123456789") == ""
		if !digits {
			if err == nil {
				t.Fatalf("ParseID(%q) = %d, want error for a non-digit string", s, id)
			}
			return
		}
		want, perr := strconv.ParseInt(trimmed, 10, 64)
		switch {
		case perr != nil:
			if err == nil || err.(*IDError).Reason != ReasonOutOfRange {
				t.Fatalf("ParseID(%q) = %d, %v; ParseInt says %v", s, id, err, perr)
			}
		case want == 0:
			if err == nil || err.(*IDError).Reason != ReasonNotPositive {
				t.Fatalf("ParseID(%q) = %d, %v; want must be > 0", s, id, err)
			}
		default:
			if err != nil || id != want {
				t.Fatalf("ParseID(%q) = %d, %v; want %d", s, id, err, want)
			}
		}
	})
}
