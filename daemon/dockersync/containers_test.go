package dockersync

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/weftnet/weft/daemon/dockerplugin"
)

// fakeNamer is weftd's local Docker endpoints, by Docker's endpoint ID,
// and the names given to them.
type fakeNamer struct {
	eps   map[string]dockerplugin.Endpoint
	names map[string][]string // Docker endpoint ID → name, then aliases
	calls int
}

func (n *fakeNamer) Endpoint(docker string) (dockerplugin.Endpoint, error) {
	ep, ok := n.eps[docker]
	if !ok {
		return dockerplugin.Endpoint{}, errors.New("not here")
	}
	return ep, nil
}

func (n *fakeNamer) SetNames(_ context.Context, docker, name string, aliases []string) error {
	n.calls++
	n.names[docker] = append([]string{name}, aliases...)
	return nil
}

func container(id, name string, eps ...EngineEndpoint) EngineContainer {
	c := EngineContainer{ID: id, Name: "/" + name}
	c.NetworkSettings.Networks = map[string]EngineEndpoint{}
	for _, ep := range eps {
		c.NetworkSettings.Networks[ep.NetworkID] = ep
	}
	return c
}

// Each pass names the local endpoints on weft networks after their
// containers, with their aliases, and reports every local container's
// addresses with all its weft networks; a container is inspected again
// only when its endpoints change.
func TestNamesContainers(t *testing.T) {
	s, e, w, _ := newSync()
	n := &fakeNamer{names: map[string][]string{}, eps: map[string]dockerplugin.Endpoint{
		"d1a": {NetworkID: "wa", Addr: netip.MustParsePrefix("198.19.1.2/24")},
		"d1b": {NetworkID: "wb", Addr: netip.MustParsePrefix("198.19.2.130/24")},
		"d3a": {NetworkID: "wa", Addr: netip.MustParsePrefix("198.19.1.3/24")},
	}}
	var askers Askers
	s.cfg.Names, s.cfg.Askers = n, func(a Askers) { askers = a }
	w.nets = []dockerplugin.Network{netA, netB}
	e.ctrs = []EngineContainer{
		container("c1", "alpine1", EngineEndpoint{NetworkID: "docker1", EndpointID: "d1a", Aliases: []string{"c1short", "web", "alpine1", "WEB"}},
			EngineEndpoint{NetworkID: "docker2", EndpointID: "d1b", Aliases: []string{"c1short"}}),
		container("c2", "plain", EngineEndpoint{NetworkID: "bridge", EndpointID: "d2"}),                                         // not on weft: left alone
		container("c3", "remote", EngineEndpoint{NetworkID: "docker1", EndpointID: "d9"}, EngineEndpoint{NetworkID: "docker1"}), // not this node's endpoint
	}
	for range 2 {
		if err := s.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]string{"d1a": {"alpine1", "c1short", "web"}, "d1b": {"alpine1", "c1short"}}
	if !reflect.DeepEqual(n.names, want) {
		t.Errorf("names\n got %q\nwant %q", n.names, want)
	}
	wantAskers := Askers{netip.MustParseAddr("198.19.1.2"): {"wa", "wb"}, netip.MustParseAddr("198.19.2.130"): {"wa", "wb"}}
	if !reflect.DeepEqual(askers, wantAskers) {
		t.Errorf("askers\n got %v\nwant %v", askers, wantAskers)
	}
	if e.inspects != 2 {
		t.Errorf("%d inspections in two passes of two containers on weft networks; want 2", e.inspects)
	}
	// docker network disconnect: c1 leaves b; it is inspected again.
	delete(e.ctrs[0].NetworkSettings.Networks, "docker2")
	if err := s.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantAskers = Askers{netip.MustParseAddr("198.19.1.2"): {"wa"}}
	if !reflect.DeepEqual(askers, wantAskers) || e.inspects != 3 {
		t.Errorf("after a disconnect: askers %v, %d inspections; want %v, 3 (c1 once more)", askers, e.inspects, wantAskers)
	}
}
