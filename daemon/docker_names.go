package daemon

import (
	"context"
	"net/netip"
	"slices"

	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/dockerdns"
	"github.com/weftnet/weft/daemon/dockersync"
)

// SetNames gives the Docker endpoint docker its container's name and
// aliases: first the allocation in the cluster (which the gossip of every
// node checks records against), then this node's state and the endpoint's
// record. Names it already has cost nothing.
func (b dockerBackend) SetNames(ctx context.Context, docker, name string, aliases []string) error {
	d := b.d
	c, _ := d.member.Current()
	if c == nil {
		return api.NoCluster()
	}
	d.mu.Lock()
	_, ep := d.findDockerLocked(func(_ *netState, ep *endpoint) bool { return ep.DockerID == docker })
	if ep == nil {
		d.mu.Unlock()
		return notFound("Docker endpoint %s has no weft endpoint on this node", docker)
	}
	id, same := ep.ID, ep.Name == name && slices.Equal(ep.Aliases, aliases)
	d.mu.Unlock()
	if same {
		return nil
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), allocateTimeout)
	defer cancel()
	req := &store.Allocation{EndpointID: id, Node: c.ID(), Name: name, Aliases: aliases}
	if err := c.Apply(actx, store.Command{Op: store.OpSetNames, Allocation: req}, nil); err != nil { // outside d.mu: it waits on the managers
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ep := d.findDockerLocked(func(_ *netState, ep *endpoint) bool { return ep.ID == id })
	if ep == nil {
		return nil // removed meanwhile: its record is withdrawn and its allocation released
	}
	oldName, oldAliases := ep.Name, ep.Aliases
	ep.Name, ep.Aliases = name, slices.Clone(aliases)
	if err := d.save(); err != nil {
		ep.Name, ep.Aliases = oldName, oldAliases // the next pass tries again
		return err
	}
	d.publish(n, ep)
	d.log.Info("docker endpoint named", "network", n.Name, "ip", ep.IP, "name", name, "aliases", aliases, "docker_endpoint", docker)
	return nil
}

// startDockerDNS serves Docker containers' DNS at the configured address
// until the daemon stops, checks the engine's daemon.json, and returns
// what tells the server which containers ask; nil when it is off. A
// server that cannot listen is logged, and weftd runs on without it.
func (d *Daemon) startDockerDNS() func(dockersync.Askers) {
	if !d.cfg.DockerDNS.IsValid() {
		return nil
	}
	srv := dockerdns.New(d.dns, d.log)
	addr := netip.AddrPortFrom(d.cfg.DockerDNS, dockerdns.Port)
	if err := srv.Listen(addr); err != nil {
		d.log.Warn("docker dns off: containers will not resolve the names of containers on other hosts", "addr", addr, "err", err)
		return nil
	}
	if err := dockerdns.CheckDaemonJSON(dockerdns.DaemonJSON, d.cfg.DockerDNS); err != nil {
		d.log.Warn("docker dns: the engine may not ask weftd; containers would not resolve names on other hosts", "err", err)
	}
	go func() {
		<-d.stop
		srv.Close()
	}()
	return func(a dockersync.Askers) { srv.SetAskers(a) }
}
