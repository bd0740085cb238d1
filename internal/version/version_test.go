package version

import (
	"runtime/debug"
	"testing"
)

func TestOf(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "9d354a0aabbccddeeff00112233"}}
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"tagged module", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: rev}, "v1.2.3"},
		{"checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, "9d354a0aabbc"},
		{"dirty checkout", debug.BuildInfo{Settings: append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, "9d354a0aabbc-dirty"},
		{"clean checkout", debug.BuildInfo{Settings: append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "false"})}, "9d354a0aabbc"},
		{"nothing known", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(&tt.bi).Version; got != tt.want {
				t.Fatalf("got %q; want %q", got, tt.want)
			}
		})
	}
}

func TestOfCommitAndTime(t *testing.T) {
	rev := "9d354a0c1f2e3d4c5b6a79881726354433221100"
	b := Of(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-11-21T10:00:00Z"},
	}})
	if b.Commit != rev || b.Time != "2026-11-21T10:00:00Z" || b.Version != rev[:12] {
		t.Errorf("Of = %+v; want commit %s, its time, version %s", b, rev, rev[:12])
	}
}
