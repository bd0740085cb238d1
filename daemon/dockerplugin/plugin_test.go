package dockerplugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/dockerplugin"
)

type object = map[string]any

var testNet = dockerplugin.Network{
	ID: "n1", Name: "test-net", Subnet: netip.MustParsePrefix("198.19.1.0/24"), Gateway: netip.MustParseAddr("198.19.1.1"), MTU: 1450,
}

// client calls a plugin over HTTP, as Docker does.
type client struct {
	t   *testing.T
	url string
	p   *dockerplugin.Plugin
}

func newClient(t *testing.T, b dockerplugin.Backend) *client {
	p := dockerplugin.New(b, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return &client{t: t, url: srv.URL, p: p}
}

// call makes a call and returns its answer, or its Err.
func (c *client) call(method string, in any) (object, string) {
	c.t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(c.url+"/"+method, "application/json", bytes.NewReader(b))
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != dockerplugin.ContentType {
		c.t.Errorf("%s: content type %q; want %q", method, ct, dockerplugin.ContentType)
	}
	body, _ := io.ReadAll(resp.Body)
	var out object
	if err := json.Unmarshal(body, &out); err != nil {
		c.t.Fatalf("%s: answer %q: %v", method, body, err)
	}
	if e, _ := out["Err"].(string); e != "" {
		if resp.StatusCode == http.StatusOK {
			c.t.Errorf("%s: error %q with status 200", method, e)
		}
		return nil, e
	}
	return out, ""
}

// ok makes a call that must succeed.
func (c *client) ok(method string, in any) object {
	c.t.Helper()
	out, e := c.call(method, in)
	if e != "" {
		c.t.Fatalf("%s: %s", method, e)
	}
	return out
}

// fails makes a call that must fail with an error containing want.
func (c *client) fails(method string, in any, want string) {
	c.t.Helper()
	_, e := c.call(method, in)
	if !strings.Contains(e, want) {
		c.t.Errorf("%s: error %q; want one containing %q", method, e, want)
	}
}

func TestHandshake(t *testing.T) {
	c := newClient(t, newFake())
	for _, tc := range []struct {
		method string
		want   object
	}{
		{"Plugin.Activate", object{"Implements": []any{"NetworkDriver", "IpamDriver"}}},
		{"NetworkDriver.GetCapabilities", object{"Scope": "local", "ConnectivityScope": "global"}},
		{"IpamDriver.GetCapabilities", object{"RequiresMACAddress": true, "RequiresRequestReplay": false}},
		{"IpamDriver.GetDefaultAddressSpaces", object{"LocalDefaultAddressSpace": "weft", "GlobalDefaultAddressSpace": "weft"}},
		{"NetworkDriver.DiscoverNew", object{}},
		{"NetworkDriver.Leave", object{}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			if got := c.ok(tc.method, object{}); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
	c.fails("NetworkDriver.AllocateNetwork", object{}, "need no swarm")
	c.fails("NetworkDriver.FreeNetwork", object{}, "need no swarm")
}

// viewOf makes the Docker network of a weft network, as the sync does,
// and returns its pool ID.
func viewOf(c *client, n dockerplugin.Network, docker string) string {
	c.t.Helper()
	pool := c.ok("IpamDriver.RequestPool", object{"AddressSpace": "weft", "Pool": n.Subnet.String(), "Options": object{"weft.network": n.ID}})
	if pool["Pool"] != n.Subnet.String() {
		c.t.Fatalf("pool %v; want %s", pool, n.Subnet)
	}
	id := pool["PoolID"].(string)
	gw := c.ok("IpamDriver.RequestAddress", object{"PoolID": id, "Address": n.Gateway.String(), "Options": object{"RequestAddressType": "com.docker.network.gateway"}})
	if want := netip.PrefixFrom(n.Gateway, n.Subnet.Bits()).String(); gw["Address"] != want {
		c.t.Fatalf("gateway %v; want %s", gw["Address"], want)
	}
	c.ok("NetworkDriver.CreateNetwork", object{"NetworkID": docker, "IPv4Data": []object{{"AddressSpace": "weft", "Pool": n.Subnet.String(), "Gateway": gw["Address"]}}})
	return id
}

func TestContainerLifecycle(t *testing.T) {
	f := newFake(testNet)
	c := newClient(t, f)
	pool := viewOf(c, testNet, "d1")
	const mac = "02:42:c6:13:01:02"
	addr := c.ok("IpamDriver.RequestAddress", object{"PoolID": pool, "Options": object{"com.docker.network.endpoint.macaddress": mac}})
	if addr["Address"] != "198.19.1.2/24" {
		t.Fatalf("address %v; want 198.19.1.2/24", addr["Address"])
	}
	out := c.ok("NetworkDriver.CreateEndpoint", object{"NetworkID": "d1", "EndpointID": "e1", "Interface": object{"Address": addr["Address"], "MacAddress": mac}})
	if out["Interface"] != nil {
		t.Errorf("CreateEndpoint changed the interface Docker gave: %v", out)
	}
	join := c.ok("NetworkDriver.Join", object{"NetworkID": "d1", "EndpointID": "e1", "SandboxKey": "/var/run/docker/netns/x"})
	want := object{"InterfaceName": object{"SrcName": "wcep1", "DstPrefix": "eth"}, "Gateway": "198.19.1.1", "DisableGatewayService": true}
	if !reflect.DeepEqual(join, want) {
		t.Errorf("Join: got %v; want %v", join, want)
	}
	c.ok("NetworkDriver.EndpointOperInfo", object{"NetworkID": "d1", "EndpointID": "e1"})
	c.ok("NetworkDriver.Leave", object{"NetworkID": "d1", "EndpointID": "e1"})
	c.ok("IpamDriver.ReleaseAddress", object{"PoolID": pool, "Address": "198.19.1.2"})
	if f.held() != 1 {
		t.Fatalf("ReleaseAddress of a bound endpoint's address took it from the endpoint")
	}
	c.ok("NetworkDriver.DeleteEndpoint", object{"NetworkID": "d1", "EndpointID": "e1"})
	c.ok("NetworkDriver.DeleteEndpoint", object{"NetworkID": "d1", "EndpointID": "e1"}) // again, as after a restart
	if f.held() != 0 {
		t.Errorf("%d addresses held after DeleteEndpoint; want 0", f.held())
	}
}

func TestAddresses(t *testing.T) {
	internal := dockerplugin.Network{ID: "n2", Name: "backend", Subnet: netip.MustParsePrefix("198.19.2.0/24"), Gateway: netip.MustParseAddr("198.19.2.1"), Internal: true}
	f := newFake(testNet, internal)
	c := newClient(t, f)
	pool := viewOf(c, testNet, "d1")
	mac := object{"com.docker.network.endpoint.macaddress": "02:42:c6:13:01:09"}
	t.Run("requested address", func(t *testing.T) {
		out := c.ok("IpamDriver.RequestAddress", object{"PoolID": pool, "Address": "198.19.1.50", "Options": mac})
		if out["Address"] != "198.19.1.50/24" {
			t.Errorf("got %v; want 198.19.1.50/24", out["Address"])
		}
		c.fails("IpamDriver.RequestAddress", object{"PoolID": pool, "Address": "198.19.1.50", "Options": mac}, "already in use")
		c.ok("IpamDriver.ReleaseAddress", object{"PoolID": pool, "Address": "198.19.1.50"}) // never bound: given back
		if f.held() != 0 {
			t.Errorf("%d addresses held; want 0", f.held())
		}
	})
	t.Run("no MAC", func(t *testing.T) {
		c.fails("IpamDriver.RequestAddress", object{"PoolID": pool}, "no usable MAC")
	})
	t.Run("wrong gateway", func(t *testing.T) {
		c.fails("IpamDriver.RequestAddress", object{"PoolID": pool, "Address": "198.19.1.9", "Options": object{"RequestAddressType": "com.docker.network.gateway"}}, "gateway is 198.19.1.1")
	})
	t.Run("not a weft pool", func(t *testing.T) {
		c.fails("IpamDriver.RequestAddress", object{"PoolID": "LocalDefault/172.17.0.0/16", "Options": mac}, "not a weft pool")
	})
	t.Run("internal network has no gateway", func(t *testing.T) {
		ipool := viewOf(c, internal, "d2")
		addr := c.ok("IpamDriver.RequestAddress", object{"PoolID": ipool, "Options": mac})
		c.ok("NetworkDriver.CreateEndpoint", object{"NetworkID": "d2", "EndpointID": "e2", "Interface": object{"Address": addr["Address"]}})
		join := c.ok("NetworkDriver.Join", object{"NetworkID": "d2", "EndpointID": "e2"})
		if _, ok := join["Gateway"]; ok {
			t.Errorf("Join on an internal network gave a gateway: %v", join)
		}
	})
}

func TestRefusals(t *testing.T) {
	f := newFake(testNet)
	c := newClient(t, f)
	t.Run("default IPAM", func(t *testing.T) {
		c.fails("NetworkDriver.CreateNetwork", object{"NetworkID": "d9", "IPv4Data": []object{{"AddressSpace": "LocalDefault", "Pool": "172.18.0.0/16"}}}, "add --ipam-driver weft")
	})
	t.Run("IPv6", func(t *testing.T) {
		c.fails("IpamDriver.RequestPool", object{"V6": true}, "IPv4 only")
	})
	t.Run("overlapping subnet", func(t *testing.T) {
		c.fails("IpamDriver.RequestPool", object{"Pool": "198.19.0.0/16"}, "overlaps weft network test-net")
	})
	t.Run("worker", func(t *testing.T) {
		f.manageErr = api.BadRequest("this node is not a manager")
		defer func() { f.manageErr = nil }()
		c.fails("IpamDriver.RequestPool", object{"Pool": "198.19.9.0/24"}, "not a manager")
	})
	t.Run("published ports", func(t *testing.T) {
		c.fails("NetworkDriver.ProgramExternalConnectivity", object{"Options": object{"com.docker.network.portmap": []any{object{"Port": 80}}}}, "do not publish")
		c.ok("NetworkDriver.ProgramExternalConnectivity", object{"Options": object{}})
	})
	t.Run("bad body", func(t *testing.T) {
		c.fails("IpamDriver.RequestPool", "not an object", "invalid request body")
	})
}

func TestDockerNetworkCreate(t *testing.T) {
	f := newFake(testNet)
	c := newClient(t, f)
	pool := c.ok("IpamDriver.RequestPool", object{"AddressSpace": "weft", "SubPool": ""})
	if pool["Pool"] != "198.19.200.0/24" {
		t.Fatalf("pool %v; want the backend's free subnet", pool)
	}
	id := pool["PoolID"].(string)
	c.fails("IpamDriver.RequestPool", object{"Pool": "198.19.200.0/25"}, "being created")
	gw := c.ok("IpamDriver.RequestAddress", object{"PoolID": id, "Options": object{"RequestAddressType": "com.docker.network.gateway"}})
	if gw["Address"] != "198.19.200.1/24" {
		t.Fatalf("gateway %v; want 198.19.200.1/24", gw["Address"])
	}
	c.fails("IpamDriver.RequestAddress", object{"PoolID": id, "Options": object{"com.docker.network.endpoint.macaddress": "02:00:00:00:00:01"}}, "still being created")
	opts := object{"com.docker.network.generic": object{"encrypted": "", "com.docker.network.driver.mtu": "1400"}, "com.docker.network.internal": true}
	c.ok("NetworkDriver.CreateNetwork", object{"NetworkID": "dnew", "Options": opts, "IPv4Data": []object{{"AddressSpace": "weft", "Pool": "198.19.200.0/24", "Gateway": gw["Address"]}}})
	if got := c.p.Pending(); !reflect.DeepEqual(got, []string{"dnew"}) {
		t.Fatalf("pending %v; want [dnew]", got)
	}
	if err := c.p.Complete(context.Background(), "dnew", "made-by-docker", true, false); err != nil {
		t.Fatal(err)
	}
	want := api.NetworkCreate{Name: "made-by-docker", Subnet: "198.19.200.0/24", Gateway: "198.19.200.1", MTU: 1400, Attachable: true, Internal: true, Encrypted: true,
		Options: map[string]string{"encrypted": "", "com.docker.network.driver.mtu": "1400"}}
	if len(f.created) != 1 || !reflect.DeepEqual(f.created[0], want) {
		t.Errorf("created %+v; want %+v", f.created, want)
	}
	if got := c.p.Pending(); len(got) != 0 {
		t.Errorf("pending %v after Complete; want none", got)
	}
	addr := c.ok("IpamDriver.RequestAddress", object{"PoolID": id, "Options": object{"com.docker.network.endpoint.macaddress": "02:00:00:00:00:01"}})
	if addr["Address"] != "198.19.200.2/24" {
		t.Errorf("address %v; want 198.19.200.2/24", addr["Address"])
	}
}

func TestPendingForgotten(t *testing.T) {
	c := newClient(t, newFake())
	pool := c.ok("IpamDriver.RequestPool", object{"Pool": "198.19.7.0/24", "SubPool": "198.19.7.128/25"})
	c.ok("IpamDriver.ReleasePool", object{"PoolID": pool["PoolID"]}) // Docker gave up before CreateNetwork
	c.ok("IpamDriver.RequestPool", object{"Pool": "198.19.7.0/24"})  // the subnet is free again
	c.fails("IpamDriver.RequestPool", object{"Pool": "198.19.8.0/24", "SubPool": "198.19.9.0/25"}, "not a CIDR inside")
	c.ok("NetworkDriver.CreateNetwork", object{"NetworkID": "dp", "IPv4Data": []object{{"AddressSpace": "weft", "Pool": "198.19.7.0/24"}}})
	c.ok("NetworkDriver.DeleteNetwork", object{"NetworkID": "dp"}) // removed before the sync saw it
	if got := c.p.Pending(); len(got) != 0 {
		t.Errorf("pending %v; want none", got)
	}
}

func TestDeleteNetwork(t *testing.T) {
	f := newFake(testNet)
	c := newClient(t, f)
	viewOf(c, testNet, "d1")
	f.removeErr = api.Conflict("network test-net has active endpoints")
	c.fails("NetworkDriver.DeleteNetwork", object{"NetworkID": "d1"}, "active endpoints")
	f.removeErr = nil
	f.manageErr = api.BadRequest("this node is not a manager")
	c.fails("NetworkDriver.DeleteNetwork", object{"NetworkID": "d1"}, "only a manager removes it")
	f.manageErr = nil
	c.ok("NetworkDriver.DeleteNetwork", object{"NetworkID": "d1"})
	if !reflect.DeepEqual(f.removed, []string{"test-net"}) {
		t.Errorf("removed %v; want [test-net]", f.removed)
	}
	c.ok("NetworkDriver.DeleteNetwork", object{"NetworkID": "d1"})    // already gone
	c.ok("NetworkDriver.DeleteNetwork", object{"NetworkID": "other"}) // never seen
	if len(f.removed) != 1 {
		t.Errorf("removed %v; want one removal", f.removed)
	}
}

// Docker sends the calls that take no arguments with no body at all.
func TestEmptyBody(t *testing.T) {
	c := newClient(t, newFake())
	resp, err := http.Post(c.url+"/IpamDriver.GetDefaultAddressSpaces", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"LocalDefaultAddressSpace":"weft"`) {
		t.Errorf("GetDefaultAddressSpaces with no body: %d %s", resp.StatusCode, body)
	}
}
