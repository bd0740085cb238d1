package daemon

import (
	"strings"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/links"
)

// maxIfName is the longest interface name Linux takes (IFNAMSIZ less the
// terminating NUL).
const maxIfName = 15

// maxContainerID bounds a container ID, which runtimes make 64 hex digits.
const maxContainerID = 256

// setContainer gives the endpoint the interface name and container ID a
// runtime asked for (CNI_IFNAME, CNI_CONTAINERID), or says why they are
// unusable.
func (ep *endpoint) setContainer(req api.Attach) error {
	if err := checkIfName(req.IfName); err != nil {
		return err
	}
	if len(req.ContainerID) > maxContainerID || strings.ContainsAny(req.ContainerID, "\x00\n/") {
		return badRequest("invalid container ID %q: at most %d characters, without '/' or control characters", req.ContainerID, maxContainerID)
	}
	ep.IfName, ep.ContainerID = req.IfName, req.ContainerID
	return nil
}

// checkIfName accepts "" (the first free ethN) or a name Linux takes for a
// link.
func checkIfName(name string) error {
	switch {
	case name == "":
		return nil
	case len(name) > maxIfName, name == ".", name == "..",
		strings.ContainsAny(name, "/: \t\n\x00"):
		return badRequest("invalid interface name %q: at most %d characters, none of '/', ':' or spaces, not '.' or '..'", name, maxIfName)
	}
	return nil
}

// containerConflict says why ep cannot join n: its namespace or its
// container ID is attached to n already. The caller holds d.mu.
func containerConflict(n *netState, ep *endpoint) error {
	for _, o := range n.Endpoints {
		switch {
		case o.NetnsID == ep.NetnsID:
			return conflict("%s is already attached to %s", ep.Netns, n.Name)
		case ep.ContainerID != "" && o.ContainerID == ep.ContainerID:
			return conflict("container %s is already attached to %s (as %s)", ep.ContainerID, n.Name, o.Netns)
		}
	}
	return nil
}

// findDetach finds the endpoint a detach request names: by container ID
// when it gives one, which works also once the namespace is gone, or else
// by namespace.
func findDetach(n *netState, req api.Detach) (*endpoint, error) {
	if req.ContainerID == "" {
		if ep := findEndpoint(n, links.NetnsPath(req.Netns)); ep != nil {
			return ep, nil
		}
		return nil, notFound("%s is not attached to %s", req.Netns, n.Name)
	}
	for _, ep := range n.Endpoints {
		if ep.ContainerID == req.ContainerID {
			return ep, nil
		}
	}
	return nil, notFound("container %s is not attached to %s", req.ContainerID, n.Name)
}
