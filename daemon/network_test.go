package daemon

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/membership"
	"github.com/weftnet/weft/daemon/request"
)

func testDaemon() *Daemon {
	d := &Daemon{cfg: DefaultConfig(), st: newState(), member: membership.New(membership.Config{}), attaching: map[string]bool{}}
	d.host = request.Host{DataAddr: netip.MustParseAddrPort("198.18.0.1:4789"), UnderlayMTU: 1500}
	return d
}

func TestParseNetwork(t *testing.T) {
	d := testDaemon()
	d.st.Networks["used"] = &netState{Name: "used", VNI: 7}
	ok := api.NetworkCreate{Name: "n", VNI: 42, Subnet: "198.19.1.0/24"}
	cases := []struct {
		name string
		edit func(*api.NetworkCreate)
		want string // error substring; "" for success
	}{
		{"valid", func(*api.NetworkCreate) {}, ""},
		{"bad name", func(r *api.NetworkCreate) { r.Name = "a b" }, "invalid network name"},
		{"name taken", func(r *api.NetworkCreate) { r.Name = "used" }, "already exists"},
		{"VNI taken", func(r *api.NetworkCreate) { r.VNI = 7 }, "VNI 7 is already used by network used"},
		{"VNI too big", func(r *api.NetworkCreate) { r.VNI = 1 << 24 }, "invalid VNI"},
		{"bad subnet", func(r *api.NetworkCreate) { r.Subnet = "nope" }, "invalid subnet"},
		{"host bits", func(r *api.NetworkCreate) { r.Subnet = "198.19.1.1/24" }, "did you mean 198.19.1.0/24"},
		{"gateway outside", func(r *api.NetworkCreate) { r.Gateway = "198.19.2.1" }, "not a usable address"},
		{"gateway is network address", func(r *api.NetworkCreate) { r.Gateway = "198.19.1.0" }, "not a usable address"},
		{"peer is self", func(r *api.NetworkCreate) { r.Peers = []string{"198.18.0.1"} }, "own data path address"},
		{"peer family", func(r *api.NetworkCreate) { r.Peers = []string{"2001:db8::1"} }, "not in the data path address's family"},
		{"MTU too big", func(r *api.NetworkCreate) { r.MTU = 1451 }, "carries at most 1450"},
		{"MTU too small", func(r *api.NetworkCreate) { r.MTU = 67 }, "invalid MTU 67"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := ok
			c.edit(&req)
			n, err := d.parseNetwork(req)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("got %v; want success", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v; want an error containing %q", err, c.want)
			case c.want == "" && n.MTU != 1450:
				t.Fatalf("default MTU: got %d; want 1450", n.MTU)
			}
		})
	}
}

func TestRandomMACIsLocalUnicast(t *testing.T) {
	for range 100 {
		m := randomMAC()
		if m[0]&1 != 0 || m[0]&2 == 0 {
			t.Fatalf("got %s; want a unicast, locally administered MAC", m)
		}
	}
}
