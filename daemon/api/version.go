package api

import (
	"runtime"

	"github.com/weftnet/weft/internal/version"
)

// APIVersion is the version of this local API; it changes when a route or
// a type changes incompatibly.
const APIVersion = "1"

// Version describes one weft binary, as `weft version` shows it.
type Version struct {
	// Version is the binary's version (see version.Build), the one
	// weft_build_info reports.
	Version    string `json:"Version"`
	GitCommit  string `json:"GitCommit,omitempty"` // the full revision built, if known
	BuildTime  string `json:"BuildTime,omitempty"` // the revision's commit time, RFC 3339
	GoVersion  string `json:"GoVersion"`
	Os         string `json:"Os"`
	Arch       string `json:"Arch"`
	APIVersion string `json:"APIVersion"`
}

// ThisBuild describes the running binary from the build information the Go
// toolchain stamps into it (the module version and, when built from a
// checkout, the VCS revision).
func ThisBuild() Version {
	b := version.Current()
	return Version{
		Version: b.Version, GitCommit: b.Commit, BuildTime: b.Time,
		GoVersion: runtime.Version(), Os: runtime.GOOS, Arch: runtime.GOARCH, APIVersion: APIVersion,
	}
}
