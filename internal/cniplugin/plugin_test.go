package cniplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/weftnet/weft/daemon/api"
)

// appnet is the network the fake weftd has.
func appnet(internal bool) api.Network {
	return api.Network{Name: "appnet", Internal: internal,
		IPAM: api.IPAM{Config: []api.IPAMConfig{{Subnet: "198.19.7.0/24", Gateway: "198.19.7.1"}}}}
}

// conf is a network configuration for the plugin, with extra fields.
func conf(t *testing.T, cniVersion, socket string, extra map[string]any) []byte {
	t.Helper()
	c := map[string]any{"cniVersion": cniVersion, "name": "weftnet", "type": "weft", "network": "appnet", "socket": socket}
	for k, v := range extra {
		c[k] = v
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// netnsFile stands for a container's namespace: the plugin only checks
// that it is there.
func netnsFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func cmdArgs(id, netns string, stdin []byte) *skel.CmdArgs {
	return &skel.CmdArgs{ContainerID: id, Netns: netns, IfName: "eth0", Args: "IgnoreUnknown=1;K8S_POD_NAME=web", StdinData: stdin}
}

// cniCode returns the CNI error code of err, failing the test when err is
// not a CNI error.
func cniCode(t *testing.T, err error) (uint, string) {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T); want a CNI error", err, err)
	}
	return e.Code, e.Msg
}

func TestAddResultEveryVersion(t *testing.T) {
	for _, v := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		for _, internal := range []bool{false, true} {
			t.Run(v+map[bool]string{true: "/internal", false: ""}[internal], func(t *testing.T) {
				f := newFakeWeftd(t, appnet(internal))
				ns := netnsFile(t)
				var out bytes.Buffer
				if err := Funcs(&out).Add(cmdArgs("c1", ns, conf(t, v, f.socket, nil))); err != nil {
					t.Fatal(err)
				}
				r, err := version.NewResult(v, out.Bytes())
				if err != nil {
					t.Fatalf("result %s does not parse as %s: %v", out.String(), v, err)
				}
				checkResult(t, r, ns, internal)
			})
		}
	}
}

func checkResult(t *testing.T, r types.Result, ns string, internal bool) {
	t.Helper()
	res, err := current.NewResultFromResult(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Interfaces) != 1 || res.Interfaces[0].Sandbox != ns || res.Interfaces[0].Mac != "02:00:00:00:00:01" || res.Interfaces[0].Name != "eth0" {
		t.Fatalf("got interfaces %v; want eth0 with its MAC in %s", res.Interfaces, ns)
	}
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != "198.19.7.11/24" || res.IPs[0].Gateway.String() != "198.19.7.1" {
		t.Fatalf("got ips %v; want 198.19.7.11/24 via 198.19.7.1", res.IPs)
	}
	wantRoutes := 1
	if internal {
		wantRoutes = 0
	}
	if len(res.Routes) != wantRoutes || (wantRoutes == 1 && (res.Routes[0].Dst.String() != "0.0.0.0/0" || res.Routes[0].GW.String() != "198.19.7.1")) {
		t.Fatalf("got routes %v; want %d default route(s) via the gateway", res.Routes, wantRoutes)
	}
	if len(res.DNS.Nameservers) != 1 || res.DNS.Nameservers[0] != "127.0.0.11" {
		t.Fatalf("got dns %+v; want weft's resolver", res.DNS)
	}
}

func TestAddRequest(t *testing.T) {
	f := newFakeWeftd(t, appnet(false))
	stdin := conf(t, "1.0.0", f.socket, map[string]any{"runtimeConfig": map[string]any{
		"ips":          []string{"198.19.7.50/24"},
		"aliases":      map[string][]string{"weftnet": {"db", "primary"}},
		"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}, {"hostPort": 53, "containerPort": 5353, "protocol": "udp"}},
	}})
	if err := Funcs(&bytes.Buffer{}).Add(cmdArgs("c1", netnsFile(t), stdin)); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(f.attaches[0])
	var req struct {
		api.Attach
		Publish []string
	}
	_ = json.Unmarshal(got, &req)
	if req.IP != "198.19.7.50" || req.Name != "web" || req.IfName != "eth0" || req.ContainerID != "c1" ||
		strings.Join(req.Aliases, ",") != "db,primary" || strings.Join(req.Publish, ",") != "8080:80/tcp,53:5353/udp" {
		t.Fatalf("got attach request %s; want address, name, interface, ID, aliases and ports from the runtime", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin string
		code  uint
		msg   string
	}{
		{"not json", `{`, types.ErrDecodingFailure, "cannot parse"},
		{"no network", `{"cniVersion":"1.0.0","name":"x","type":"weft"}`, types.ErrInvalidNetworkConfig, `has no "network"`},
		{"two addresses", `{"cniVersion":"1.0.0","name":"x","type":"weft","network":"appnet","runtimeConfig":{"ips":["198.19.7.2","198.19.7.3"]}}`, types.ErrUnsupportedField, "one address"},
		{"bad address", `{"cniVersion":"1.0.0","name":"x","type":"weft","network":"appnet","runtimeConfig":{"ips":["nope"]}}`, types.ErrInvalidNetworkConfig, "invalid requested address"},
		{"ipv6", `{"cniVersion":"1.0.0","name":"x","type":"weft","network":"appnet","runtimeConfig":{"ips":["fd00::2/64"]}}`, types.ErrUnsupportedField, "IPv4 only"},
		{"bad port", `{"cniVersion":"1.0.0","name":"x","type":"weft","network":"appnet","runtimeConfig":{"portMappings":[{"hostPort":0,"containerPort":80}]}}`, types.ErrInvalidNetworkConfig, "ports are 1 to 65535"},
		{"sctp", `{"cniVersion":"1.0.0","name":"x","type":"weft","network":"appnet","runtimeConfig":{"portMappings":[{"hostPort":1,"containerPort":80,"protocol":"sctp"}]}}`, types.ErrUnsupportedField, "tcp and udp"},
		{"host ip", `{"cniVersion":"1.0.0","name":"x","type":"weft","network":"appnet","runtimeConfig":{"portMappings":[{"hostPort":1,"containerPort":80,"hostIP":"198.18.0.1"}]}}`, types.ErrUnsupportedField, "leave hostIP empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeWeftd(t, appnet(false))
			var c map[string]any
			stdin := []byte(tc.stdin)
			if json.Unmarshal(stdin, &c) == nil {
				c["socket"] = f.socket
				stdin, _ = json.Marshal(c)
			}
			code, msg := cniCode(t, Funcs(&bytes.Buffer{}).Add(cmdArgs("c1", netnsFile(t), stdin)))
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got code %d %q; want %d with %q", code, msg, tc.code, tc.msg)
			}
			if len(f.attaches) != 0 {
				t.Fatalf("got %d attach requests; want none", len(f.attaches))
			}
		})
	}
}

func TestAddErrors(t *testing.T) {
	f := newFakeWeftd(t, appnet(false))
	ns := netnsFile(t)
	stopped := conf(t, "1.0.0", filepath.Join(t.TempDir(), "none.sock"), nil)
	other := conf(t, "1.0.0", f.socket, map[string]any{"network": "nonet"})
	for _, tc := range []struct {
		name  string
		args  *skel.CmdArgs
		code  uint
		msg   string
		setup func()
	}{
		{"weftd stopped", cmdArgs("c1", ns, stopped), types.ErrTryAgainLater, "weftd is not running", nil},
		{"unknown network", cmdArgs("c1", ns, other), types.ErrInvalidNetworkConfig, `network "nonet" does not exist: create it`, nil},
		{"netns gone", cmdArgs("c1", filepath.Join(t.TempDir(), "gone"), conf(t, "1.0.0", f.socket, nil)), types.ErrInvalidNetNS, "is gone", nil},
		{"refused", cmdArgs("c1", ns, conf(t, "1.0.0", f.socket, nil)), types.ErrInvalidNetworkConfig, "weftd refused: address taken",
			func() { f.refuse = &api.StatusError{Status: 409, Message: "address taken"} }},
		{"busy", cmdArgs("c1", ns, conf(t, "1.0.0", f.socket, nil)), types.ErrTryAgainLater, "try again",
			func() { f.refuse = &api.StatusError{Status: 503, Message: "no leader"} }},
		{"cannot publish", cmdArgs("c1", ns, conf(t, "1.0.0", f.socket, nil)), types.ErrUnsupportedField, "cannot publish ports",
			func() { f.refuse = &api.StatusError{Status: 400, Message: `json: unknown field "Publish"`} }},
		{"answer lost", cmdArgs("c1", ns, conf(t, "1.0.0", f.socket, nil)), types.ErrIOFailure, "talking to weftd",
			func() { f.refuse, f.lose = nil, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			code, msg := cniCode(t, Funcs(&bytes.Buffer{}).Add(tc.args))
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got code %d %q; want %d with %q", code, msg, tc.code, tc.msg)
			}
			if got := f.attached(); len(got) != 0 {
				t.Fatalf("got attachments %v; want none", got)
			}
		})
	}
}

func TestDelIsIdempotent(t *testing.T) {
	f := newFakeWeftd(t, appnet(false))
	stdin := conf(t, "1.0.0", f.socket, nil)
	p := Funcs(&bytes.Buffer{})
	if err := p.Add(cmdArgs("c1", netnsFile(t), stdin)); err != nil {
		t.Fatal(err)
	}
	gone := cmdArgs("c1", "", stdin) // DEL may come without a namespace
	for i := range 2 {
		if err := p.Del(gone); err != nil {
			t.Fatalf("DEL %d: %v", i+1, err)
		}
	}
	if got := f.attached(); len(got) != 0 {
		t.Fatalf("got attachments %v after DEL; want none", got)
	}
	stopped := conf(t, "1.0.0", filepath.Join(t.TempDir(), "none.sock"), nil)
	if code, msg := cniCode(t, p.Del(cmdArgs("c1", "", stopped))); code != types.ErrTryAgainLater || !strings.Contains(msg, "start weftd") {
		t.Fatalf("DEL with weftd stopped: got %d %q; want try again later, start weftd", code, msg)
	}
}

func TestCheck(t *testing.T) {
	f := newFakeWeftd(t, appnet(false))
	ns := netnsFile(t)
	var out bytes.Buffer
	p := Funcs(&out)
	if err := p.Add(cmdArgs("c1", ns, conf(t, "1.0.0", f.socket, nil))); err != nil {
		t.Fatal(err)
	}
	var prev map[string]any
	if err := json.Unmarshal(out.Bytes(), &prev); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(cmdArgs("c1", ns, conf(t, "1.0.0", f.socket, map[string]any{"prevResult": prev}))); err != nil {
		t.Fatalf("CHECK of a good attachment: %v", err)
	}
	prev["interfaces"].([]any)[0].(map[string]any)["mac"] = "02:00:00:00:00:99"
	if _, msg := cniCode(t, p.Check(cmdArgs("c1", ns, conf(t, "1.0.0", f.socket, map[string]any{"prevResult": prev})))); !strings.Contains(msg, "its MAC is") {
		t.Fatalf("CHECK with another MAC: got %q; want a MAC mismatch", msg)
	}
	if code, _ := cniCode(t, p.Check(cmdArgs("c2", ns, conf(t, "1.0.0", f.socket, map[string]any{"prevResult": prev})))); code != types.ErrUnknownContainer {
		t.Fatalf("CHECK of a container never added: got code %d; want %d", code, types.ErrUnknownContainer)
	}
}

func TestGCKeepsValidAndHandMade(t *testing.T) {
	f := newFakeWeftd(t, appnet(false))
	p := Funcs(&bytes.Buffer{})
	for _, id := range []string{"keep", "stale"} {
		if err := p.Add(cmdArgs(id, netnsFile(t), conf(t, "1.1.0", f.socket, nil))); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	f.net.Containers["byhand"] = api.Endpoint{EndpointID: "byhand", Interface: "eth0"}
	f.mu.Unlock()
	valid := []types.GCAttachment{{ContainerID: "keep", IfName: "eth0"}}
	if err := p.GC(cmdArgs("", "", conf(t, "1.1.0", f.socket, map[string]any{"cni.dev/valid-attachments": valid}))); err != nil {
		t.Fatal(err)
	}
	if got := f.attached(); len(got) != 2 || !got["keep"] || !got[""] {
		t.Fatalf("got attachments %v after GC; want keep and the hand-made one", got)
	}
}

func TestStatus(t *testing.T) {
	f := newFakeWeftd(t, appnet(false))
	p := Funcs(&bytes.Buffer{})
	if err := p.Status(cmdArgs("", "", conf(t, "1.1.0", f.socket, nil))); err != nil {
		t.Fatalf("STATUS with weftd up: %v", err)
	}
	stopped := conf(t, "1.1.0", filepath.Join(t.TempDir(), "none.sock"), nil)
	if code, msg := cniCode(t, p.Status(cmdArgs("", "", stopped))); code != errPluginNotAvailable || !strings.Contains(msg, "weftd is not running") {
		t.Fatalf("STATUS with weftd stopped: got %d %q; want %d, weftd is not running", code, msg, errPluginNotAvailable)
	}
}
