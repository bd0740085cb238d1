package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/dnshost"
	"github.com/weftnet/weft/daemon/links"
	"github.com/weftnet/weft/daemon/request"
)

// Attach puts a network namespace on a network: a veth whose container end
// gets the address, a random MAC and the network's MTU, and whose host end
// joins the network's bridge. On error nothing is left behind.
func (d *Daemon) Attach(ctx context.Context, req api.Attach) (api.Endpoint, error) {
	d.mu.Lock()
	if n, ok := d.st.Networks[req.Network]; !ok || n.Cluster {
		d.mu.Unlock()
		return d.attachCluster(ctx, req)
	}
	defer d.mu.Unlock()
	n, ep, err := d.parseAttach(req)
	if err != nil {
		return api.Endpoint{}, err
	}
	if err := plumb(n, ep); err != nil {
		return api.Endpoint{}, fmt.Errorf("attach %s to %s: %w", ep.displayName(), n.Name, err)
	}
	n.Endpoints[ep.ID] = ep
	if err := d.save(); err != nil {
		delete(n.Endpoints, ep.ID)
		_ = links.Delete(ep.HostIf)
		return api.Endpoint{}, err
	}
	d.log.Info("attached", "network", n.Name, "netns", ep.Netns, "ip", ep.IP, "mac", ep.MAC, "container", ep.Name)
	return d.attached(n, ep), nil
}

// parseAttach checks an attach request and returns the endpoint to make.
// The caller holds d.mu.
func (d *Daemon) parseAttach(req api.Attach) (*netState, *endpoint, error) {
	n, ok := d.st.Networks[req.Network]
	if !ok {
		return nil, nil, notFound("network %s not found", req.Network)
	}
	if err := request.Names(req.Name, req.Aliases); err != nil {
		return nil, nil, err
	}
	ip, err := netip.ParseAddr(req.IP)
	if err != nil {
		return nil, nil, badRequest("invalid address %q: %v", req.IP, err)
	}
	if !request.Usable(n.Subnet, ip) {
		return nil, nil, badRequest("address %s is not a usable address of %s's subnet %s", ip, n.Name, n.Subnet)
	}
	if ip == n.Gateway {
		return nil, nil, conflict("address %s is the gateway of %s", ip, n.Name)
	}
	ep := &endpoint{ID: randomID(), Name: req.Name, Netns: links.NetnsPath(req.Netns), IP: ip, MAC: randomMAC().String(), Aliases: req.Aliases}
	if err := ep.setContainer(req); err != nil {
		return nil, nil, err
	}
	if err := ep.checkNetns(); err != nil {
		return nil, nil, err
	}
	if err := containerConflict(n, ep); err != nil {
		return nil, nil, err
	}
	if ep.Published, err = d.publishLocked(n, req); err != nil {
		return nil, nil, err
	}
	for _, o := range n.Endpoints {
		switch {
		case o.IP == ip:
			return nil, nil, conflict("attach %s to %s: address %s already in use by %s", ep.displayName(), n.Name, ip, o.displayName())
		case req.Name != "" && strings.EqualFold(o.Name, req.Name):
			return nil, nil, conflict("name %s is already used on %s by %s", req.Name, n.Name, o.Netns)
		}
	}
	ep.HostIf = "wv" + ep.ID[:10]
	return n, ep, nil
}

// checkNetns fills in the endpoint's namespace identity, or says why the
// namespace cannot be used.
func (ep *endpoint) checkNetns() error {
	if _, err := os.Stat(ep.Netns); err != nil {
		return notFound("network namespace %s not found", ep.Netns)
	}
	id, err := links.NamespaceID(ep.Netns)
	if err != nil {
		return badRequest("%v", err)
	}
	ep.NetnsID = id
	return nil
}

// plumb makes the endpoint's veth, on its network's bridge and in its
// namespace. The caller holds d.mu.
func plumb(n *netState, ep *endpoint) error {
	mac, _ := net.ParseMAC(ep.MAC)
	v := links.Veth{HostIf: ep.HostIf, TmpName: "wc" + ep.ID[:10], IP: netip.PrefixFrom(ep.IP, n.Subnet.Bits()), MAC: mac, MTU: n.MTU, IfName: ep.IfName, Gateway: n.gateway()}
	if ep.Docker {
		ep.IfName = v.TmpName // until Docker moves it
		return links.Pair(links.BridgeName(n.VNI), v)
	}
	var err error
	ep.IfName, err = links.Plug(ep.Netns, links.BridgeName(n.VNI), v)
	return err
}

// attached makes a new attachment's resolver and zone and describes the
// endpoint. The caller holds d.mu.
func (d *Daemon) attached(n *netState, ep *endpoint) api.Endpoint {
	syncDNS(d.dns, d.st)
	out := ep.describe(n)
	out.Resolver, out.ResolvConf, _ = d.dns.Resolver(ep.NetnsID)
	return out
}

// Detach takes a namespace off a network and deletes its veth.
func (d *Daemon) Detach(req api.Detach) error {
	d.mu.Lock()
	n, ep, err := d.detachLocked(req)
	d.mu.Unlock()
	c, _ := d.member.Current()
	if err == nil && n.Cluster && c != nil {
		d.member.Withdraw(c, ep.ID) // outside the lock: it waits on the managers
	}
	return err
}

// detachLocked deletes the endpoint's veth and forgets it. The caller holds
// d.mu.
func (d *Daemon) detachLocked(req api.Detach) (*netState, *endpoint, error) {
	n, ok := d.st.Networks[req.Network]
	if !ok {
		return nil, nil, notFound("network %s not found", req.Network)
	}
	ep, err := findDetach(n, req)
	if err != nil {
		return nil, nil, err
	}
	if err := links.Delete(ep.HostIf); err != nil {
		return nil, nil, fmt.Errorf("detach %s from %s: %w", ep.displayName(), n.Name, err)
	}
	delete(n.Endpoints, ep.ID)
	if err := d.save(); err != nil {
		n.Endpoints[ep.ID] = ep // a retry finds it again; its link is already gone
		return nil, nil, err
	}
	syncDNS(d.dns, d.st)
	d.log.Info("detached", "network", n.Name, "netns", ep.Netns, "ip", ep.IP, "container", ep.Name)
	return n, ep, nil
}

// findEndpoint finds a network's endpoint by namespace: by the path it was
// attached with, or failing that by the namespace's identity.
func findEndpoint(n *netState, path string) *endpoint {
	for _, ep := range n.Endpoints {
		if ep.Netns == path {
			return ep
		}
	}
	id, err := links.NamespaceID(path)
	if err != nil {
		return nil
	}
	for _, ep := range n.Endpoints {
		if ep.NetnsID == id {
			return ep
		}
	}
	return nil
}

// randomMAC returns a random unicast, locally administered MAC, so that a
// reused IP never inherits a stale FDB entry of the old container.
func randomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac) // crypto/rand.Read never fails on Linux
	mac[0] = mac[0]&^0x01 | 0x02
	return mac
}

// syncDNS gives the resolvers the namespaces attached here and the zones
// of the static networks; the zones of cluster networks come from gossip
// (the reconciler). The caller holds d.mu.
func syncDNS(dns *dnshost.Host, st *state) {
	byID := map[string]*dnshost.Namespace{}
	for _, n := range st.Networks {
		for _, ep := range n.Endpoints {
			if ep.Docker {
				continue // Docker's own resolver serves its containers
			}
			ns := byID[ep.NetnsID]
			if ns == nil {
				ns = &dnshost.Namespace{ID: ep.NetnsID, Path: ep.Netns}
				byID[ep.NetnsID] = ns
			}
			ns.Networks = append(ns.Networks, n.ID)
		}
		if !n.Cluster {
			dns.SetZone(staticZone(n))
		}
	}
	nss := make([]dnshost.Namespace, 0, len(byID))
	for _, ns := range byID {
		nss = append(nss, *ns)
	}
	dns.Sync(nss)
}

// staticZone is the DNS view of a static network: its endpoints here.
func staticZone(n *netState) resolver.Zone {
	z := resolver.Zone{ID: n.ID, Name: n.Name, Subnets: []netip.Prefix{n.Subnet}}
	for _, ep := range n.Endpoints {
		z.Endpoints = append(z.Endpoints, resolver.Endpoint{Name: ep.Name, Aliases: ep.Aliases, Addrs: []netip.Addr{ep.IP}})
	}
	return z
}
