package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
)

// testManager is one manager on loopback: CA, 2377 listener with the mux,
// a single-node raft store over it, and the manager API.
type testManager struct {
	addr   string
	ca     *pki.CA
	id     *pki.Identity
	store  *store.Store
	tokens map[pki.Role]pki.Token
}

func startManager(t *testing.T) *testManager {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	id := issue(t, ca, "m1", pki.RoleManager)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", id.JoinServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	mux := NewMux(ln, DefaultConfig().UnauthConns, log)
	go mux.Serve()
	tr := NewRaftTransport(mux, id.ClientConfig(), ln.Addr(), io.Discard)
	cfg := store.DefaultConfig()
	cfg.NodeID, cfg.Dir, cfg.Transport, cfg.Bootstrap, cfg.Logger = "m1", t.TempDir(), tr, true, log
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := NewClient(id.ClientConfig(), []string{ln.Addr().String()})
	api := serveAPI(NewManager(st, ca, client, log).Handler(), mux, DefaultConfig().UnauthIdleTimeout)
	t.Cleanup(func() {
		api.shutdown(0)
		_ = st.Close()
		_ = mux.Close()
	})
	if err := st.WaitLeader(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	m := &testManager{addr: ln.Addr().String(), ca: ca, id: id, store: st, tokens: map[pki.Role]pki.Token{}}
	m.addNode(t, "m1", pki.RoleManager)
	for _, role := range []pki.Role{pki.RoleWorker, pki.RoleManager} {
		secret := pki.NewSecret()
		if _, err := st.Apply(store.Command{Op: store.OpRotateSecret, Role: role, Secret: secret}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		m.tokens[role] = pki.Token{Fingerprint: ca.Fingerprint(), Secret: secret}
	}
	return m
}

// addNode records a node in the store, as a join would.
func (m *testManager) addNode(t *testing.T, id string, role pki.Role) {
	t.Helper()
	nextPort++
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), nextPort)
	n := &store.Node{ID: id, Hostname: id, Role: role, Addr: ap, DataAddr: ap, GossipAddr: ap, Joined: time.Unix(0, 0)}
	if _, err := m.store.Apply(store.Command{Op: store.OpAddNode, Node: n}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func issue(t *testing.T, ca *pki.CA, node string, role pki.Role) *pki.Identity {
	t.Helper()
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(node, role, &key.PublicKey, []net.IP{net.IPv4(127, 0, 0, 1)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := pki.MarshalKey(key)
	id, err := pki.NewIdentity(cert, keyPEM, ca.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// nextPort gives each test node its own addresses, as real nodes have.
var nextPort uint16 = 3000

func admitRequest(t *testing.T, node string) AdmitRequest {
	t.Helper()
	nextPort++
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), nextPort)
	return AdmitRequest{NodeID: node, Hostname: node, PublicKey: pub, Addr: ap, DataAddr: ap, GossipAddr: ap}
}

func TestAdmit(t *testing.T) {
	m := startManager(t)
	ctx := context.Background()
	for role, tok := range m.tokens {
		t.Run(string(role), func(t *testing.T) {
			resp, err := Admit(ctx, m.addr, tok, admitRequest(t, "n-"+string(role)))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Role != role {
				t.Fatalf("role: got %s; want %s", resp.Role, role)
			}
			if (resp.CAKeyPEM != nil) != (role == pki.RoleManager) {
				t.Fatalf("CA key handed to a %s: %v; want only to managers", role, resp.CAKeyPEM != nil)
			}
			var found bool
			m.store.Read(func(s *store.State) { _, found = s.Nodes["n-"+string(role)] })
			if !found {
				t.Fatal("the joined node is not in the store")
			}
		})
	}
}

func TestAdmitRefused(t *testing.T) {
	m := startManager(t)
	ctx := context.Background()
	other, _ := pki.NewCA("other")
	cases := []struct {
		name string
		tok  pki.Token
		want string
	}{
		{"wrong secret", pki.Token{Fingerprint: m.ca.Fingerprint(), Secret: pki.NewSecret()}, "invalid join token"},
		{"another cluster's CA", pki.Token{Fingerprint: other.Fingerprint(), Secret: m.tokens[pki.RoleWorker].Secret}, "fingerprint mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Admit(ctx, m.addr, c.tok, admitRequest(t, "intruder"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v; want an error containing %q", err, c.want)
			}
			var found bool
			m.store.Read(func(s *store.State) { _, found = s.Nodes["intruder"] })
			if found {
				t.Fatal("a refused node was recorded")
			}
		})
	}
	t.Run("rotated token", func(t *testing.T) {
		old := m.tokens[pki.RoleWorker]
		if _, err := m.store.Apply(store.Command{Op: store.OpRotateSecret, Role: pki.RoleWorker, Secret: pki.NewSecret()}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := Admit(ctx, m.addr, old, admitRequest(t, "late")); err == nil || !strings.Contains(err.Error(), "rotated") {
			t.Fatalf("got %v; want the rotated token refused", err)
		}
	})
}

// Without a node certificate nothing but join is served, and raft streams
// need a manager's certificate.
func TestNodeCertificateRequired(t *testing.T) {
	m := startManager(t)
	ctx := context.Background()
	anon := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} // a client with no certificate
	err := call(ctx, httpClient(anon), http.MethodGet, m.addr, pathState, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "node certificate") {
		t.Fatalf("state without a certificate: got %v; want refused", err)
	}
	worker := issue(t, m.ca, "w1", pki.RoleWorker)
	m.addNode(t, "w1", pki.RoleWorker)
	c := NewClient(worker.ClientConfig(), []string{m.addr})
	if _, err := c.State(ctx); err != nil {
		t.Fatalf("state with a worker certificate: %v", err)
	}
	if err := c.AddVoter(ctx, "w1", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "only managers") {
		t.Fatalf("voter from a worker: got %v; want refused", err)
	}
	conn, err := dialTagged(ctx, m.addr, worker.ClientConfig(), tagRaft, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, errTimeout(err)) {
		t.Fatalf("raft stream from a worker: got %v; want the manager to close it", err)
	}
}

func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}

// Apply goes through any manager and its refusals come back as such.
func TestApplyThroughClient(t *testing.T) {
	m := startManager(t)
	ctx := context.Background()
	c := NewClient(m.id.ClientConfig(), []string{"127.0.0.1:1", m.addr}) // the first is dead: the client moves on
	var n store.Network
	cmd := store.Command{Op: store.OpCreateNetwork, Network: &store.Network{ID: "n1", Name: "web", Subnet: netip.MustParsePrefix("198.19.9.0/24"), Created: time.Unix(0, 0)}}
	if err := c.Apply(ctx, cmd, &n); err != nil {
		t.Fatal(err)
	}
	if n.VNI < 4096 || n.Name != "web" {
		t.Fatalf("got %+v; want web with a VNI from 4096", n)
	}
	cmd.Network.ID = "n2" // a new network with the same name
	err := c.Apply(ctx, cmd, nil)
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Status != http.StatusConflict || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate network: got %v; want a 409 refusal", err)
	}
	long := &store.Network{ID: "n3", Name: strings.Repeat("w", store.MaxNameLen+1), Subnet: netip.MustParsePrefix("198.19.11.0/24")}
	if err := c.Apply(ctx, store.Command{Op: store.OpCreateNetwork, Network: long}, nil); refusal(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "at most 63") {
		t.Fatalf("a network name over the limit: got %v; want a 400 naming the limit", err)
	}
}

// A worker cannot see the join secrets, change the cluster's membership,
// keys or networks, or touch another node's addresses; a removed node
// loses access.
func TestWorkerAuthority(t *testing.T) {
	m := startManager(t)
	ctx := context.Background()
	m.addNode(t, "w1", pki.RoleWorker)
	c := NewClient(issue(t, m.ca, "w1", pki.RoleWorker).ClientConfig(), []string{m.addr})
	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ManagerSecret != "" || st.WorkerSecret != "" {
		t.Fatal("a worker read the join secrets")
	}
	net := &store.Network{ID: "n1", Name: "web", Subnet: netip.MustParsePrefix("198.19.9.0/24"), Attachable: true, Created: time.Unix(0, 0)}
	refused := []store.Command{
		{Op: store.OpRotateSecret, Role: pki.RoleManager, Secret: pki.NewSecret()},
		{Op: store.OpSetRole, NodeID: "w1", Role: pki.RoleManager},
		{Op: store.OpRemoveNode, NodeID: "m1", Force: true},
		{Op: store.OpAllocate, Allocation: &store.Allocation{EndpointID: "e1", NetworkID: "n1", Node: "m1"}},
		{Op: store.OpCreateNetwork, Network: &store.Network{ID: "n2", Name: "mine", Subnet: netip.MustParsePrefix("198.19.10.0/24"), Created: time.Unix(0, 0)}},
		{Op: store.OpRemoveNetwork, NetworkID: "n1"},
	}
	if _, err := m.store.Apply(store.Command{Op: store.OpCreateNetwork, Network: net}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range refused {
		err := c.Apply(ctx, cmd, nil)
		var r *RefusedError
		if !errors.As(err, &r) || r.Status != http.StatusForbidden {
			t.Errorf("%s from a worker: got %v; want 403", cmd.Op, err)
		}
	}
	own := store.Command{Op: store.OpAllocate, Allocation: &store.Allocation{EndpointID: "e2", NetworkID: "n1", Node: "w1"}}
	if err := c.Apply(ctx, own, nil); err != nil {
		t.Fatalf("a worker allocating for itself: %v", err)
	}
	if _, err := m.store.Apply(store.Command{Op: store.OpRemoveNode, NodeID: "w1", Force: true}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var r *RefusedError
	if _, err := c.State(ctx); !errors.As(err, &r) || r.Status != http.StatusForbidden {
		t.Fatalf("state from a removed node: got %v; want 403", err)
	}
}

// A worker may allocate only on attachable networks, and gets the data
// keys of exactly the encrypted networks it holds an address on.
func TestWorkerNetworkKeys(t *testing.T) {
	m := startManager(t)
	ctx := context.Background()
	m.addNode(t, "w1", pki.RoleWorker)
	mc := NewClient(m.id.ClientConfig(), []string{m.addr})
	for _, n := range []*store.Network{
		{ID: "open", Name: "open", Subnet: netip.MustParsePrefix("198.19.9.0/24"), Attachable: true, Encrypted: true},
		{ID: "closed", Name: "closed", Subnet: netip.MustParsePrefix("198.19.10.0/24"), Encrypted: true},
	} {
		if err := mc.Apply(ctx, store.Command{Op: store.OpCreateNetwork, Network: n}, nil); err != nil {
			t.Fatal(err)
		}
	}
	w := NewClient(issue(t, m.ca, "w1", pki.RoleWorker).ClientConfig(), []string{m.addr})
	keys := func(id string) int {
		t.Helper()
		st, err := w.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(st.Networks[id].Keys)
	}
	alloc := func(ep, network string) error {
		var out json.RawMessage
		err := w.Apply(ctx, store.Command{Op: store.OpAllocate, Allocation: &store.Allocation{EndpointID: ep, NetworkID: network, Node: "w1"}}, &out)
		if bytes.Contains(out, []byte(`"keys"`)) {
			t.Errorf("allocate on %s: the reply carries keys: %s", network, out)
		}
		return err
	}
	if err := alloc("e1", "closed"); refusal(err) != http.StatusForbidden || !strings.Contains(err.Error(), "not attachable") {
		t.Errorf("a worker allocating on a network that is not attachable: got %v; want 403", err)
	}
	for _, id := range []string{"closed", "open"} {
		if got := keys(id); got != 0 {
			t.Errorf("%s's keys in the state a worker reads, with no address on it: got %d; want none", id, got)
		}
	}
	if err := alloc("e2", "open"); err != nil {
		t.Fatalf("a worker allocating on an attachable network: %v", err)
	}
	if got := keys("open"); got != 1 {
		t.Errorf("open's keys in the state a worker reads, with an address on it: got %d; want 1", got)
	}
	if got := keys("closed"); got != 0 {
		t.Errorf("closed's keys in the state a worker reads: got %d; want none", got)
	}
}

// A command a manager forwards on behalf of a worker is authorised where
// it is applied, against the committed state, as that worker: the
// leader refuses a worker's release of another node's address however
// stale the forwarding manager's replica was. A worker cannot claim to
// be another worker.
func TestForwardedWorkerCommand(t *testing.T) {
	m := startManager(t)
	ctx := context.Background()
	for id, role := range map[string]pki.Role{"w1": pki.RoleWorker, "w2": pki.RoleWorker, "m2": pki.RoleManager} {
		m.addNode(t, id, role)
	}
	net := &store.Network{ID: "n1", Name: "web", Subnet: netip.MustParsePrefix("198.19.9.0/24"), Attachable: true, Created: time.Unix(0, 0)}
	for _, c := range []store.Command{
		{Op: store.OpCreateNetwork, Network: net},
		{Op: store.OpAllocate, Allocation: &store.Allocation{EndpointID: "e2", NetworkID: "n1", Node: "w2"}},
	} {
		if _, err := m.store.Apply(c, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// A release of w2's address that must be refused, and leave it held.
	refuse := func(what string, hc *http.Client, body string) {
		t.Helper()
		if err := call(ctx, hc, http.MethodPost, m.addr, pathApply, json.RawMessage(body), nil); refusal(err) != http.StatusForbidden {
			t.Errorf("%s: got %v; want 403", what, err)
		}
		var held bool
		m.store.Read(func(s *store.State) { _, held = s.Allocations["e2"] })
		if !held {
			t.Fatalf("%s freed w2's address", what)
		}
	}
	// As a follower forwards w1's release: with its manager certificate.
	refuse("w1's release of w2's address forwarded by a manager", httpClient(issue(t, m.ca, "m2", pki.RoleManager).ClientConfig()),
		`{"op":"Release","endpoint_id":"e2","worker":"w1"}`)
	// w1 claiming to be w2 is still w1.
	refuse("w1's release of w2's address claiming to be w2", httpClient(issue(t, m.ca, "w1", pki.RoleWorker).ClientConfig()),
		`{"op":"Release","endpoint_id":"e2","worker":"w2"}`)
}
