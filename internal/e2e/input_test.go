//go:build linux

package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/internal/nstest"
)

// Bad input gets a clear error and changes nothing.
func TestBadInputChangesNothing(t *testing.T) {
	lab := newLab(t, "we2e-input")
	h1 := host(t, lab, "h1", 1)
	cli(t, h1, "network", "create", "--vni", "42", "--peer", "198.18.0.2", "--subnet", "198.19.1.0/24", "--gateway", "198.19.1.1", "net1")
	c1 := container(t, h1, "c1", "net1", "198.19.1.2")
	c2, err := lab.Container("c2")
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, h1)

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"VNI already used", []string{"network", "create", "--vni", "42", "--subnet", "198.19.2.0/24", "net2"}, "VNI 42 is already used by network net1"},
		{"name already used", []string{"network", "create", "--vni", "43", "--subnet", "198.19.2.0/24", "net1"}, "network net1 already exists"},
		{"invalid CIDR", []string{"network", "create", "--vni", "43", "--subnet", "198.19.2.0/33", "net2"}, `invalid subnet "198.19.2.0/33"`},
		{"host bits in subnet", []string{"network", "create", "--vni", "43", "--subnet", "198.19.2.1/24", "net2"}, "host bits set"},
		{"VNI zero", []string{"network", "create", "--vni", "0", "--subnet", "198.19.2.0/24", "net2"}, "invalid VNI 0"},
		{"VNI too large", []string{"network", "create", "--vni", "16777216", "--subnet", "198.19.2.0/24", "net2"}, "invalid VNI 16777216"},
		{"MTU over the underlay", []string{"network", "create", "--vni", "43", "--subnet", "198.19.2.0/24", "--mtu", "1500", "net2"}, "invalid MTU 1500"},
		{"peer is not an address", []string{"network", "create", "--vni", "43", "--subnet", "198.19.2.0/24", "--peer", "nope", "net2"}, `invalid peer "nope"`},
		{"gateway outside subnet", []string{"network", "create", "--vni", "43", "--subnet", "198.19.2.0/24", "--gateway", "198.19.3.1", "net2"}, "not a usable address"},
		{"bad network name", []string{"network", "create", "--vni", "43", "--subnet", "198.19.2.0/24", "bad/name"}, `invalid network name "bad/name"`},
		{"unknown network", []string{"attach", "--network", "nope", "--ip", "198.19.1.3", c2}, "network nope not found"},
		{"address outside subnet", []string{"attach", "--network", "net1", "--ip", "198.19.2.3", c2}, "not a usable address of net1's subnet"},
		{"broadcast address", []string{"attach", "--network", "net1", "--ip", "198.19.1.255", c2}, "not a usable address"},
		{"gateway address", []string{"attach", "--network", "net1", "--ip", "198.19.1.1", c2}, "is the gateway of net1"},
		{"address in use", []string{"attach", "--network", "net1", "--ip", "198.19.1.2", "--name", "c2", c2}, "address 198.19.1.2 already in use by c1"},
		{"missing namespace", []string{"attach", "--network", "net1", "--ip", "198.19.1.3", "no-such-ns"}, "network namespace /run/netns/no-such-ns not found"},
		{"already attached", []string{"attach", "--network", "net1", "--ip", "198.19.1.3", c1}, "already attached to net1"},
		{"container name already used", []string{"attach", "--network", "net1", "--ip", "198.19.1.3", "--name", "c1", c2}, "name c1 is already used on net1"},
		{"detach what is not attached", []string{"detach", "--network", "net1", c2}, "is not attached to net1"},
		{"remove a network in use", []string{"network", "rm", "net1"}, "network net1 has active endpoints: [c1 (198.19.1.2)]"},
		{"remove an unknown network", []string{"network", "rm", "nope"}, "network nope not found"},
		{"inspect an unknown network", []string{"network", "inspect", "nope"}, "network nope not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := h1.CLI(c.args...)
			if err == nil {
				t.Fatalf("weft %s succeeded; want an error containing %q\n%s", strings.Join(c.args, " "), c.want, out)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("weft %s: got %v; want an error containing %q", strings.Join(c.args, " "), err, c.want)
			}
		})
	}
	t.Run("daemon not running", func(t *testing.T) {
		out, err := exec.Command(lab.Bin("weft"), "-H", "unix://"+lab.Dir()+"/none.sock", "network", "ls").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "is weftd running?") {
			t.Fatalf("got err=%v, output %q; want a failure saying the daemon is not running", err, out)
		}
	})
	if after := snapshot(t, h1); after != before {
		t.Errorf("bad input changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	t.Run("detach and remove clean up", func(t *testing.T) {
		cli(t, h1, "detach", "--network", "net1", c1)
		cli(t, h1, "network", "rm", "net1")
		links := ipOut(t, "-n", h1.NS, "-o", "link", "show")
		for _, l := range []string{"wbr42", "wtap42", "wv"} {
			if strings.Contains(links, l) {
				t.Errorf("link %s left behind:\n%s", l, links)
			}
		}
		if out := cli(t, h1, "network", "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("networks left: %q", out)
		}
	})
}

// snapshot describes what a host has: its networks as the daemon reports them
// and the links in its namespace.
func snapshot(t *testing.T, d *nstest.Weftd) string {
	t.Helper()
	var ns []api.Network
	if err := json.Unmarshal([]byte(cli(t, d, "network", "inspect", "net1")), &ns); err != nil {
		t.Fatal(err)
	}
	ls := cli(t, d, "network", "ls", "-q")
	links := ipOut(t, "-n", d.NS, "-o", "-br", "link", "show")
	b, _ := json.Marshal(ns)
	return ls + string(b) + "\n" + links
}

// ipOut runs the ip command and fails the test if it fails.
func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := nstest.IP(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
