package reconcile

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/gossip/gossiptest"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/encap/encaptest"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/leakcheck"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap/taptest"
	"github.com/weftnet/weft/vtep"
)

// TestMain fails the run if goroutines outlive the tests; memberlist's
// probes in flight end up to a probe interval after Shutdown.
func TestMain(m *testing.M) { leakcheck.Main(m, 10*time.Second) }

// The network every test node has.
var (
	testNet    = Network{ID: "net1", Name: "blue", VNI: 1, Subnet: netip.MustParsePrefix("198.19.1.0/24")}
	testSealed = Network{ID: "net2", Name: "red", VNI: 2, Subnet: netip.MustParsePrefix("198.19.2.0/24"), Encrypted: true}
	gossipKey  = []byte("0123456789abcdef")
)

func testLog() *slog.Logger {
	if os.Getenv("RECONCILE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// lab is an in-memory cluster: gossip over gossiptest, VXLAN over
// encaptest, one taptest device per network and node.
type lab struct {
	t        *testing.T
	gossip   *gossiptest.Network
	underlay *encaptest.Network
}

func newLab(t *testing.T) *lab {
	return &lab{t: t, gossip: &gossiptest.Network{}, underlay: encaptest.NewNetwork()}
}

// tnode is one weftd as far as the reconciler is concerned: a gossip agent,
// an engine with its FDB, the network's TAP, and a Reconciler; and one
// container endpoint on the network, which it publishes.
type tnode struct {
	id     string
	n      int // its number: addresses, MAC, boot
	net    Network
	agent  *gossip.Agent
	eng    *vtep.Engine
	fdb    *fdb.Table
	tap    *taptest.Device
	rec    *Reconciler
	zones  *zones
	stopMu sync.Once

	epMu sync.Mutex    // the reconciler's Advertise publishes too
	ep   gossip.Record // this node's endpoint, as last published
}

// vtepOf returns node n's underlay address: 198.18.0.n:4789.
func vtepOf(n int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(n)}), 4789)
}

// macOf and ipOf are the MAC and address of node n's container.
func macOf(n int) fdb.MAC { return fdb.MAC{0x02, 0, 0, 0, 0, byte(n)} }
func ipOf(net Network, n int) netip.Addr {
	a := net.Subnet.Addr().As4()
	a[3] = byte(10 + n)
	return netip.AddrFrom4(a)
}

// start runs node n (named id) with network net, boot, and its endpoint
// published, joined to the gossip of join (if any). It is stopped at the
// end of the test unless stopped before.
func (l *lab) start(id string, n int, net Network, boot uint64, join ...*tnode) *tnode {
	l.t.Helper()
	nd := &tnode{id: id, n: n, net: net, fdb: fdb.New(), zones: &zones{m: map[string]resolver.Zone{}}}
	conn, err := l.underlay.Listen(vtepOf(n), 64)
	if err != nil {
		l.t.Fatal(err)
	}
	nd.eng = vtep.New(vtep.DefaultConfig(), conn, nd.fdb, metrics.NewRegistry(), testLog())
	nd.eng.Start()
	nd.tap = taptest.New(fmt.Sprintf("%s-%d", net.Name, n), 64)
	if err := nd.eng.AddNetwork(vtep.NetworkConfig{Name: net.Name, VNI: net.VNI, MTU: 1400, Encrypted: net.Encrypted}, nd.tap); err != nil {
		l.t.Fatal(err)
	}
	h := &handler{}
	nd.agent = l.agent(id, n, h)
	nd.rec = New(Config{
		Node: id, Boot: boot, DataAddr: vtepOf(n).Addr(), Records: nd.agent, Plane: nd.eng, Zones: nd.zones,
		Advertise: func(string, uint64) { nd.publish() }, Resync: time.Hour, Log: testLog(),
	})
	h.rec.Store(nd.rec)
	nd.rec.Start()
	nd.rec.Track(net)
	nd.ep = gossip.Record{EndpointID: fmt.Sprintf("ep-%s", id), Network: net.ID, VNI: net.VNI, IP: ipOf(net, n), MAC: macOf(n), VTEP: vtepOf(n), Name: "c" + id, Boot: boot}
	nd.publish()
	nd.agent.SetInterest([]string{net.ID})
	for _, o := range join {
		if _, err := nd.agent.Join([]string{o.agent.LocalNode().Addr.String()}); err != nil {
			l.t.Fatal(err)
		}
	}
	l.t.Cleanup(nd.stop)
	return nd
}

// agent starts node n's gossip agent.
func (l *lab) agent(id string, n int, h gossip.Handler) *gossip.Agent {
	l.t.Helper()
	tr, err := l.gossip.NewTransport(id)
	if err != nil {
		l.t.Fatal(err)
	}
	cfg := gossip.DefaultConfig()
	cfg.NodeID, cfg.Transport, cfg.Keys, cfg.Logger = id, tr, [][]byte{gossipKey}, testLog()
	cfg.Meta = gossip.NodeMeta{Hostname: id, VTEP: vtepOf(n)}
	a, err := gossip.New(cfg, h)
	if err != nil {
		tr.Shutdown()
		l.t.Fatal(err)
	}
	return a
}

// publish gossips the node's endpoint, changed by change if not nil, with
// the key generation its reconciler says it opens, as the daemon does.
func (nd *tnode) publish(change ...func(*gossip.Record)) {
	nd.epMu.Lock()
	defer nd.epMu.Unlock()
	for _, c := range change {
		c(&nd.ep)
	}
	nd.ep.KeyGen = nd.rec.KeyGen(nd.net.ID)
	nd.ep = nd.agent.Publish(nd.ep)
}

// endpoint returns the node's endpoint as last published.
func (nd *tnode) endpoint() gossip.Record {
	nd.epMu.Lock()
	defer nd.epMu.Unlock()
	return nd.ep
}

// stop stops the node as a crash would: its gossip agent goes without a
// word.
func (nd *tnode) stop() {
	nd.stopMu.Do(func() {
		nd.rec.Close()
		_ = nd.agent.Shutdown()
		_ = nd.eng.Close()
	})
}

// handler forwards gossip events to a reconciler, once there is one.
type handler struct{ rec atomic.Pointer[Reconciler] }

func (h *handler) RecordsChanged(network string) {
	if r := h.rec.Load(); r != nil {
		r.Schedule(network)
	}
}

func (h *handler) MemberChanged(gossip.Member) {}

// zones records the zones a reconciler sets.
type zones struct {
	mu sync.Mutex
	m  map[string]resolver.Zone
}

func (z *zones) SetZone(zone resolver.Zone) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.m[zone.ID] = zone
}

func (z *zones) RemoveZone(id string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	delete(z.m, id)
}

// names returns the sorted names of a zone, and whether there is one.
func (z *zones) names(id string) ([]string, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	zone, ok := z.m[id]
	var out []string
	for _, e := range zone.Endpoints {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out, ok
}

// rows returns what nd's FDB holds for its network: MAC → VTEP and IP → MAC.
func (nd *tnode) rows() (map[fdb.MAC]netip.AddrPort, map[netip.Addr]fdb.MAC) {
	d := nd.fdb.DumpVNI(nd.net.VNI)
	macs, ips := map[fdb.MAC]netip.AddrPort{}, map[netip.Addr]fdb.MAC{}
	for _, e := range d.MACs {
		macs[e.MAC] = e.VTEP
	}
	for _, e := range d.IPs {
		ips[e.IP] = e.MAC
	}
	return macs, ips
}

// programmedFor reports whether nd's FDB holds exactly the endpoints of
// others.
func (nd *tnode) programmedFor(others ...*tnode) bool {
	macs, ips := nd.rows()
	if len(macs) != len(others) || len(ips) != len(others) {
		return false
	}
	for _, o := range others {
		ep := o.endpoint()
		if macs[ep.MAC] != ep.VTEP || ips[ep.IP] != ep.MAC {
			return false
		}
	}
	return true
}

// frame returns an Ethernet frame from src to dst carrying id.
func frame(dst, src fdb.MAC, id byte) []byte {
	f := make([]byte, 64)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	f[12], f[13] = 0x88, 0xb5 // IEEE local experimental EtherType
	for i := 14; i < len(f); i++ {
		f[i] = id
	}
	return f
}

// reaches reports whether a frame nd sends to o's container arrives at o's
// TAP, skipping whatever else o's TAP has written (announcements).
func (nd *tnode) reaches(o *tnode, id byte) bool {
	want := frame(o.endpoint().MAC, nd.endpoint().MAC, id)
	nd.tap.Inject(want)
	for {
		got, ok := o.tap.Next(time.Second)
		if !ok {
			return false
		}
		if string(got) == string(want) {
			return true
		}
	}
}

// keysOf returns data keys of the given generations, newest first.
func keysOf(gens ...uint64) []store.Key {
	var ks []store.Key
	for _, g := range gens {
		k := make([]byte, store.NetworkKeyLen)
		for i := range k {
			k[i] = byte(g)
		}
		ks = append(ks, store.Key{Generation: g, Key: k})
	}
	return ks
}
