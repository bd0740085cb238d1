package daemon

import (
	"strings"
	"testing"

	"github.com/weftnet/weft/daemon/api"
)

func TestSetContainer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     api.Attach
		wantErr string
	}{
		{"none", api.Attach{}, ""},
		{"cni", api.Attach{IfName: "net1", ContainerID: strings.Repeat("ab", 32)}, ""},
		{"longest name", api.Attach{IfName: "abcdefghijklmno"}, ""},
		{"name too long", api.Attach{IfName: "abcdefghijklmnop"}, "invalid interface name"},
		{"slash", api.Attach{IfName: "a/b"}, "invalid interface name"},
		{"dot", api.Attach{IfName: "."}, "invalid interface name"},
		{"space", api.Attach{IfName: "a b"}, "invalid interface name"},
		{"id slash", api.Attach{ContainerID: "../x"}, "invalid container ID"},
		{"id too long", api.Attach{ContainerID: strings.Repeat("a", 257)}, "invalid container ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ep endpoint
			err := ep.setContainer(tc.req)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("got %v; want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v; want an error with %q", err, tc.wantErr)
			case err == nil && (ep.IfName != tc.req.IfName || ep.ContainerID != tc.req.ContainerID):
				t.Fatalf("got ifname %q id %q; want %q %q", ep.IfName, ep.ContainerID, tc.req.IfName, tc.req.ContainerID)
			}
		})
	}
}

func TestFindDetachByContainer(t *testing.T) {
	n := &netState{Name: "appnet", Endpoints: map[string]*endpoint{
		"e1": {ID: "e1", Netns: "/run/netns/gone", ContainerID: "c1"},
		"e2": {ID: "e2", Netns: "/run/netns/other"},
	}}
	ep, err := findDetach(n, api.Detach{Network: "appnet", ContainerID: "c1"})
	if err != nil || ep.ID != "e1" {
		t.Fatalf("got %v, %v; want e1", ep, err)
	}
	if _, err := findDetach(n, api.Detach{Network: "appnet", ContainerID: "c2"}); err == nil || !strings.Contains(err.Error(), "container c2 is not attached to appnet") {
		t.Fatalf("got %v; want not attached", err)
	}
	if err := containerConflict(n, &endpoint{NetnsID: "x", ContainerID: "c1"}); err == nil {
		t.Fatal("a second attach of container c1 was not refused")
	}
}
