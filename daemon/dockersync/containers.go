package dockersync

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/weftnet/weft/daemon/dockerplugin"
)

// EngineContainer is a running container, as the engine's API shows it:
// its name and its endpoints, by network name.
type EngineContainer struct {
	ID              string `json:"Id"`
	Name            string // inspect's "/NAME"
	Names           []string
	NetworkSettings struct {
		Networks map[string]EngineEndpoint
	}
}

// EngineEndpoint is a container's endpoint on one network.
type EngineEndpoint struct {
	NetworkID  string
	EndpointID string
	IPAddress  string
	Aliases    []string
}

// name is the container's name without Docker's leading slash.
func (c EngineContainer) name() string {
	n := c.Name
	if n == "" && len(c.Names) > 0 {
		n = c.Names[0]
	}
	return strings.TrimPrefix(n, "/")
}

// Containers lists the engine's running containers. The list does not
// show every endpoint's aliases; Container does.
func (c *Client) Containers(ctx context.Context) ([]EngineContainer, error) {
	var out []EngineContainer
	err := c.do(ctx, http.MethodGet, "/containers/json", nil, &out)
	return out, err
}

// Container inspects one container.
func (c *Client) Container(ctx context.Context, id string) (EngineContainer, error) {
	var out EngineContainer
	err := c.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(id)+"/json", nil, &out)
	return out, err
}

// Namer is the part of weftd that names Docker endpoints.
type Namer interface {
	// Endpoint finds the local weft endpoint of Docker's endpoint ID.
	Endpoint(docker string) (dockerplugin.Endpoint, error)
	// SetNames gives the endpoint of Docker's endpoint ID its container's
	// name and aliases, in the cluster and in its gossip record.
	SetNames(ctx context.Context, docker, name string, aliases []string) error
}

// Askers maps the address of each local container on weft networks to the
// IDs of every weft network that container is on.
type Askers map[netip.Addr][]string

// inspected is what the sync last read of a container, and from which of
// its endpoints: it inspects a container again only when they change.
type inspected struct {
	endpoints string // the sorted endpoint IDs the list showed
	c         EngineContainer
}

// names names the local Docker endpoints on weft networks after their
// containers, and reports the askers. A container that cannot be read or
// an endpoint that cannot be named is logged once and tried again next
// pass.
func (s *Sync) names(ctx context.Context, dk []EngineNetwork) error {
	if s.cfg.Names == nil {
		return nil
	}
	weft := map[string]bool{}
	for _, d := range dk {
		weft[d.ID] = true
	}
	list, err := s.cfg.Engine.Containers(ctx)
	if err != nil {
		return err
	}
	askers := Askers{}
	seen := map[string]bool{}
	for _, lc := range list {
		c, ok := s.inspect(ctx, lc, weft)
		if !ok {
			continue
		}
		seen[c.ID] = true
		s.nameContainer(ctx, c, weft, askers)
	}
	for id := range s.containers {
		if !seen[id] {
			delete(s.containers, id)
		}
	}
	if s.cfg.Askers != nil {
		s.cfg.Askers(askers)
	}
	return nil
}

// inspect returns the container lc of the list as inspect shows it, from
// the last inspection while its endpoints on weft networks are the same;
// false if it has none or cannot be read.
func (s *Sync) inspect(ctx context.Context, lc EngineContainer, weft map[string]bool) (EngineContainer, bool) {
	var eps []string
	for _, e := range lc.NetworkSettings.Networks {
		if weft[e.NetworkID] {
			eps = append(eps, e.EndpointID)
		}
	}
	if len(eps) == 0 {
		return EngineContainer{}, false
	}
	slices.Sort(eps)
	key := strings.Join(eps, ",")
	if old, ok := s.containers[lc.ID]; ok && old.endpoints == key {
		return old.c, true
	}
	c, err := s.cfg.Engine.Container(ctx, lc.ID)
	if err != nil {
		s.reportContainer(lc.name(), lc.ID, "docker container not read for its names", err)
		return EngineContainer{}, false
	}
	s.containers[lc.ID] = inspected{endpoints: key, c: c}
	return c, true
}

// nameContainer names c's endpoints on weft networks and adds their
// addresses to askers.
func (s *Sync) nameContainer(ctx context.Context, c EngineContainer, weft map[string]bool, askers Askers) {
	name := c.name()
	var addrs []netip.Addr
	var nets []string
	for _, e := range c.NetworkSettings.Networks {
		if !weft[e.NetworkID] || e.EndpointID == "" {
			continue
		}
		ep, err := s.cfg.Names.Endpoint(e.EndpointID)
		if err != nil {
			continue // not (yet) this node's: Join has not run, or it is gone
		}
		addrs, nets = append(addrs, ep.Addr.Addr()), append(nets, ep.NetworkID)
		err = s.cfg.Names.SetNames(ctx, e.EndpointID, name, aliasesOf(name, e.Aliases))
		s.reportContainer(name, e.EndpointID, "docker container's name not given to its weft endpoint; it will not resolve by name", err)
	}
	slices.Sort(nets)
	for _, a := range addrs {
		askers[a] = nets
	}
}

// aliasesOf is a container's aliases on a network, without its name and
// repeats (DNS names are case-insensitive), in the engine's order.
func aliasesOf(name string, in []string) []string {
	var out []string
	seen := map[string]bool{strings.ToLower(name): true}
	for _, a := range in {
		if k := strings.ToLower(a); a != "" && !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

// reportContainer logs a failure about container name (and its object id,
// the container or one of its endpoints) at WARN once until it changes.
func (s *Sync) reportContainer(name, id, failed string, err error) {
	key := "container " + id
	switch {
	case err == nil:
		delete(s.failed, key)
	case s.failed[key] != err.Error():
		s.failed[key] = err.Error()
		s.cfg.Log.Warn(failed, "container", name, "docker_id", id, "err", err)
	}
}
