package request

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/weftnet/weft/daemon/api"
)

var host = Host{DataAddr: netip.MustParseAddrPort("198.18.0.1:4789"), UnderlayMTU: 1500}

// check fails unless err is nil when want is "", or contains want.
func check(t *testing.T, what string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: got %v; want success", what, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%s: got %v; want an error containing %q", what, err, want)
	}
}

func TestMTU(t *testing.T) {
	v6 := Host{DataAddr: netip.MustParseAddrPort("[2001:db8::1]:4789"), UnderlayMTU: 1500}
	for _, tc := range []struct {
		h         Host
		asked     int
		encrypted bool
		want      int
		err       string
	}{
		{host, 0, false, 1450, ""},
		{v6, 0, false, 1430, ""},
		{host, 0, true, 1450 - 37, ""},
		{host, 1400, false, 1400, ""},
		{host, 1451, false, 0, "carries at most 1450"},
		{host, 67, false, 0, "invalid MTU 67"},
		{host, 1450, true, 0, "carries at most 1413"},
	} {
		got, err := tc.h.MTU(tc.asked, tc.encrypted)
		check(t, fmt.Sprintf("MTU(%d, %v) on %s", tc.asked, tc.encrypted, tc.h.DataAddr), err, tc.err)
		if got != tc.want {
			t.Errorf("MTU(%d, %v) on %s = %d; want %d", tc.asked, tc.encrypted, tc.h.DataAddr, got, tc.want)
		}
	}
}

func TestPeersRefused(t *testing.T) {
	for peers, want := range map[string]string{
		"198.18.0.1":      "this host's own data path address",
		"198.18.0.1:4789": "this host's own data path address",
		"2001:db8::2":     "not in the data path address's family",
		"host.example":    "want IP or IP:PORT",
	} {
		_, err := host.Peers([]string{"198.18.0.9", peers})
		check(t, peers, err, want)
	}
}

func TestSubnet(t *testing.T) {
	for _, tc := range []struct{ subnet, gateway, err string }{
		{"198.19.1.0/24", "", ""},
		{"198.19.1.0/24", "198.19.1.1", ""},
		{"198.19.1.1/24", "", "host bits set (did you mean 198.19.1.0/24?)"},
		{"198.19.300.0/24", "", `invalid subnet "198.19.300.0/24"`},
		{"198.19.1.0/24", "198.19.2.1", "not a usable address of subnet"},
		{"198.19.1.0/24", "198.19.1.255", "not a usable address of subnet"},
		{"198.19.1.0/24", "gw", `invalid gateway "gw"`},
	} {
		_, _, err := Subnet(tc.subnet, tc.gateway)
		check(t, tc.subnet+" "+tc.gateway, err, tc.err)
	}
}

func TestClusterAddrs(t *testing.T) {
	for _, tc := range []struct {
		req api.NetworkCreate
		err string
	}{
		{api.NetworkCreate{}, ""},
		{api.NetworkCreate{Subnet: "198.19.0.0/16", Gateway: "198.19.0.1", IPRange: "198.19.4.0/24"}, ""},
		{api.NetworkCreate{Gateway: "198.19.0.1"}, "--gateway needs --subnet"},
		{api.NetworkCreate{Subnet: "198.19.0.0/16", IPRange: "198.19.4/24"}, "invalid --ip-range"},
	} {
		subnet, gw, r, err := ClusterAddrs(tc.req)
		check(t, fmt.Sprintf("%+v", tc.req), err, tc.err)
		if err == nil && (subnet.String() != orInvalid(tc.req.Subnet, "invalid Prefix") || gw.String() != orInvalid(tc.req.Gateway, "invalid IP") || r.String() != orInvalid(tc.req.IPRange, "invalid Prefix")) {
			t.Errorf("%+v: got %s %s %s", tc.req, subnet, gw, r)
		}
	}
}

// orInvalid is s, or how netip prints a zero value when s is empty.
func orInvalid(s, zero string) string {
	if s == "" {
		return zero
	}
	return s
}

func TestDataPathAndAdvertise(t *testing.T) {
	check(t, "same addr", host.CheckDataPath("198.18.0.1", 4789), "")
	check(t, "mapped addr", host.CheckDataPath("::ffff:198.18.0.1", 0), "")
	check(t, "other addr", host.CheckDataPath("198.18.0.2", 0), "restart weftd with --data-path-addr 198.18.0.2")
	check(t, "other port", host.CheckDataPath("", 8472), "restart weftd with --data-path-port 8472")
	check(t, "bad addr", host.CheckDataPath("x", 0), `invalid --data-path-addr "x"`)
	for s, want := range map[string]string{"": "198.18.0.1:2377", "198.18.0.7": "198.18.0.7:2377", "198.18.0.7:9000": "198.18.0.7:9000"} {
		got, err := host.Advertise(s)
		if err != nil || got.String() != want {
			t.Errorf("Advertise(%q) = %v, %v; want %s", s, got, err, want)
		}
	}
	_, err := host.Advertise("manager-1")
	check(t, "advertise name", err, `invalid --advertise-addr "manager-1": want IP or IP:PORT`)
	_, err = host.Init(api.ClusterInit{DefaultAddrPool: "198.19/16"})
	check(t, "pool", err, `invalid --default-addr-pool "198.19/16"`)
	ireq, err := host.Init(api.ClusterInit{DefaultAddrPool: "198.19.0.0/16", PoolMaskLen: 24})
	if err != nil || ireq.Pool.String() != "198.19.0.0/16" || ireq.PoolSize != 24 || ireq.Advertise.String() != "198.18.0.1:2377" {
		t.Errorf("Init = %+v, %v", ireq, err)
	}
}

func TestStaticNetwork(t *testing.T) {
	ok := api.NetworkCreate{Name: "n", VNI: 42, Subnet: "198.19.1.0/24", Peers: []string{"198.18.0.2"}}
	s, err := host.StaticNetwork(ok)
	if err != nil || s.MTU != 1450 || len(s.Peers) != 1 || s.Subnet.String() != "198.19.1.0/24" {
		t.Fatalf("got %+v, %v", s, err)
	}
	for _, tc := range []struct {
		edit func(*api.NetworkCreate)
		err  string
	}{
		{func(r *api.NetworkCreate) { r.Name = "-n" }, "invalid network name"},
		{func(r *api.NetworkCreate) { r.Subnet = "" }, "needs --subnet"},
		{func(r *api.NetworkCreate) { r.VNI = 1 << 24 }, "invalid VNI"},
		{func(r *api.NetworkCreate) { r.Options = map[string]string{"encrypted": ""} }, "cannot be encrypted"},
		{func(r *api.NetworkCreate) { r.MTU = 9000 }, "invalid MTU 9000"},
	} {
		req := ok
		tc.edit(&req)
		_, err := host.StaticNetwork(req)
		check(t, tc.err, err, tc.err)
	}
}

func TestParsePeers(t *testing.T) {
	got, err := host.Peers([]string{"198.18.0.2", "198.18.0.3:8472", "198.18.0.2:4789", "::ffff:198.18.0.4"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{
		netip.MustParseAddrPort("198.18.0.2:4789"),
		netip.MustParseAddrPort("198.18.0.3:8472"),
		netip.MustParseAddrPort("198.18.0.4:4789"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v; want %v", got, want)
		}
	}
}

func TestUsable(t *testing.T) {
	p := netip.MustParsePrefix("198.19.1.0/24")
	cases := map[string]bool{
		"198.19.1.0": false, "198.19.1.1": true, "198.19.1.254": true, "198.19.1.255": false, "198.19.2.1": false,
	}
	for ip, want := range cases {
		if got := Usable(p, netip.MustParseAddr(ip)); got != want {
			t.Errorf("Usable(%s, %s): got %v; want %v", p, ip, got, want)
		}
	}
	for _, ip := range []string{"198.19.1.0", "198.19.1.1"} {
		if !Usable(netip.MustParsePrefix("198.19.1.0/31"), netip.MustParseAddr(ip)) {
			t.Errorf("%s: a /31 has two usable addresses (RFC 3021)", ip)
		}
	}
	if Usable(netip.MustParsePrefix("2001:db8::/64"), netip.MustParseAddr("2001:db8::")) {
		t.Error("the IPv6 subnet-router anycast address is not a host address")
	}
}

func TestCheckNames(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name    string
		aliases []string
		ok      bool
	}{
		{"web1", []string{"web", "db.1"}, true},
		{"", []string{"web"}, true},
		{"", nil, true},
		{"-bad", nil, false},
		{"a b", nil, false},
		{"web", []string{""}, false},
		{"web", []string{"x/y"}, false},
		{long, nil, false},
		{"ok." + long, nil, false},
		{"a..b", nil, false},
		{strings.Repeat("a", 63), nil, true},
	}
	for _, tt := range tests {
		err := Names(tt.name, tt.aliases)
		if (err == nil) != tt.ok {
			t.Errorf("Names(%q, %q) = %v; want ok %v", tt.name, tt.aliases, err, tt.ok)
		}
	}
}
