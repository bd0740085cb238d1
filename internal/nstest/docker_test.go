//go:build linux

package nstest

import (
	"slices"
	"testing"
)

func TestDescendants(t *testing.T) {
	// 1 is init; 10 dockerd, 11 its containerd, 20 a shim reparented to
	// init, 21 and 22 its container's processes, 30 something else.
	parent := map[int]int{10: 1, 11: 10, 20: 1, 21: 20, 22: 21, 30: 1, 31: 30}
	for _, tc := range []struct {
		name  string
		roots []int
		want  []int
	}{
		{"none", nil, nil},
		{"engine and shim", []int{10, 20}, []int{10, 11, 20, 21, 22}},
		{"leaf", []int{22}, []int{22}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := descendants(parent, tc.roots); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v; want %v", got, tc.want)
			}
		})
	}
}

func TestDockerLink(t *testing.T) {
	for name, want := range map[string]bool{
		"docker0": true, "docker_gwbridge": true, "br-11a9df889f1d": true, "vethce43348": true,
		"eth0": false, "lo": false, "wbr42": false, "br0": false, "veth0": false, "docker1": false,
	} {
		if got := dockerLink.MatchString(name); got != want {
			t.Errorf("dockerLink matches %q: got %v; want %v", name, got, want)
		}
	}
}
