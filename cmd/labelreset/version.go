package main

import (
	"runtime/debug"

	"github.com/labelreset/labelreset/client"
)

// buildVersion is the version this binary reports (--version, the
// User-Agent, labelreset_build_info): the module version when it was
// built by `go install ...@vX` or from a module cache, else the version
// stamped with -ldflags into client.Version (the release image), else the
// VCS revision of a build from a checkout.
func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(bi, client.Version)
}

// versionFrom is buildVersion for given build information and stamp.
func versionFrom(bi *debug.BuildInfo, stamped string) string {
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	if stamped != "" && stamped != "dev" {
		return stamped
	}
	if bi == nil {
		return "dev"
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	v := "dev-" + rev[:min(len(rev), 12)]
	if dirty {
		v += "-dirty"
	}
	return v
}
