package daemon

import (
	"net/netip"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/egress"
	"github.com/weftnet/weft/daemon/links"
)

// gateway is the network's gateway on this host's bridge and its
// containers' default route: none on an internal network.
func (n *netState) gateway() netip.Addr {
	if n.Internal {
		return netip.Addr{}
	}
	return n.Gateway
}

// egressNetwork is n as the egress rules see it.
func (n *netState) egressNetwork() egress.Network {
	return egress.Network{Name: n.Name, Bridge: links.BridgeName(n.VNI), TAP: links.TAPName(n.VNI), Subnet: n.Subnet, Gateway: n.gateway(), Internal: n.Internal}
}

// desiredEgress is the rules st asks for: every network of this host and
// every port its containers publish.
func desiredEgress(st *state) egress.Desired {
	var want egress.Desired
	for _, n := range st.Networks {
		want.Networks = append(want.Networks, n.egressNetwork())
		want.Published = append(want.Published, published(n)...)
	}
	return want
}

// published lists the ports n's containers publish.
func published(n *netState) []egress.Published {
	var out []egress.Published
	for _, ep := range n.Endpoints {
		for _, p := range ep.Published {
			out = append(out, egress.Published{Port: p, Network: n.Name, Container: ep.displayName(), Addr: ep.IP})
		}
	}
	return out
}

// syncEgressLocked makes weft's nftables rules what d.st asks for. A
// failure is logged: the containers keep their links, and the next change
// tries again. The caller holds d.mu (or is New).
func (d *Daemon) syncEgressLocked() {
	want := desiredEgress(d.st)
	if err := d.egress.Apply(egress.Build(want)); err != nil {
		d.log.Error("egress rules not programmed: containers may not reach outside the overlay, and published ports may not answer", "err", err)
		return
	}
	d.log.Debug("egress rules programmed", "table", egress.TableName, "networks", len(want.Networks), "published", len(want.Published))
}

// publishLocked reads the ports an attach to n asks to publish and checks
// that no container of this host has their host ports. The caller holds
// d.mu.
func (d *Daemon) publishLocked(n *netState, req api.Attach) ([]egress.Port, error) {
	ports, err := publishable(n.Name, n.gateway().IsValid(), req.Publish)
	if err != nil {
		return nil, err
	}
	var have []egress.Published
	for _, o := range d.st.Networks {
		have = append(have, published(o)...)
	}
	for _, p := range ports {
		if by, taken := egress.Taken(have, p); taken {
			return nil, conflict("attach %s to %s: %v", displayName(req), n.Name, egress.TakenError(p, by))
		}
	}
	return ports, nil
}

// publishable reads the --publish values of an attach to network, which
// must have a way out for its containers to answer.
func publishable(network string, wayOut bool, specs []string) ([]egress.Port, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	ports, err := egress.ParsePorts(specs)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if !wayOut {
		return nil, badRequest("network %s has no way out of the overlay (it is --internal, or has no gateway): its containers cannot publish ports", network)
	}
	return ports, nil
}

// displayName names the container an attach is for.
func displayName(req api.Attach) string {
	if req.Name != "" {
		return req.Name
	}
	return links.NetnsPath(req.Netns)
}

// describeEgress adds the endpoint's way out to its description.
func (ep *endpoint) describeEgress(n *netState, out *api.Endpoint) {
	if gw := n.gateway(); gw.IsValid() {
		out.Gateway = gw.String()
	}
	for _, p := range ep.Published {
		out.Published = append(out.Published, p.String())
	}
}
