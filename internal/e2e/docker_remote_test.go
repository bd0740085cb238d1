//go:build linux

package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/weftnet/weft/internal/nstest"
)

// labDriver is a remote network driver of libnetwork's plugin API v1, just
// enough to put containers on a network whose driver is a plugin with
// Scope local, as weft's is: each endpoint is a veth whose host end is on
// a bridge of the test's. Join gives the network's gateway as the
// container's default route, unless the network was made with -o nogw.
type labDriver struct {
	ns, bridge string

	mu   sync.Mutex
	gw   map[string]string // network ID to gateway address; "" for -o nogw
	errs []error
}

// serveLabDriver serves the driver on PluginDir/name.sock of d until the
// test ends.
func serveLabDriver(t *testing.T, d *nstest.Dockerd, name, bridge string) *labDriver {
	t.Helper()
	drv := &labDriver{ns: d.NS, bridge: bridge, gw: map[string]string{}}
	ln, err := net.Listen("unix", filepath.Join(d.PluginDir, name+".sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: drv.mux()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		// The engine calls the driver to remove its endpoints, and waits
		// for a driver that has gone.
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
		_ = srv.Close()
		drv.mu.Lock()
		defer drv.mu.Unlock()
		for _, err := range drv.errs {
			t.Errorf("lab driver: %v", err)
		}
	})
	return drv
}

func (drv *labDriver) mux() *http.ServeMux {
	m := http.NewServeMux()
	reply := func(path string, f func(req map[string]any) (any, error)) {
		m.HandleFunc("/"+path, func(w http.ResponseWriter, r *http.Request) {
			var req map[string]any
			_ = json.NewDecoder(r.Body).Decode(&req)
			resp, err := f(req)
			if err != nil {
				drv.mu.Lock()
				drv.errs = append(drv.errs, err)
				drv.mu.Unlock()
				resp = map[string]string{"Err": err.Error()}
			}
			w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1+json")
			_ = json.NewEncoder(w).Encode(resp)
		})
	}
	empty := func(map[string]any) (any, error) { return map[string]any{}, nil }
	reply("Plugin.Activate", func(map[string]any) (any, error) {
		return map[string]any{"Implements": []string{"NetworkDriver"}}, nil
	})
	reply("NetworkDriver.GetCapabilities", func(map[string]any) (any, error) {
		return map[string]any{"Scope": "local", "ConnectivityScope": "global"}, nil
	})
	reply("NetworkDriver.CreateNetwork", drv.createNetwork)
	reply("NetworkDriver.CreateEndpoint", drv.createEndpoint)
	reply("NetworkDriver.Join", drv.join)
	reply("NetworkDriver.DeleteEndpoint", drv.deleteEndpoint)
	reply("NetworkDriver.EndpointOperInfo", func(map[string]any) (any, error) { return map[string]any{"Value": map[string]any{}}, nil })
	for _, p := range []string{"DeleteNetwork", "Leave", "ProgramExternalConnectivity", "RevokeExternalConnectivity", "DiscoverNew", "DiscoverDelete"} {
		reply("NetworkDriver."+p, empty)
	}
	return m
}

func (drv *labDriver) createNetwork(req map[string]any) (any, error) {
	id, _ := req["NetworkID"].(string)
	gw := ""
	if v4, _ := req["IPv4Data"].([]any); len(v4) > 0 {
		data, _ := v4[0].(map[string]any)
		s, _ := data["Gateway"].(string)
		gw, _, _ = strings.Cut(s, "/")
	}
	opts, _ := req["Options"].(map[string]any)
	if generic, _ := opts["com.docker.network.generic"].(map[string]any); generic["nogw"] != nil {
		gw = ""
	}
	drv.mu.Lock()
	drv.gw[id] = gw
	drv.mu.Unlock()
	return map[string]any{}, nil
}

// vethNames are the host and container ends of an endpoint's veth.
func vethNames(req map[string]any) (string, string) {
	id, _ := req["EndpointID"].(string)
	if len(id) > 10 {
		id = id[:10]
	}
	return "lh" + id, "lc" + id
}

func (drv *labDriver) createEndpoint(req map[string]any) (any, error) {
	host, ctr := vethNames(req)
	for _, s := range [][]string{
		{"-n", drv.ns, "link", "add", host, "type", "veth", "peer", "name", ctr},
		{"-n", drv.ns, "link", "set", host, "master", drv.bridge, "up"},
	} {
		if _, err := nstest.IP(s...); err != nil {
			return nil, err
		}
	}
	return map[string]any{}, nil
}

func (drv *labDriver) join(req map[string]any) (any, error) {
	_, ctr := vethNames(req)
	id, _ := req["NetworkID"].(string)
	drv.mu.Lock()
	gw := drv.gw[id]
	drv.mu.Unlock()
	return map[string]any{"InterfaceName": map[string]string{"SrcName": ctr, "DstPrefix": "eth"}, "Gateway": gw}, nil
}

func (drv *labDriver) deleteEndpoint(req map[string]any) (any, error) {
	host, _ := vethNames(req)
	_, _ = nstest.IP("-n", drv.ns, "link", "del", host) // gone with the container's namespace, maybe
	return map[string]any{}, nil
}
