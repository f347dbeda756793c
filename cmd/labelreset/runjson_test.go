package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
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
	if counts, _ := got["counts"].(map[string]any); counts["reset"] != 3.0 || counts["not_in_inventory"] != 1.0 {
		t.Errorf("counts %v, want reset 3 not_in_inventory 1 (the snapshot did not find it)", got["counts"])
	}
}

// TestJSONFailureReasons: the JSON summaries of run and status carry the
// top failure reasons that their text forms print, and leave the field out
// when nothing failed.
func TestJSONFailureReasons(t *testing.T) {
	script := map[int64][]pdcpfake.Reply{}
	for id := int64(1); id <= 3; id++ {
		script[id] = []pdcpfake.Reply{{Status: 400, Body: `{"message":"asset is locked"}`}}
	}
	e := newE2E(t, pdcpfake.Options{Assets: 10, Script: script})
	type summary struct {
		FailureReasons []jobs.FailureReason `json:"failure_reasons"`
	}
	decode := func(what, out string) summary {
		t.Helper()
		var s summary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("%s: stdout is not a JSON object: %v\n%s", what, err, out)
		}
		return s
	}
	out, errs, _ := e.run("run", "--ids", "1,2,3,4,5", "--campaign", "reasons", "--json")
	run := decode("run --json", out)
	if len(run.FailureReasons) != 1 || run.FailureReasons[0].Count != 3 {
		t.Fatalf("run --json failure_reasons %+v, want one reason counted 3\n%s\n%s", run.FailureReasons, out, errs)
	}
	status, _, _ := e.run("status", "reasons", "--json")
	if diff := cmp.Diff(run, decode("status --json", status)); diff != "" {
		t.Errorf("status --json failure_reasons differ from run's (-run +status):\n%s", diff)
	}
	text, _, _ := e.run("status", "reasons")
	if want := fmt.Sprintf("top failure reasons: 3 × %s", run.FailureReasons[0].Reason); !strings.Contains(text, want) {
		t.Errorf("status lacks %q, the reason of its JSON form:\n%s", want, text)
	}

	clean, _, _ := e.run("run", "--ids", "6,7", "--campaign", "clean", "--json")
	if strings.Contains(clean, "failure_reasons") {
		t.Errorf("run --json of a campaign without failures has failure_reasons:\n%s", clean)
	}
}
