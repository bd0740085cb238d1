package dockersync

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/weftnet/weft/daemon/dockerplugin"
)

// fakeEngine is a Docker engine's networks in memory.
type fakeEngine struct {
	down     error
	nets     []EngineNetwork
	removed  []string
	seq      int
	ctrs     []EngineContainer
	inspects int
}

// Containers lists the containers without their aliases, as the engine's
// list may.
func (e *fakeEngine) Containers(context.Context) ([]EngineContainer, error) {
	out := slices.Clone(e.ctrs)
	for i, c := range out {
		nets := map[string]EngineEndpoint{}
		for k, ep := range c.NetworkSettings.Networks {
			ep.Aliases = nil
			nets[k] = ep
		}
		out[i].Name, out[i].Names, out[i].NetworkSettings.Networks = "", []string{c.Name}, nets
	}
	return out, nil
}

func (e *fakeEngine) Container(_ context.Context, id string) (EngineContainer, error) {
	e.inspects++
	for _, c := range e.ctrs {
		if c.ID == id {
			return c, nil
		}
	}
	return EngineContainer{}, errors.New("no such container: " + id)
}

func (e *fakeEngine) Ping(context.Context) error { return e.down }

func (e *fakeEngine) Networks(context.Context) ([]EngineNetwork, error) {
	return slices.Clone(e.nets), nil
}

func (e *fakeEngine) CreateNetwork(_ context.Context, n EngineNetwork) (string, error) {
	for _, o := range e.nets {
		if o.Name == n.Name {
			return "", errors.New("network with name " + n.Name + " already exists")
		}
	}
	e.seq++
	n.ID = "docker" + string(rune('0'+e.seq))
	e.nets = append(e.nets, n)
	return n.ID, nil
}

func (e *fakeEngine) RemoveNetwork(_ context.Context, id string) error {
	e.removed = append(e.removed, id)
	e.nets = slices.DeleteFunc(e.nets, func(n EngineNetwork) bool { return n.ID == id })
	return nil
}

func (e *fakeEngine) names() []string {
	var out []string
	for _, n := range e.nets {
		out = append(out, n.Name)
	}
	slices.Sort(out)
	return out
}

type fakeWeft struct{ nets []dockerplugin.Network }

func (w *fakeWeft) Networks(context.Context) ([]dockerplugin.Network, error) {
	return slices.Clone(w.nets), nil
}

// fakePlugin holds pending Docker networks; Complete adds their weft
// network, or fails with failWith.
type fakePlugin struct {
	weft     *fakeWeft
	pending  map[string]netip.Prefix
	learned  map[string]netip.Prefix
	failWith error
}

func (p *fakePlugin) Pending() []string {
	var out []string
	for id := range p.pending {
		out = append(out, id)
	}
	return out
}

func (p *fakePlugin) Complete(_ context.Context, docker, name string, attachable, internal bool) error {
	subnet := p.pending[docker]
	delete(p.pending, docker)
	if p.failWith != nil {
		return p.failWith
	}
	p.weft.nets = append(p.weft.nets, dockerplugin.Network{ID: "w-" + name, Name: name, Subnet: subnet, Attachable: attachable, Internal: internal})
	return nil
}

func (p *fakePlugin) Learn(docker string, subnet netip.Prefix) { p.learned[docker] = subnet }

func newSync() (*Sync, *fakeEngine, *fakeWeft, *fakePlugin) {
	e, w := &fakeEngine{}, &fakeWeft{}
	p := &fakePlugin{weft: w, pending: map[string]netip.Prefix{}, learned: map[string]netip.Prefix{}}
	return New(Config{Engine: e, Weft: w, Plugin: p, Host: "unix:///test.sock", Log: slog.New(slog.DiscardHandler)}), e, w, p
}

var (
	netA = dockerplugin.Network{ID: "wa", Name: "a", Subnet: netip.MustParsePrefix("198.19.1.0/24"), Gateway: netip.MustParseAddr("198.19.1.1"), MTU: 1450, Attachable: true}
	netB = dockerplugin.Network{ID: "wb", Name: "b", Subnet: netip.MustParsePrefix("198.19.2.0/24"), IPRange: netip.MustParsePrefix("198.19.2.128/25"), MTU: 1400, Internal: true, Encrypted: true}
)

func TestCreatesViews(t *testing.T) {
	s, e, w, p := newSync()
	w.nets = []dockerplugin.Network{netA, netB}
	if err := s.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []EngineNetwork{
		{ID: "docker1", Name: "a", Driver: "weft", Attachable: true, Options: map[string]string{"weft.network": "wa", "com.docker.network.driver.mtu": "1450"},
			IPAM: EngineIPAM{Driver: "weft", Config: []EngineIPAMConfig{{Subnet: "198.19.1.0/24", Gateway: "198.19.1.1"}}, Options: map[string]string{"weft.network": "wa"}}},
		{ID: "docker2", Name: "b", Driver: "weft", Internal: true, Options: map[string]string{"weft.network": "wb", "com.docker.network.driver.mtu": "1400", "encrypted": ""},
			IPAM: EngineIPAM{Driver: "weft", Config: []EngineIPAMConfig{{Subnet: "198.19.2.0/24", IPRange: "198.19.2.128/25"}}, Options: map[string]string{"weft.network": "wb"}}},
	}
	if !reflect.DeepEqual(e.nets, want) {
		t.Errorf("engine networks\n got %+v\nwant %+v", e.nets, want)
	}
	if err := s.Once(context.Background()); err != nil { // steady: nothing changes, and the views are learned
		t.Fatal(err)
	}
	if len(e.nets) != 2 || len(e.removed) != 0 {
		t.Errorf("second pass changed the engine: %v, removed %v", e.names(), e.removed)
	}
	if want := map[string]netip.Prefix{"docker1": netA.Subnet, "docker2": netB.Subnet}; !reflect.DeepEqual(p.learned, want) {
		t.Errorf("learned %v; want %v", p.learned, want)
	}
}

func TestRemovesUnbacked(t *testing.T) {
	s, e, w, p := newSync()
	e.nets = []EngineNetwork{
		{ID: "old", Name: "gone", Driver: "weft", IPAM: EngineIPAM{Config: []EngineIPAMConfig{{Subnet: "198.19.9.0/24"}}}},
		{ID: "stale", Name: "a", Driver: "weft", IPAM: EngineIPAM{Config: []EngineIPAMConfig{{Subnet: "198.19.8.0/24"}}}}, // a's former self
		{ID: "new", Name: "made-here", Driver: "weft", Attachable: true, IPAM: EngineIPAM{Config: []EngineIPAMConfig{{Subnet: "198.19.7.0/24"}}}},
		{ID: "later", Name: "not-yet", Driver: "weft", IPAM: EngineIPAM{Config: []EngineIPAMConfig{{Subnet: "198.19.6.0/24"}}}},
	}
	w.nets = []dockerplugin.Network{netA}
	p.pending["new"] = netip.MustParsePrefix("198.19.7.0/24")
	if err := s.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"old", "stale", "later"}; !reflect.DeepEqual(e.removed, want) {
		t.Errorf("removed %v; want %v", e.removed, want)
	}
	if len(w.nets) != 2 || w.nets[1].Name != "made-here" || !w.nets[1].Attachable {
		t.Errorf("weft networks %+v; want a and made-here (attachable)", w.nets)
	}
	if err := s.Once(context.Background()); err != nil { // a's view is made again, with its subnet
		t.Fatal(err)
	}
	if want := []string{"a", "made-here"}; !reflect.DeepEqual(e.names(), want) {
		t.Errorf("engine networks %v; want %v", e.names(), want)
	}
}

func TestRefusedCreateRemoved(t *testing.T) {
	s, e, _, p := newSync()
	e.nets = []EngineNetwork{{ID: "new", Name: "clash", Driver: "weft"}}
	p.pending["new"] = netip.MustParsePrefix("198.19.7.0/24")
	p.failWith = errors.New("network clash already exists")
	if err := s.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(e.nets) != 0 || !reflect.DeepEqual(e.removed, []string{"new"}) {
		t.Errorf("engine networks %v, removed %v; want the refused one removed", e.names(), e.removed)
	}
}

func TestEngineDown(t *testing.T) {
	s, e, w, _ := newSync()
	e.down = errors.New("connection refused")
	w.nets = []dockerplugin.Network{netA}
	var down *engineDown
	if err := s.Once(context.Background()); !errors.As(err, &down) {
		t.Fatalf("Once with the engine down: %v; want an engineDown", err)
	}
	s.step(context.Background())
	if s.up {
		t.Errorf("sync thinks the engine is up")
	}
	e.down = nil
	s.step(context.Background())
	if !s.up || len(e.nets) != 1 {
		t.Errorf("engine back: up %v, networks %v; want up, [a]", s.up, e.names())
	}
}

func TestNewClient(t *testing.T) {
	for _, host := range []string{"tcp://127.0.0.1:2375", "unix://", "/var/run/docker.sock"} {
		if _, err := NewClient(host); err == nil {
			t.Errorf("NewClient(%q) accepted", host)
		}
	}
	if _, err := NewClient("unix:///var/run/docker.sock"); err != nil {
		t.Error(err)
	}
}

func TestFirewall(t *testing.T) {
	s, e, _, _ := newSync()
	calls := 0
	s.cfg.Firewall = func() (bool, error) { calls++; return calls == 1, nil }
	for range firewallEvery + 1 {
		s.step(context.Background())
	}
	if calls != 2 {
		t.Errorf("firewall checked %d times in %d passes; want 2", calls, firewallEvery+1)
	}
	e.down = errors.New("gone")
	s.step(context.Background())
	e.down = nil
	s.step(context.Background()) // back up: checked at once
	if calls != 3 {
		t.Errorf("firewall checked %d times; want 3 after the engine came back", calls)
	}
}
