package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestRunJSON: run --json prints one JSON object on stdout, the campaign
// summary in the shape of status --json, and nothing else.
func TestRunJSON(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	out, errs, code := e.run("run", "--ids", "1,2,3,40", "--campaign", "js", "--json")
	if code != 0 {
		t.Fatalf("run --json: exit %d\n%s\n%s", code, out, errs)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(out)))
	var got map[string]any
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, out)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("stdout holds more than one JSON value (%v):\n%s", err, out)
	}
	statusOut, _, _ := e.run("status", "js", "--json")
	var want map[string]any
	if err := json.Unmarshal([]byte(statusOut), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("run --json:\n%v\nwant status --json:\n%v", got, want)
	}
	if counts, _ := got["counts"].(map[string]any); counts["reset"] != 3.0 || counts["not_found"] != 1.0 {
		t.Errorf("counts %v, want reset 3 not_found 1", got["counts"])
	}
}
