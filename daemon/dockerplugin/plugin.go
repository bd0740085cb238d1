// Package dockerplugin serves weft to Docker as a remote network and IPAM
// driver (libnetwork's remote plugin protocol, v1).
//
// A Docker network of driver weft is a view of a weft cluster network: the
// two have the same subnet, which is how every call finds its weft network
// (a subnet belongs to one cluster network, and Docker tells the network
// driver the pool, never the network's name). Addresses come from the
// cluster's IPAM, so they are unique across hosts. An endpoint is a weft
// endpoint whose veth is made when Docker asks for its address, with the
// container end left on the host for Docker to move into the container at
// Join.
//
// A `docker network create -d weft --ipam-driver weft NAME` on a manager
// leaves a pending network here (see Pending): the driver is not told the
// name, so the Docker network sync (daemon/dockersync), which reads the
// engine's networks, creates the weft network once the engine shows it.
//
// Log lines use the keys "network" (weft's name), "docker_network" and
// "docker_endpoint" (Docker's IDs), "subnet", "ip" and "err".
package dockerplugin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/weftnet/weft/daemon/api"
)

// Network is a weft cluster network, as the plugin needs it.
type Network struct {
	ID         string
	Name       string
	Subnet     netip.Prefix
	Gateway    netip.Addr   // invalid when the network has none
	IPRange    netip.Prefix // invalid when the whole subnet is allocated from
	MTU        int
	Internal   bool
	Attachable bool
	Encrypted  bool
}

// Endpoint is a Docker container's endpoint on a weft network.
type Endpoint struct {
	ID        string       // weft's endpoint ID, which holds the address in the cluster
	Docker    string       // Docker's endpoint ID, once Docker made the endpoint
	NetworkID string       // the weft network's ID
	Addr      netip.Prefix // the address, with the subnet's length
	MAC       net.HardwareAddr
	SrcName   string // the container end of the veth while it is on the host
}

// Backend is what the plugin needs of weftd. Its errors are shown to the
// Docker user as they are, so they say what failed and what to do.
type Backend interface {
	// Networks lists the cluster's networks.
	Networks(ctx context.Context) ([]Network, error)
	// Manage says why this node cannot create or remove cluster networks
	// (it is in no cluster, or not a manager), or nil if it can.
	Manage(ctx context.Context) error
	// FreeSubnet returns a subnet of the cluster's default pool that no
	// network has.
	FreeSubnet(ctx context.Context) (netip.Prefix, error)
	// CreateNetwork creates a cluster network.
	CreateNetwork(ctx context.Context, req api.NetworkCreate) error
	// RemoveNetwork removes a cluster network everywhere; it is refused
	// while a container anywhere uses it.
	RemoveNetwork(ctx context.Context, name string) error
	// Reserve allocates an address on a network (ip, if valid; refused
	// when it is taken anywhere) and makes the endpoint's veth on the
	// network's bridge, its container end on the host with mac.
	Reserve(ctx context.Context, networkID string, ip netip.Addr, mac net.HardwareAddr) (Endpoint, error)
	// Bind names the endpoint that holds ip on a network with Docker's
	// endpoint ID.
	Bind(networkID string, ip netip.Addr, docker string) (Endpoint, error)
	// Endpoint finds an endpoint by Docker's ID; api.NotFound if there is
	// none.
	Endpoint(docker string) (Endpoint, error)
	// Delete removes an endpoint found by Docker's ID, its veth and its
	// address; an endpoint that is already gone is not an error.
	Delete(docker string) error
	// Unreserve gives back the address ip of a network that Reserve
	// allocated and no Docker endpoint was bound to; an address not held
	// so is left alone.
	Unreserve(networkID string, ip netip.Addr) error
}

// Plugin is the network and IPAM driver. Its zero value is not usable;
// make it with New.
type Plugin struct {
	backend Backend
	log     *slog.Logger

	mu sync.Mutex // guards the fields below
	// pools are the subnets of Docker networks being created here whose
	// weft network does not exist yet, by subnet.
	pools map[netip.Prefix]*pendingPool
	// pending are those networks once Docker made them, by Docker's ID;
	// the sync takes them (Pending, Created).
	pending map[string]*pendingPool
	// views are the subnets of the Docker networks of driver weft, by
	// Docker's ID: of those made here, and of those the sync saw (Learn).
	views map[string]netip.Prefix
}

// New returns a plugin over a backend.
func New(b Backend, log *slog.Logger) *Plugin {
	return &Plugin{backend: b, log: log, pools: map[netip.Prefix]*pendingPool{}, pending: map[string]*pendingPool{}, views: map[string]netip.Prefix{}}
}

// Handler serves the protocol: every call a POST of JSON, answered in JSON
// or with an error as {"Err": "..."}.
func (p *Plugin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		reply(w, activateResponse{Implements: []string{"NetworkDriver", "IpamDriver"}}, nil)
	})
	p.networkRoutes(mux)
	p.ipamRoutes(mux)
	return mux
}

// handle routes a call whose request body is a Req.
func handle[Req any](mux *http.ServeMux, method string, f func(context.Context, Req) (any, error)) {
	mux.HandleFunc("POST /"+method, func(w http.ResponseWriter, r *http.Request) {
		var req Req
		// Docker sends no body at all with the calls that take no
		// arguments.
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			reply(w, nil, api.BadRequest("%s: invalid request body: %v", method, err))
			return
		}
		out, err := f(r.Context(), req)
		reply(w, out, err)
	})
}

// reply writes a call's answer: out, or err as {"Err": ...}. An empty
// answer is {}.
func reply(w http.ResponseWriter, out any, err error) {
	w.Header().Set("Content-Type", ContentType)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError) // Docker shows Err, whatever the status
		_ = json.NewEncoder(w).Encode(errorResponse{Err: err.Error()})
		return
	}
	if out == nil {
		out = struct{}{}
	}
	_ = json.NewEncoder(w).Encode(out)
}

// errNotSwarm is the answer to the calls of swarm's global-scope drivers.
var errNotSwarm = errors.New("weft networks are local-scope Docker networks with global connectivity: they need no swarm, and weft's cluster does what swarm would")
