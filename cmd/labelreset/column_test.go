package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestPlanNamesIDColumn: the plan of submit and run says which column the
// IDs came from and why; --column chooses it; a header naming no ID
// column over two columns of IDs (the ports of a "port,host" file) is a
// usage error that names the file and line and lists the columns.
func TestPlanNamesIDColumn(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	write := func(name, text string) string {
		path := filepath.Join(e.dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ambiguous := write("ports.csv", "port,host\n443,12\n80,13\n")
	named := write("assets.csv", "port,asset\n443,12\n80,13\n")
	for _, cmd := range []string{"submit", "run"} {
		_, errs, code := e.run(cmd, "--csv", ambiguous, "--dry-run")
		if code != 2 || !strings.Contains(errs, "ports.csv:1:") || !strings.Contains(errs, `the columns are 1 "port", 2 "host"`) ||
			!strings.Contains(errs, "--column NAME|N") {
			t.Errorf("%s of a port,host file: exit %d, stderr %q; want 2 naming ports.csv:1, the columns and --column", cmd, code, errs)
		}
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--csv", ambiguous, "--column", "host"}, `IDs from:       column 2 "host" (chosen)`},
			{[]string{"--csv", ambiguous, "--column", "2"}, `IDs from:       column 2 "host" (chosen)`},
			{[]string{"--csv", named}, `IDs from:       column 2 "asset" (header name)`},
		} {
			out, errs, code := e.run(append([]string{cmd, "--dry-run"}, tc.args...)...)
			if code != 0 || !strings.Contains(out, tc.want) || !strings.Contains(out, "valid IDs:      2") {
				t.Errorf("%s %v: exit %d, %s%s; want the plan with %q and 2 valid IDs", cmd, tc.args, code, out, errs, tc.want)
			}
		}
	}
	if _, errs, code := e.run("submit", "--ids", "1,2", "--column", "2", "--dry-run"); code != 2 || !strings.Contains(errs, "--column") {
		t.Errorf("--column with --ids: exit %d, %q; want a usage error", code, errs)
	}
	// A real run says which column on stderr.
	_, errs, code := e.run("run", "--csv", named, "--campaign", "col", "--yes")
	if code != 0 || !strings.Contains(errs, `IDs from column 2 "asset" (header name)`) {
		t.Errorf("run: exit %d, stderr %q; want the column named", code, errs)
	}
}
