package main

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

func TestVersionFrom(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name    string
		bi      *debug.BuildInfo
		stamped string
		want    string
	}{
		{"go install @v1.4.0", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "dev", "v1.4.0"},
		{"module version beats a stamp", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v0.9", "v1.4.0"},
		{"stamped release image", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef", "false")}, "v2.0.0", "v2.0.0"},
		{"checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef", "false")}, "dev", "dev-0123456789ab"},
		{"modified checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef", "true")}, "dev", "dev-0123456789ab-dirty"},
		{"no VCS information", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev", "dev"},
		{"no build information", nil, "dev", "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionFrom(tc.bi, tc.stamped); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVersionFlag: --version and the version command print the same
// version line and exit 0.
func TestVersionFlag(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{})
	out, errs, code := e.run("--version")
	if code != 0 || !strings.HasPrefix(out, "labelreset ") {
		t.Fatalf("--version: exit %d, stdout %q, stderr %q; want exit 0 and a version line", code, out, errs)
	}
	if cmdOut, _, _ := e.run("version"); cmdOut != out {
		t.Errorf("version prints %q, --version %q: want the same", cmdOut, out)
	}
}
