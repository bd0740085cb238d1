package daemon

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/egress"
)

func TestPublishLocked(t *testing.T) {
	web := &endpoint{ID: "e1", Name: "web", IP: netip.MustParseAddr("198.19.1.2"), Published: []egress.Port{{HostPort: 8080, ContainerPort: 80, Proto: egress.TCP}}}
	app := &netState{Name: "appnet", VNI: 1, Subnet: netip.MustParsePrefix("198.19.1.0/24"), Gateway: netip.MustParseAddr("198.19.1.1"), Endpoints: map[string]*endpoint{"e1": web}}
	other := &netState{Name: "other", VNI: 2, Subnet: netip.MustParsePrefix("198.19.2.0/24"), Gateway: netip.MustParseAddr("198.19.2.1"), Endpoints: map[string]*endpoint{}}
	secret := &netState{Name: "secret", VNI: 3, Subnet: netip.MustParsePrefix("198.19.3.0/24"), Gateway: netip.MustParseAddr("198.19.3.1"), Internal: true, Endpoints: map[string]*endpoint{}}
	d := &Daemon{st: &state{Networks: map[string]*netState{"appnet": app, "other": other, "secret": secret}}}
	for _, tc := range []struct {
		name    string
		n       *netState
		publish []string
		want    []egress.Port
		err     []string // parts of the error
	}{
		{name: "none", n: other},
		{name: "free port", n: other, publish: []string{"8081:80", "8080:80/udp"}, want: []egress.Port{{HostPort: 8081, ContainerPort: 80, Proto: egress.TCP}, {HostPort: 8080, ContainerPort: 80, Proto: egress.UDP}}},
		{name: "taken on another network", n: other, publish: []string{"8080:90"}, err: []string{"8080/tcp", "web", "appnet", "attach api to other"}},
		{name: "taken on the same network", n: app, publish: []string{"8080:90/tcp"}, err: []string{"8080/tcp", "web"}},
		{name: "bad spec", n: other, publish: []string{"80"}, err: []string{`"80"`}},
		{name: "internal", n: secret, publish: []string{"8081:80"}, err: []string{"secret", "internal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.publishLocked(tc.n, api.Attach{Network: tc.n.Name, Name: "api", Netns: "api", Publish: tc.publish})
			if len(tc.err) > 0 {
				for _, w := range tc.err {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("got error %v; want one saying %q", err, w)
					}
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("port %d: got %v; want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestDesiredEgress(t *testing.T) {
	ep := &endpoint{ID: "e1", Name: "web", IP: netip.MustParseAddr("198.19.1.2"), Published: []egress.Port{{HostPort: 8080, ContainerPort: 80, Proto: egress.TCP}}}
	st := &state{Networks: map[string]*netState{
		"appnet": {Name: "appnet", VNI: 7, Subnet: netip.MustParsePrefix("198.19.1.0/24"), Gateway: netip.MustParseAddr("198.19.1.1"), Endpoints: map[string]*endpoint{"e1": ep}},
		"secret": {Name: "secret", VNI: 8, Subnet: netip.MustParsePrefix("198.19.3.0/24"), Gateway: netip.MustParseAddr("198.19.3.1"), Internal: true},
	}}
	want := desiredEgress(st)
	if len(want.Networks) != 2 || len(want.Published) != 1 {
		t.Fatalf("desired %+v; want 2 networks and 1 port", want)
	}
	for _, n := range want.Networks {
		switch {
		case n.Name == "appnet" && (n.Bridge != "wbr7" || n.TAP != "wtap7" || !n.WayOut()):
			t.Errorf("appnet: %+v; want wbr7, wtap7 and a way out", n)
		case n.Name == "secret" && (n.Gateway.IsValid() || n.WayOut() || !n.Internal):
			t.Errorf("secret: %+v; want internal, with no gateway", n)
		}
	}
	if p := want.Published[0]; p.Addr != ep.IP || p.Container != "web" || p.Network != "appnet" {
		t.Errorf("published %+v; want web's 198.19.1.2 on appnet", p)
	}
}
