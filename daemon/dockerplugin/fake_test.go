package dockerplugin_test

import (
	"context"
	"net"
	"net/netip"
	"sync"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/dockerplugin"
)

// fakeBackend is weftd in memory: a cluster's networks and the Docker
// endpoints of this node, with addresses allocated in order.
type fakeBackend struct {
	mu        sync.Mutex
	nets      []dockerplugin.Network
	eps       map[string]*dockerplugin.Endpoint // by weft ID
	manageErr error                             // Manage's answer: nil on a manager
	removeErr error                             // RemoveNetwork's refusal, if any
	created   []api.NetworkCreate
	removed   []string
	seq       int
}

var _ dockerplugin.Backend = (*fakeBackend)(nil)

func newFake(nets ...dockerplugin.Network) *fakeBackend {
	return &fakeBackend{nets: nets, eps: map[string]*dockerplugin.Endpoint{}}
}

func (f *fakeBackend) Networks(context.Context) ([]dockerplugin.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dockerplugin.Network(nil), f.nets...), nil
}

func (f *fakeBackend) Manage(context.Context) error { return f.manageErr }

func (f *fakeBackend) FreeSubnet(context.Context) (netip.Prefix, error) {
	return netip.MustParsePrefix("198.19.200.0/24"), nil
}

func (f *fakeBackend) CreateNetwork(_ context.Context, req api.NetworkCreate) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, req)
	n := dockerplugin.Network{ID: "id-" + req.Name, Name: req.Name, Subnet: netip.MustParsePrefix(req.Subnet)}
	if req.Gateway != "" {
		n.Gateway = netip.MustParseAddr(req.Gateway)
	}
	f.nets = append(f.nets, n)
	return nil
}

func (f *fakeBackend) RemoveNetwork(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removeErr != nil {
		return f.removeErr
	}
	f.removed = append(f.removed, name)
	for i, n := range f.nets {
		if n.Name == name {
			f.nets = append(f.nets[:i], f.nets[i+1:]...)
			break
		}
	}
	return nil
}

func (f *fakeBackend) Reserve(_ context.Context, networkID string, ip netip.Addr, mac net.HardwareAddr) (dockerplugin.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var subnet netip.Prefix
	for _, n := range f.nets {
		if n.ID == networkID {
			subnet = n.Subnet
		}
	}
	if !subnet.IsValid() {
		return dockerplugin.Endpoint{}, api.NotFound("network with ID %s not found", networkID)
	}
	if !ip.IsValid() {
		ip = subnet.Addr().Next().Next()
		for range f.seq {
			ip = ip.Next()
		}
	}
	for _, ep := range f.eps {
		if ep.NetworkID == networkID && ep.Addr.Addr() == ip {
			return dockerplugin.Endpoint{}, api.Conflict("address %s already in use", ip)
		}
	}
	f.seq++
	id := "ep" + string(rune('0'+f.seq))
	ep := &dockerplugin.Endpoint{ID: id, NetworkID: networkID, Addr: netip.PrefixFrom(ip, subnet.Bits()), MAC: mac, SrcName: "wc" + id}
	f.eps[id] = ep
	return *ep, nil
}

func (f *fakeBackend) Bind(networkID string, ip netip.Addr, docker string) (dockerplugin.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ep := range f.eps {
		if ep.NetworkID == networkID && ep.Addr.Addr() == ip {
			ep.Docker = docker
			return *ep, nil
		}
	}
	return dockerplugin.Endpoint{}, api.NotFound("no address %s reserved", ip)
}

func (f *fakeBackend) Endpoint(docker string) (dockerplugin.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ep := range f.eps {
		if ep.Docker == docker {
			return *ep, nil
		}
	}
	return dockerplugin.Endpoint{}, api.NotFound("docker endpoint %s not found", docker)
}

func (f *fakeBackend) Delete(docker string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, ep := range f.eps {
		if ep.Docker == docker {
			delete(f.eps, id)
		}
	}
	return nil
}

func (f *fakeBackend) Unreserve(networkID string, ip netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, ep := range f.eps {
		if ep.NetworkID == networkID && ep.Addr.Addr() == ip && ep.Docker == "" {
			delete(f.eps, id)
		}
	}
	return nil
}

// held is how many endpoints hold an address.
func (f *fakeBackend) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.eps)
}
