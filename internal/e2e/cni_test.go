//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// cniPluginDir returns a directory holding weft-cni under the name the
// runtimes look for, "weft".
func cniPluginDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(binDir, "weft-cni"), filepath.Join(dir, "weft")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cniConfList is dist/weft.conflist for one host: its network, its weftd's
// socket and the CNI version asked for.
func cniConfList(t *testing.T, d *nstest.Weftd, network, cniVersion string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../dist/weft.conflist")
	if err != nil {
		t.Fatal(err)
	}
	var list map[string]any
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("dist/weft.conflist: %v", err)
	}
	list["cniVersion"], list["name"] = cniVersion, network
	plugin := list["plugins"].([]any)[0].(map[string]any)
	plugin["network"], plugin["socket"] = network, d.Socket
	out, _ := json.Marshal(list)
	return out
}

// cniHost is one lab host as a runtime sees it: libcni with its own cache,
// and the network's configuration for the host's weftd.
type cniHost struct {
	d    *nstest.Weftd
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

func newCNIHost(t *testing.T, d *nstest.Weftd, pluginDir, network, cniVersion string) *cniHost {
	t.Helper()
	list, err := libcni.ConfListFromBytes(cniConfList(t, d, network, cniVersion))
	if err != nil {
		t.Fatal(err)
	}
	return &cniHost{d: d, cni: libcni.NewCNIConfigWithCacheDir([]string{pluginDir}, t.TempDir(), nil), list: list}
}

// runtimeConf describes a container as the runtime passes it.
func runtimeConf(id, ns, name string, caps map[string]any) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: "/run/netns/" + ns, IfName: "eth0",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAME", name}}, CapabilityArgs: caps}
}

func (h *cniHost) add(t *testing.T, rt *libcni.RuntimeConf) *current.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := h.cni.AddNetworkList(ctx, h.list, rt)
	if err != nil {
		t.Fatalf("ADD %s on %s: %v", rt.ContainerID, h.d.Name, err)
	}
	res, err := current.NewResultFromResult(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (h *cniHost) del(t *testing.T, rt *libcni.RuntimeConf) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.cni.DelNetworkList(ctx, h.list, rt); err != nil {
		t.Fatalf("DEL %s on %s: %v", rt.ContainerID, h.d.Name, err)
	}
}

// attachedIDs returns the container IDs of the network's endpoints on d
// (hand-made ones are "").
func attachedIDs(t *testing.T, d *nstest.Weftd, network string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, ep := range inspectNet(t, d, network, false).Containers {
		out[ep.ContainerID] = true
	}
	return out
}

// Must show 3, through libcni: ADD on two hosts, CHECK, containers ping
// each other by name and alias, DEL twice, DEL after a weftd restart with
// the namespace gone, GC of a stale attachment, STATUS.
func TestCNIThroughLibcni(t *testing.T) {
	if os.Getenv("WEFT_E2E_WEFTD_ARGS") != "" {
		t.Skip("runtime test: run once, on the default data path")
	}
	lab := newLab(t, "we2e-cni")
	hosts := newCluster(t, lab, 2)
	cli(t, hosts[0], "network", "create", "--attachable", "--subnet", "198.19.21.0/24", "--gateway", "198.19.21.1", "cninet")
	plugins := cniPluginDir(t)
	h1, h2 := newCNIHost(t, hosts[0], plugins, "cninet", "1.1.0"), newCNIHost(t, hosts[1], plugins, "cninet", "1.1.0")
	c1, c2 := mustNetns(t, lab, "c1"), mustNetns(t, lab, "c2")
	rt1 := runtimeConf("cid-c1", c1, "c1", nil)
	rt2 := runtimeConf("cid-c2", c2, "c2", map[string]any{"ips": []string{"198.19.21.50"}, "aliases": map[string][]string{"cninet": {"db"}}})
	r1, r2 := h1.add(t, rt1), h2.add(t, rt2)
	checkCNIResult(t, r1, rt1, "")
	checkCNIResult(t, r2, rt2, "198.19.21.50/24")

	t.Run("CHECK", func(t *testing.T) {
		for _, p := range []struct {
			h  *cniHost
			rt *libcni.RuntimeConf
		}{{h1, rt1}, {h2, rt2}} {
			if err := p.h.cni.CheckNetworkList(context.Background(), p.h.list, p.rt); err != nil {
				t.Errorf("CHECK %s: %v", p.rt.ContainerID, err)
			}
		}
	})
	t.Run("ping by name and alias both ways", func(t *testing.T) {
		if !poll.Wait(5*time.Second, func() bool { return resolves(t, c1, "c2", "198.19.21.50") }) {
			t.Fatal("c2 does not resolve in c1")
		}
		for _, p := range [][2]string{{c1, "c2"}, {c1, "db"}, {c2, "c1"}} {
			ping(t, p[0], p[1])
		}
	})
	t.Run("portMappings", func(t *testing.T) {
		c6 := mustNetns(t, lab, "c6")
		rt6 := runtimeConf("cid-c6", c6, "c6", map[string]any{"portMappings": []map[string]any{{"hostPort": 8086, "containerPort": 80, "protocol": "tcp"}}})
		h1.add(t, rt6)
		serveTCP(t, c6, 80, "c6")
		hostPort := hosts[0].IP.String() + ":8086"
		if got, err := dial(hosts[1].NS, hostPort); got != "c6" {
			t.Fatalf("%s from h2: %q, %v; want c6's answer", hostPort, got, err)
		}
		h1.del(t, rt6)
		if got, err := dial(hosts[1].NS, hostPort); err == nil {
			t.Errorf("%s from h2 after DEL: %q; want no answer", hostPort, got)
		}
	})
	t.Run("STATUS", func(t *testing.T) {
		if err := h1.cni.GetStatusNetworkList(context.Background(), h1.list); err != nil {
			t.Errorf("STATUS with weftd up: %v", err)
		}
	})
	t.Run("DEL twice", func(t *testing.T) {
		h2.del(t, rt2)
		h2.del(t, rt2)
		if ids := attachedIDs(t, hosts[1], "cninet"); len(ids) != 0 {
			t.Errorf("after DEL, h2 still has %v on cninet", ids)
		}
	})
	t.Run("GC", func(t *testing.T) {
		// c3 was added by a runtime that has lost its cache; c4 by hand.
		lost := newCNIHost(t, hosts[0], plugins, "cninet", "1.1.0")
		lost.add(t, runtimeConf("cid-c3", mustNetns(t, lab, "c3"), "c3", nil))
		container(t, hosts[0], "c4", "cninet", "")
		valid := &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: "cid-c1", IfName: "eth0"}}}
		if err := h1.cni.GCNetworkList(context.Background(), h1.list, valid); err != nil {
			t.Fatalf("GC: %v", err)
		}
		if ids := attachedIDs(t, hosts[0], "cninet"); len(ids) != 2 || !ids["cid-c1"] || !ids[""] {
			t.Errorf("after GC, h1 has %v on cninet; want cid-c1 and the hand-made c4", ids)
		}
	})
	t.Run("DEL after a weftd restart", func(t *testing.T) {
		hosts[0].Stop()
		restarted, err := hosts[0].StartWeftd()
		if err != nil {
			t.Fatal(err)
		}
		dumpLogsOnFailure(t, restarted)
		if !poll.Wait(10*time.Second, func() bool { _, err := restarted.CLI("network", "inspect", "cninet"); return err == nil }) {
			t.Fatal("cninet cannot be inspected on h1 after its restart")
		}
		if ids := attachedIDs(t, restarted, "cninet"); !ids["cid-c1"] {
			t.Fatalf("h1 has %v on cninet after its restart; want cid-c1", ids)
		}
		h1.del(t, rt1)
		h1.del(t, rt1)
		if ids := attachedIDs(t, restarted, "cninet"); ids["cid-c1"] {
			t.Errorf("after DEL, h1 still has %v on cninet", ids)
		}
	})
	t.Run("DEL with the namespace gone", func(t *testing.T) {
		c5 := mustNetns(t, lab, "c5")
		rt5 := runtimeConf("cid-c5", c5, "c5", nil)
		h2.add(t, rt5)
		if err := lab.DeleteNetns(c5); err != nil {
			t.Fatal(err)
		}
		h2.del(t, rt5)
		h2.del(t, rt5)
		if ids := attachedIDs(t, hosts[1], "cninet"); len(ids) != 0 {
			t.Errorf("after DEL, h2 still has %v on cninet", ids)
		}
	})
}

func mustNetns(t *testing.T, lab *nstest.Lab, name string) string {
	t.Helper()
	ns, err := lab.Container(name)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// checkCNIResult checks an ADD's result: the interface in the sandbox,
// an address of cninet (want, if given), the gateway and a default route
// through it, and weft's resolver.
func checkCNIResult(t *testing.T, r *current.Result, rt *libcni.RuntimeConf, want string) {
	t.Helper()
	if len(r.Interfaces) != 1 || r.Interfaces[0].Name != "eth0" || r.Interfaces[0].Sandbox != rt.NetNS || r.Interfaces[0].Mac == "" {
		t.Errorf("%s: got interfaces %v; want eth0 with a MAC in %s", rt.ContainerID, r.Interfaces, rt.NetNS)
	}
	if len(r.IPs) != 1 || !strings.HasPrefix(r.IPs[0].Address.String(), "198.19.21.") || r.IPs[0].Gateway.String() != "198.19.21.1" ||
		(want != "" && r.IPs[0].Address.String() != want) {
		t.Errorf("%s: got ips %v; want an address of 198.19.21.0/24 (%s) via 198.19.21.1", rt.ContainerID, r.IPs, want)
	}
	if len(r.Routes) != 1 || r.Routes[0].Dst.String() != "0.0.0.0/0" || r.Routes[0].GW.String() != "198.19.21.1" {
		t.Errorf("%s: got routes %v; want the default route via 198.19.21.1", rt.ContainerID, r.Routes)
	}
	if len(r.DNS.Nameservers) != 1 || r.DNS.Nameservers[0] != "127.0.0.11" {
		t.Errorf("%s: got dns %+v; want 127.0.0.11", rt.ContainerID, r.DNS)
	}
	out, err := nstest.Exec(strings.TrimPrefix(rt.NetNS, "/run/netns/"), "ip", "-o", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(out, r.IPs[0].Address.String()) {
		t.Errorf("%s: eth0 in the namespace: %v\n%s; want %s", rt.ContainerID, err, out, r.IPs[0].Address.String())
	}
}

// ADD against a network that does not exist, a namespace that is gone and
// a weftd that is stopped fails with a CNI error that says which and what
// to do, and leaves nothing attached.
func TestCNIAddFailsCleanly(t *testing.T) {
	if os.Getenv("WEFT_E2E_WEFTD_ARGS") != "" {
		t.Skip("runtime test: run once, on the default data path")
	}
	lab := newLab(t, "we2e-cnif")
	d := newCluster(t, lab, 1)[0]
	cli(t, d, "network", "create", "--attachable", "--subnet", "198.19.22.0/24", "cninet")
	plugins := cniPluginDir(t)
	good, missing := newCNIHost(t, d, plugins, "cninet", "1.0.0"), newCNIHost(t, d, plugins, "nonet", "1.0.0")
	c1 := mustNetns(t, lab, "c1")
	for _, tc := range []struct {
		name string
		h    *cniHost
		rt   *libcni.RuntimeConf
		code uint
		msg  string
		stop bool
	}{
		{"unknown network", missing, runtimeConf("cid-1", c1, "c1", nil), types.ErrInvalidNetworkConfig, `network "nonet" does not exist: create it`, false},
		{"namespace gone", good, runtimeConf("cid-2", "we2e-cnif-gone", "c2", nil), types.ErrInvalidNetNS, "is gone", false},
		{"weftd stopped", good, runtimeConf("cid-3", c1, "c1", nil), types.ErrTryAgainLater, "weftd is not running", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.stop {
				d.Stop()
			}
			_, err := tc.h.cni.AddNetworkList(context.Background(), tc.h.list, tc.rt)
			var cerr *types.Error
			if !errors.As(err, &cerr) || cerr.Code != tc.code || !strings.Contains(cerr.Msg, tc.msg) {
				t.Errorf("ADD: got %v; want CNI error %d with %q", err, tc.code, tc.msg)
			}
			if tc.stop {
				restarted, err := d.StartWeftd()
				if err != nil {
					t.Fatal(err)
				}
				dumpLogsOnFailure(t, restarted)
				d = restarted
				if !poll.Wait(10*time.Second, func() bool { _, err := d.CLI("network", "inspect", "cninet"); return err == nil }) {
					t.Fatal("cninet cannot be inspected after the restart")
				}
			}
			if ids := attachedIDs(t, d, "cninet"); len(ids) != 0 {
				t.Errorf("after the failed ADD, cninet has %v", ids)
			}
		})
	}
	if out, err := d.CLI("network", "ls"); err != nil || strings.Contains(out, "nonet") {
		t.Errorf("network ls: %v\n%s; want no nonet", err, out)
	}
}

// A static-peer network takes CNI containers too: the address comes from
// runtimeConfig.ips (static networks allocate none), the interface is
// named as the runtime asks, and DEL works twice.
func TestCNIStaticNetwork(t *testing.T) {
	if os.Getenv("WEFT_E2E_WEFTD_ARGS") != "" {
		t.Skip("runtime test: run once, on the default data path")
	}
	lab := newLab(t, "we2e-cnis")
	d := host(t, lab, "h1", 1)
	cli(t, d, "network", "create", "--vni", "4242", "--subnet", "198.19.24.0/24", "snet")
	h := newCNIHost(t, d, cniPluginDir(t), "snet", "1.0.0")
	ns := mustNetns(t, lab, "c1")
	rt := runtimeConf("cid-s1", ns, "s1", map[string]any{"ips": []string{"198.19.24.7/24"}})
	rt.IfName = "net1"
	r := h.add(t, rt)
	if len(r.Interfaces) != 1 || r.Interfaces[0].Name != "net1" || len(r.IPs) != 1 || r.IPs[0].Address.String() != "198.19.24.7/24" {
		t.Errorf("got interfaces %v, ips %v; want net1 with 198.19.24.7/24", r.Interfaces, r.IPs)
	}
	if out, err := nstest.Exec(ns, "ip", "-o", "addr", "show", "dev", "net1"); err != nil || !strings.Contains(out, "198.19.24.7/24") {
		t.Errorf("net1 in the namespace: %v\n%s", err, out)
	}
	if err := h.cni.CheckNetworkList(context.Background(), h.list, rt); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	h.del(t, rt)
	h.del(t, rt)
	if ids := attachedIDs(t, d, "snet"); len(ids) != 0 {
		t.Errorf("after DEL, snet has %v", ids)
	}
}
