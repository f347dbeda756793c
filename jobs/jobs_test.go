package jobs

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labelreset/labelreset/jobs/redistest"
)

func TestBatchRoundTrip(t *testing.T) {
	cases := []*Batch{
		{Campaign: "c1", Batch: 0, IDs: []int64{1}},
		{Campaign: "camp.2_x-y", Batch: 12345, Gen: 3, IDs: []int64{5, 6, 7, 1000, 1 << 40, 1<<63 - 1}},
	}
	for _, b := range cases {
		p, err := EncodeBatch(b)
		if err != nil {
			t.Fatalf("encode %+v: %v", b, err)
		}
		got, err := DecodeBatch(p)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if got.Campaign != b.Campaign || got.Batch != b.Batch || got.Gen != b.Gen || len(got.IDs) != len(b.IDs) {
			t.Fatalf("got %+v, want %+v", got, b)
		}
		for i := range b.IDs {
			if got.IDs[i] != b.IDs[i] {
				t.Fatalf("ID %d: got %d, want %d", i, got.IDs[i], b.IDs[i])
			}
		}
	}
	// 100 consecutive IDs stay small: the point of the encoding.
	ids := make([]int64, 100)
	for i := range ids {
		ids[i] = 9_000_000_000 + int64(i)
	}
	p, _ := EncodeBatch(&Batch{Campaign: "c", IDs: ids})
	if len(p) > 120 {
		t.Errorf("100 consecutive IDs encode to %d bytes, want <= 120", len(p))
	}
}

// TestBatchIncarnation: a batch with an incarnation round-trips it and
// gets its own task ID; one without is written as version 1, the payload
// earlier workers read, byte for byte.
func TestBatchIncarnation(t *testing.T) {
	b := &Batch{Campaign: "imp", Incarnation: "0123456789abcdef", Batch: 2, Gen: 1, IDs: []int64{7, 8, 9}}
	p, err := EncodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBatch(p)
	if err != nil || got.Incarnation != b.Incarnation || got.Campaign != "imp" || got.Batch != 2 || got.Gen != 1 || !slices.Equal(got.IDs, b.IDs) {
		t.Fatalf("decoded %+v, %v; want %+v", got, err, b)
	}
	legacy := &Batch{Campaign: "imp", Batch: 2, Gen: 1, IDs: []int64{7, 8, 9}}
	if b.TaskID() == legacy.TaskID() {
		t.Errorf("task ID %q is the same for two incarnations", b.TaskID())
	}
	if legacy.TaskID() != "imp:g1:b2" {
		t.Errorf("legacy task ID %q, want imp:g1:b2 (unchanged)", legacy.TaskID())
	}
	v1, _ := EncodeBatch(legacy)
	if want := []byte{1, 3, 'i', 'm', 'p', 2, 1, 3, 7, 1, 1}; !bytes.Equal(v1, want) {
		t.Errorf("batch without incarnation encodes to %v, want version 1 %v", v1, want)
	}
	for _, inc := range []string{"ABC", "a b", strings.Repeat("a", 33)} {
		if _, err := EncodeBatch(&Batch{Campaign: "c", Incarnation: inc, IDs: []int64{1}}); err == nil {
			t.Errorf("incarnation %q encoded, want an error", inc)
		}
	}
	if _, err := DecodeBatch([]byte{2, 1, 'c', 1, 'A', 0, 0, 1, 1}); !errors.Is(err, ErrBadPayload) {
		t.Errorf("bad incarnation in a payload: %v, want ErrBadPayload", err)
	}
}

func TestEncodeBatchRejects(t *testing.T) {
	for name, b := range map[string]*Batch{
		"empty":        {Campaign: "c"},
		"zero ID":      {Campaign: "c", IDs: []int64{0}},
		"unsorted":     {Campaign: "c", IDs: []int64{5, 3}},
		"duplicate":    {Campaign: "c", IDs: []int64{5, 5}},
		"bad campaign": {Campaign: "a b", IDs: []int64{1}},
	} {
		if _, err := EncodeBatch(b); err == nil {
			t.Errorf("%s: encoded, want an error", name)
		}
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	good, _ := EncodeBatch(&Batch{Campaign: "c", IDs: []int64{1, 2, 3}})
	for name, p := range map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{9}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte{}, good...), 0),
		"zero gap":       {1, 1, 'c', 0, 0, 2, 1, 0},
		"overflow":       {1, 1, 'c', 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"huge count":     {1, 1, 'c', 0, 0, 0xff, 0xff, 0x03},
		"bad campaign":   {1, 1, ' ', 0, 0, 1, 1},
	} {
		if _, err := DecodeBatch(p); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%s: err %v, want ErrBadPayload", name, err)
		}
	}
}

// FuzzDecodeBatch: arbitrary payloads never panic, never allocate more
// than MaxBatchSize IDs, and whatever decodes re-encodes to the same bytes.
func FuzzDecodeBatch(f *testing.F) {
	for _, b := range []*Batch{
		{Campaign: "c", IDs: []int64{1}},
		{Campaign: "q4-retire", Batch: 7, Gen: 2, IDs: []int64{100, 101, 102, 5000}},
		{Campaign: "imp", Incarnation: "0123456789abcdef", Batch: 1, IDs: []int64{7, 8, 9}},
	} {
		p, _ := EncodeBatch(b)
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := DecodeBatch(p)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			return
		}
		if len(b.IDs) == 0 || len(b.IDs) > MaxBatchSize {
			t.Fatalf("%d IDs decoded", len(b.IDs))
		}
		again, err := EncodeBatch(b)
		if err != nil {
			t.Fatalf("decoded batch does not encode: %v", err)
		}
		if !bytes.Equal(again, p) {
			t.Fatalf("re-encoding differs: %x vs %x", again, p)
		}
	})
}

func TestRecordEncoding(t *testing.T) {
	now := time.Unix(1764210000, 0).UTC()
	long := strings.Repeat("é", 40) // 80 bytes: cut on a rune boundary
	gaveUp := "HTTP 500 INTERNAL_ERROR: Internal Server Error (gave up after 8 attempts)"
	for _, r := range []Record{
		{AssetID: 1, Outcome: OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now},
		{AssetID: 2, Outcome: OutcomeFailed, Status: 500, Attempts: 5, Error: "gave up, after: 5, attempts", FinishedAt: now},
		{AssetID: 3, Outcome: outcomeRetrying, Status: 500, Attempts: 2, Failures: 2, Error: long},
		{AssetID: 4, Outcome: outcomeRetrying, Status: 429, Attempts: 9, Failures: 2, Throttles: 7, Error: "HTTP 429"},
		{AssetID: 5, Outcome: OutcomeFailed, Status: 500, Attempts: 8, Error: gaveUp, ErrorID: "req-9f2c", FinishedAt: now},
		{AssetID: 6, Outcome: OutcomeInvalid, Status: 400, Attempts: 1, Error: "HTTP 400 INVALID_ID", ErrorID: "e-1", FinishedAt: now},
		{AssetID: 7, Outcome: OutcomeNotFound, Status: 404, Attempts: 1, Error: gaveUp, ErrorID: "e-2", FinishedAt: now},
	} {
		rec, side := encodeRecord(nil, &r)
		v := string(rec)
		if len(v) > compactValueMax {
			t.Errorf("record of %+v is %d bytes (%q), want at most %d: the batch's hash would leave listpack", r, len(v), v, compactValueMax)
		}
		if r.Terminal() {
			// A final outcome needs no retry budget and keeps the short
			// form: "1", not "1/0/0".
			if strings.Contains(v, "/") {
				t.Errorf("final record %+v encoded with its budget: %q", r, v)
			}
			r.Failures, r.Throttles = r.Attempts, 0
		}
		got, err := decodeRecord(r.AssetID, v)
		if err != nil {
			t.Fatal(err)
		}
		if keepsFullError(r.Outcome) && r.ErrorID != "" {
			if got.Error != errorElsewhere {
				t.Errorf("failed record with an error_id: error %q, want it in the error hash", got.Error)
			}
			decodeSide(&got, side)
		} else if side != "" {
			t.Errorf("%s record %+v: error hash value %q, want none", r.Outcome, r, side)
		}
		if r.Error != got.Error && !keepsFullError(r.Outcome) {
			cut := strings.TrimSuffix(got.Error, "…")
			if cut == got.Error || !strings.HasPrefix(r.Error, cut) || !utf8.ValidString(got.Error) {
				t.Errorf("long error %q kept as %q, want a prefix cut on a rune boundary ending in …", r.Error, got.Error)
			}
			got.Error = r.Error
		}
		if r.Outcome == OutcomeNotFound {
			r.ErrorID = "" // only failed and invalid assets keep it
		}
		if got != r {
			t.Errorf("round trip of %+v gave %+v (%q)", r, got, v)
		}
	}
	if _, err := decodeRecord(1, "x,1,1,1,"); err == nil {
		t.Error("a corrupt record decoded")
	}
	// Older versions wrote attempts alone: every call counted as a failure.
	if got, _ := decodeRecord(5, "p,500,3,,HTTP 500"); got.Attempts != 3 || got.Failures != 3 || got.Throttles != 0 {
		t.Errorf("old retrying record: attempts %d failures %d throttles %d, want 3 3 0", got.Attempts, got.Failures, got.Throttles)
	}
	// A re-driven asset keeps its attempts and starts a fresh budget.
	if got, _ := decodeRecord(6, "q,500,7/5/2,1764210000,gave up"); got.Outcome != outcomeRequeued || got.Attempts != 7 || got.Failures != 0 || got.Throttles != 0 {
		t.Errorf("requeued record: %+v, want requeued with 7 attempts and a fresh budget", got)
	}

	// A cancel over a retrying asset keeps its status, attempts and error
	// (recordScript's keepLast) and adds a finish time: the error is cut
	// so that the record still fits.
	env := redistest.New(t)
	l := NewLedger(env.Client, env.Namespace)
	if err := env.Client.HSet(t.Context(), l.keys.meta("keep"), "state", "cancelled", "total", 10).Err(); err != nil {
		t.Fatal(err)
	}
	retrying := Record{AssetID: 7, Outcome: outcomeRetrying, Status: 500, Attempts: 3, Failures: 2, Throttles: 1,
		Error: "HTTP 500 INTERNAL_ERROR: " + strings.Repeat("upstream é timed out ", 4)}
	cancelled := Record{AssetID: 7, Outcome: OutcomeCancelled, Attempts: 3, FinishedAt: now}
	for _, r := range []Record{retrying, cancelled} {
		if _, err := l.Record(t.Context(), "keep", []BatchRecords{{Batch: 0, Records: []Record{r}}}, now); err != nil {
			t.Fatal(err)
		}
	}
	v, err := env.Client.HGet(t.Context(), l.keys.ledger("keep", 0), "7").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > compactValueMax {
		t.Errorf("cancelled record over a retrying one is %d bytes (%q), want at most %d", len(v), v, compactValueMax)
	}
	got, err := decodeRecord(7, v)
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := encodeRecord(nil, &retrying)
	was, _ := decodeRecord(7, string(kept))
	cut := strings.TrimSuffix(got.Error, "…")
	if got.Outcome != OutcomeCancelled || got.Status != 500 || got.Attempts != 3 || !got.FinishedAt.Equal(now) ||
		cut == got.Error || cut == "" || !strings.HasPrefix(was.Error, cut) || !utf8.ValidString(got.Error) {
		t.Errorf("cancelled over retrying: %+v (%q); want cancelled, HTTP 500, 3 attempts, finished %v, a cut of %q ending in …",
			got, v, now, was.Error)
	}
}

func TestPolicyThrottleBudget(t *testing.T) {
	p := DefaultPolicy()
	if p.ThrottleBudget() != DefaultMaxThrottled || p.Validate() != nil {
		t.Fatalf("default policy: budget %d, validate %v", p.ThrottleBudget(), p.Validate())
	}
	p.MaxThrottled = 0 // a campaign stored before the field existed
	if p.ThrottleBudget() != DefaultMaxThrottled || p.Validate() != nil {
		t.Errorf("MaxThrottled 0: budget %d, validate %v; want the default and valid", p.ThrottleBudget(), p.Validate())
	}
	p.MaxThrottled = -1
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "max throttled -1") {
		t.Errorf("MaxThrottled -1: %v, want an error naming it", err)
	}
}

func TestNeutraliseCell(t *testing.T) {
	for in, want := range map[string]string{
		"=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0", "+1": "'+1", "-1": "'-1", "@SUM(1)": "'@SUM(1)",
		"\tx": "'\tx", "HTTP 500": "HTTP 500", "": "",
	} {
		if got := NeutraliseCell(in); got != want {
			t.Errorf("NeutraliseCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRedisURL(t *testing.T) {
	o, err := ParseRedisURL("redis-sentinel://:s3cret@h1:26379,h2:26379/mymaster/2")
	if err != nil || o.MasterName != "mymaster" || o.DB != 2 || len(o.Addrs) != 2 || o.Password != "s3cret" {
		t.Fatalf("sentinel URL: %+v %v", o, err)
	}
	o, err = ParseRedisURL("redis-cluster://a:1,b:2")
	if err != nil || !o.IsClusterMode || len(o.Addrs) != 2 {
		t.Fatalf("cluster URL: %+v %v", o, err)
	}
	for _, bad := range []string{"http://x", "redis-sentinel://:s3cret@h1", "redis://:s3cret@h1:1/notadb"} {
		_, err := ParseRedisURL(bad)
		if err == nil {
			t.Errorf("%s parsed", bad)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestIDSet(t *testing.T) {
	s := NewIDSet()
	for _, id := range []int64{5, 1, 5, 1 << 62, 3} {
		s.Add(id)
	}
	if s.Len() != 4 {
		t.Fatalf("len %d, want 4", s.Len())
	}
	var got []int64
	s.Chunks(3, func(i int, ids []int64) error { got = append(got, ids...); return nil })
	want := []int64{1, 3, 5, 1 << 62}
	if len(got) != len(want) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("chunks %v, want %v", got, want)
		}
	}
	o := NewIDSet()
	o.Add(3)
	o.Add(1 << 62)
	if s.Minus(o).Len() != 2 || s.Fingerprint() == o.Fingerprint() {
		t.Error("minus or fingerprint wrong")
	}
	b, _ := s.marshal()
	back, err := unmarshalIDSet(b)
	if err != nil || !back.Equal(s) {
		t.Fatalf("marshal round trip: %v", err)
	}
}

func TestParseLabelList(t *testing.T) {
	for in, want := range map[string][]string{
		"a,b":                 {"a", "b"},
		" env:prod , stale ,": {"env:prod", "stale"},
		`"a,b",c`:             {"a,b", "c"},
		`"say ""hi""",x`:      {`say "hi"`, "x"},
		`team "a"`:            {`team "a"`},
		",":                   nil,
		"":                    nil,
		"ünï,標籤":              {"ünï", "標籤"},
	} {
		got, err := ParseLabelList(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseLabelList(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"a\nb", "a,\"b\nc\""} {
		if got, err := ParseLabelList(in); err == nil {
			t.Errorf("ParseLabelList(%q) = %q, want an error", in, got)
		}
	}
}

func TestClipError(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"fits", "HTTP 500", 8, "HTTP 500"},
		{"at a word", "HTTP 500 INTERNAL_ERROR: Internal Server Error", 30, "HTTP 500 INTERNAL_ERROR…"},
		{"no word near the end", strings.Repeat("x", 40), 10, "xxxxxxx…"},
		{"not inside a rune", "ab" + strings.Repeat("é", 10), 8, "abé…"},
		{"too small for anything", "HTTP 500", 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ClipError(tc.in, tc.n)
			if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
				t.Errorf("ClipError(%q, %d) = %q (%d bytes), want %q", tc.in, tc.n, got, len(got), tc.want)
			}
		})
	}
}
