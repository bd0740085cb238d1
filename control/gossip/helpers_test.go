package gossip

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/weftnet/weft/control/gossip/gossiptest"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/poll"
)

// testKey is the gossip key test clusters share unless a test says otherwise.
var testKey = []byte("0123456789abcdef")

// testLogger discards logs unless GOSSIP_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("GOSSIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testCluster starts agents on one in-memory network.
type testCluster struct {
	tb       testing.TB
	net      *gossiptest.Network
	cfg      func(*Config) // applied to every agent's config, may be nil
	networks []string      // what every agent has (SetInterest) when it starts
}

// newTestCluster returns a cluster whose agents have networks n1 and n2.
func newTestCluster(tb testing.TB, cfg func(*Config)) *testCluster {
	return &testCluster{tb: tb, net: &gossiptest.Network{}, cfg: cfg, networks: []string{"n1", "n2"}}
}

// start runs an agent with DefaultConfig timings, testKey, the cluster's
// networks, and a recorder as Handler. It is shut down when the test ends.
func (c *testCluster) start(id string, opts ...func(*Config)) (*Agent, *recorder) {
	c.tb.Helper()
	rec := &recorder{}
	return c.startWith(id, rec, opts...), rec
}

func (c *testCluster) startWith(id string, h Handler, opts ...func(*Config)) *Agent {
	c.tb.Helper()
	tr, err := c.net.NewTransport(id)
	if err != nil {
		c.tb.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.Transport = tr
	cfg.Keys = [][]byte{testKey}
	cfg.Logger = testLogger()
	cfg.Meta = NodeMeta{Role: pki.RoleWorker, Hostname: id, VTEP: netip.AddrPortFrom(tr.Addr().Addr(), 4789)}
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := New(cfg, h)
	if err != nil {
		tr.Shutdown()
		c.tb.Fatalf("start %s: %v", id, err)
	}
	c.tb.Cleanup(func() { a.Shutdown() })
	a.SetInterest(c.networks)
	return a
}

// addr returns the gossip address of a node, for Join.
func (c *testCluster) addr(id string) string {
	a, ok := c.net.Addr(id)
	if !ok {
		c.tb.Fatalf("no address for %s", id)
	}
	return a.String()
}

// startJoined starts agents with the given IDs, joins them all through the
// first, and waits until each sees all of them alive.
func (c *testCluster) startJoined(ids ...string) ([]*Agent, []*recorder) {
	c.tb.Helper()
	agents := make([]*Agent, len(ids))
	recs := make([]*recorder, len(ids))
	for i, id := range ids {
		agents[i], recs[i] = c.start(id)
		if i > 0 {
			if _, err := agents[i].Join([]string{c.addr(ids[0])}); err != nil {
				c.tb.Fatal(err)
			}
		}
	}
	waitAlive(c.tb, agents, len(ids))
	return agents, recs
}

// waitAlive waits until every agent sees n members alive.
func waitAlive(tb testing.TB, agents []*Agent, n int) {
	tb.Helper()
	poll.Until(tb, 10*time.Second, fmt.Sprintf("%d agents to see %d members alive", len(agents), n), func() bool {
		for _, a := range agents {
			if countState(a, StateAlive) != n {
				return false
			}
		}
		return true
	})
}

func countState(a *Agent, s MemberState) int {
	n := 0
	for _, m := range a.Members() {
		if m.State == s {
			n++
		}
	}
	return n
}

// hasVisible reports whether a lists a record with the given ID and version
// (any version if 0) in network.
func hasVisible(a *Agent, network, id string, version uint64) bool {
	for _, r := range a.Records(network) {
		if r.EndpointID == id && (version == 0 || r.Version == version) {
			return true
		}
	}
	return false
}

// testRecord returns a plausible record for endpoint i of a network.
func testRecord(network, id string, i int) Record {
	return Record{
		EndpointID: id,
		Network:    network,
		VNI:        4096,
		IP:         netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}),
		MAC:        fdb.MAC{0x02, 0x42, 0xc6, 0x13, byte(i >> 8), byte(i)},
		VTEP:       netip.MustParseAddrPort("198.18.0.1:4789"),
		Name:       "c" + id,
		Aliases:    []string{"web", "web." + id},
		Boot:       uint64(i) + 7,
		KeyGen:     uint64(i % 3),
	}
}

// recorder is a Handler that remembers its calls.
type recorder struct {
	mu      sync.Mutex
	nets    map[string]int
	members []Member
}

func (r *recorder) RecordsChanged(network string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nets == nil {
		r.nets = make(map[string]int)
	}
	r.nets[network]++
}

func (r *recorder) MemberChanged(m Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members = append(r.members, m)
}

// recordsCalls returns how many RecordsChanged calls named network.
func (r *recorder) recordsCalls(network string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nets[network]
}

// sawMember reports whether MemberChanged was called for id in state s.
func (r *recorder) sawMember(id string, s MemberState) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.members {
		if m.ID == id && m.State == s {
			return true
		}
	}
	return false
}

// memberCalls returns a copy of the MemberChanged calls so far.
func (r *recorder) memberCalls() []Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Member(nil), r.members...)
}

// ahead returns a version made 30 s ahead of now, as a node whose clock
// runs ahead (or an earlier run of this one) could have made: newer than
// anything made now, within MaxClockSkew.
func ahead() uint64 { return uint64(time.Now().Add(30 * time.Second).UnixNano()) }
