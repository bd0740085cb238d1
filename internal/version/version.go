// Package version says which weft a binary is, from the build information
// the Go toolchain stamps into it.
package version

import "runtime/debug"

// Build is what is known of one binary's build.
type Build struct {
	// Version is the module version when built from a tagged module, else
	// the first 12 digits of the VCS revision (with "-dirty" if the tree had
	// changes), else "unknown".
	Version string
	// Commit is the full VCS revision, if known; Time its commit time
	// (RFC 3339).
	Commit, Time string
}

// Current describes the running binary.
func Current() Build {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Build{Version: "unknown"}
	}
	return Of(info)
}

// Of describes the binary built with info.
func Of(info *debug.BuildInfo) Build {
	b := Build{Version: "unknown"}
	dirty := ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	switch {
	case info.Main.Version != "" && info.Main.Version != "(devel)":
		b.Version = info.Main.Version
	case b.Commit != "":
		b.Version = b.Commit[:min(len(b.Commit), 12)] + dirty
	}
	return b
}
