package jobs_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

const testHeader = `{"format":"labelreset-snapshot/1","campaign":"c1","mode":"delete","taken_at":"2026-12-03T10:00:00Z","assets":%d}`

func header(n int) string { return fmt.Sprintf(testHeader, n) }

// TestReadSnapshotPlainAndGzip: both forms read the same, labels with odd
// characters intact, blank lines ignored, an empty labels array kept empty.
func TestReadSnapshotPlainAndGzip(t *testing.T) {
	text := header(3) + "\n" +
		`{"asset_id":5,"labels":["a b","x,y","p/q:r","say \"hi\"","café"]}` + "\n\n" +
		`{"asset_id":2,"labels":[]}` + "\r\n" +
		`{"asset_id":9,"labels":["<&>"]}` + "\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(text))
	zw.Close()
	for name, in := range map[string][]byte{"plain": []byte(text), "gzip": gz.Bytes()} {
		hdr, lines, err := jobs.ReadSnapshot(bytes.NewReader(in), "s.jsonl")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if hdr.Campaign != "c1" || hdr.Mode != jobs.ModeDelete || hdr.Assets != 3 || hdr.TakenAt.IsZero() {
			t.Errorf("%s: header %+v", name, hdr)
		}
		want := []jobs.SnapshotLine{
			{AssetID: 5, Labels: []string{"a b", "x,y", "p/q:r", `say "hi"`, "café"}},
			{AssetID: 2, Labels: []string{}},
			{AssetID: 9, Labels: []string{"<&>"}},
		}
		if !slices.EqualFunc(lines, want, func(a, b jobs.SnapshotLine) bool {
			return a.AssetID == b.AssetID && slices.Equal(a.Labels, b.Labels)
		}) {
			t.Errorf("%s: lines %+v, want %+v", name, lines, want)
		}
	}
}

// TestReadSnapshotErrors: every bad input is refused with a message that
// names the file and line (and the offending value where there is one).
func TestReadSnapshotErrors(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string // substrings of the error
		badRow   bool
	}{
		{"bad JSON", header(2) + "\n" + `{"asset_id":1,"labels":[]}` + "\n" + `{"asset_id":2,"labels":[}` + "\n",
			[]string{`snap.jsonl:3: "{\"asset_id\":2,\"labels\":[}"`, "not a JSON object"}, true},
		{"missing header", `{"asset_id":1,"labels":["a"]}` + "\n",
			[]string{"snap.jsonl:1:", "header"}, true},
		{"wrong format", strings.Replace(header(0), "labelreset-snapshot/1", "labelreset-snapshot/9", 1) + "\n",
			[]string{"snap.jsonl:1:", `"labelreset-snapshot/9"`}, true},
		{"duplicate ID", header(3) + "\n" + `{"asset_id":7,"labels":[]}` + "\n" + `{"asset_id":8,"labels":[]}` + "\n" + `{"asset_id":7,"labels":["a"]}` + "\n",
			[]string{`snap.jsonl:4: "7"`, "line 2"}, true},
		{"negative ID", header(1) + "\n" + `{"asset_id":-5,"labels":[]}` + "\n",
			[]string{`snap.jsonl:2: "-5"`, "asset_id must be an integer > 0"}, true},
		{"zero ID", header(1) + "\n" + `{"asset_id":0,"labels":[]}` + "\n",
			[]string{`snap.jsonl:2: "0"`}, true},
		{"string ID", header(1) + "\n" + `{"asset_id":"12","labels":[]}` + "\n",
			[]string{`snap.jsonl:2: "\"12\""`}, true},
		{"no labels", header(1) + "\n" + `{"asset_id":12}` + "\n",
			[]string{`snap.jsonl:2:`, "no labels array"}, true},
		{"not an object", header(1) + "\n" + `[12,["a"]]` + "\n",
			[]string{`snap.jsonl:2: "[12,[\"a\"]]"`}, true},
		{"truncated", header(2) + "\n" + `{"asset_id":1,"labels":[]}` + "\n",
			[]string{"snap.jsonl:", "says 2 assets, the file has 1"}, false},
		{"empty", "", []string{"snap.jsonl:", "empty file"}, false},
		{"long line", header(1) + "\n" + `{"asset_id":1,"labels":["` + strings.Repeat("x", 1<<20) + `"]}` + "\n",
			[]string{"snap.jsonl:2:", "longer than"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := jobs.ReadSnapshot(strings.NewReader(tc.in), "snap.jsonl")
			if err == nil {
				t.Fatal("read, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var br *idfile.BadRow
			if tc.badRow && !errors.As(err, &br) {
				t.Errorf("error %q is not an *idfile.BadRow", err)
			}
		})
	}
}
