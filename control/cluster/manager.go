package cluster

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
)

// applyTimeout bounds one raft apply.
const applyTimeout = 10 * time.Second

// Manager serves the manager API of one manager node: it admits joining
// nodes, applies commands to the replicated store (forwarding them to the
// leader when it is not the leader) and answers reads from its replica.
type Manager struct {
	store  *store.Store
	ca     *pki.CA
	client *Client // to the leader, with this manager's certificate
	log    *slog.Logger
	now    func() time.Time
	// afterAdmit, if set, is called with a node's ID once it is recorded,
	// before the answer is written: tests lose the answer there.
	afterAdmit atomic.Pointer[func(nodeID string)]
}

// NewManager returns a manager serving st, admitting nodes with ca, and
// reaching the leader through client.
func NewManager(st *store.Store, ca *pki.CA, client *Client, log *slog.Logger) *Manager {
	return &Manager{store: st, ca: ca, client: client, log: log, now: time.Now}
}

// Handler routes the manager API. Every route but join needs a client
// certificate of the cluster.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathJoin, m.join)
	mux.HandleFunc("POST "+pathApply, m.requireNode(m.apply))
	mux.HandleFunc("POST "+pathVoter, m.requireManager(m.addVoter))
	mux.HandleFunc("POST "+pathVoterRemove, m.requireManager(m.removeVoter))
	mux.HandleFunc("GET "+pathState, m.requireNode(m.state))
	mux.HandleFunc("GET "+pathLeader, m.requireNode(m.leader))
	mux.HandleFunc("POST "+pathRenew, m.requireNode(m.renew))
	return mux
}

func (m *Manager) leader(w http.ResponseWriter, r *http.Request) {
	id, addr := m.store.Leader()
	reply(w, Leader{ID: id, Addr: string(addr)}, nil)
}

func (m *Manager) requireNode(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			writeError(w, http.StatusUnauthorized, errors.New("no TLS"))
			return
		}
		id, _, err := pki.PeerIdentity(*r.TLS)
		if err != nil {
			writeError(w, http.StatusUnauthorized, fmt.Errorf("a node certificate of this cluster is required: %w", err))
			return
		}
		if !m.isMember(id) {
			writeError(w, http.StatusForbidden, fmt.Errorf("node %s is not a member of this cluster (removed?)", id))
			return
		}
		h(w, r)
	}
}

// isMember reports whether a node is in the store. A follower may not have
// applied a join that the leader just committed, so it waits a little for
// replication before it says no.
func (m *Manager) isMember(id string) bool {
	deadline := time.Now().Add(2 * time.Second)
	for {
		var member bool
		m.store.Read(func(s *store.State) { _, member = s.Nodes[id] })
		if member || m.store.IsLeader() || time.Now().After(deadline) {
			return member
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *Manager) requireManager(h http.HandlerFunc) http.HandlerFunc {
	return m.requireNode(func(w http.ResponseWriter, r *http.Request) {
		id, role, _ := pki.PeerIdentity(*r.TLS)
		var recorded pki.Role
		m.store.Read(func(s *store.State) {
			if n, ok := s.Nodes[id]; ok {
				recorded = n.Role
			}
		})
		if role != pki.RoleManager || recorded != pki.RoleManager {
			writeError(w, http.StatusForbidden, errors.New("only managers may do this"))
			return
		}
		h(w, r)
	})
}

// Apply applies a command on the leader, forwarding it there if this
// manager is not the leader, and decodes the result into out (may be nil).
func (m *Manager) Apply(ctx context.Context, c store.Command, out any) error {
	if !m.store.IsLeader() {
		_, addr := m.store.Leader()
		if addr == "" {
			return errNoLeader
		}
		return m.client.At(string(addr)).Apply(ctx, c, out)
	}
	if c.Op == store.OpCreateNetwork && c.Network != nil && c.Network.Encrypted {
		// The leader issues data keys; whatever the requester sent is replaced.
		n := *c.Network
		n.Keys = []store.Key{NewNetworkKey()}
		c.Network = &n
	}
	v, err := m.store.Apply(c, applyTimeout)
	if err != nil {
		return err
	}
	if out == nil || v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

var errNoLeader = errors.New("the cluster has no leader right now; try again")

func (m *Manager) apply(w http.ResponseWriter, r *http.Request) {
	var c store.Command
	if !decodeBody(w, r, &c) {
		return
	}
	id, role, _ := pki.PeerIdentity(*r.TLS)
	if c.Op == store.OpSetNodeKey {
		// A node reports the key its certificate is for, whatever it sent.
		c.NodeID = id
		c.PublicKey, _ = x509.MarshalPKIXPublicKey(r.TLS.PeerCertificates[0].PublicKey)
	}
	if err := onBehalf(&c, id, role); err != nil {
		writeError(w, http.StatusForbidden, err)
		return
	}
	var out json.RawMessage
	err := m.Apply(r.Context(), c, &out)
	reply(w, out, err)
}

// onBehalf marks a command from a worker's connection as that worker's,
// whatever it claimed, so that the store authorises it where it is
// applied, against committed state (store.Command.Worker), and refuses at
// once what no worker may do. A command from a manager keeps the worker it
// names: a manager that forwards a worker's command says whose it is.
func onBehalf(c *store.Command, node string, role pki.Role) error {
	if role == pki.RoleManager {
		return nil
	}
	c.Worker = node
	return store.CheckWorkerOp(node, *c)
}

func (m *Manager) addVoter(w http.ResponseWriter, r *http.Request) {
	m.voterChange(w, r, func(req VoterRequest) error { return m.store.AddVoter(req.NodeID, req.Addr) })
}

func (m *Manager) removeVoter(w http.ResponseWriter, r *http.Request) {
	m.voterChange(w, r, func(req VoterRequest) error { return m.store.RemoveServer(req.NodeID) })
}

// voterChange runs a raft membership change on the leader: here, or by
// forwarding the same request to the leader.
func (m *Manager) voterChange(w http.ResponseWriter, r *http.Request, change func(VoterRequest) error) {
	var req VoterRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if m.store.IsLeader() {
		reply(w, nil, change(req))
		return
	}
	_, addr := m.store.Leader()
	if addr == "" {
		writeError(w, http.StatusServiceUnavailable, errNoLeader)
		return
	}
	reply(w, nil, call(r.Context(), m.client.http, http.MethodPost, string(addr), r.URL.Path, req, nil))
}

// state answers with the leader's state; the join secrets only go to
// managers, so that a worker cannot promote itself.
func (m *Manager) state(w http.ResponseWriter, r *http.Request) {
	st, err := m.State(r.Context())
	if err != nil {
		reply(w, nil, err)
		return
	}
	if id, role, _ := pki.PeerIdentity(*r.TLS); role != pki.RoleManager {
		st.WorkerSecret, st.ManagerSecret = "", ""
		withholdKeys(st, id)
	}
	reply(w, st, nil)
}

// State returns the cluster state as the leader has it, so that a write
// just made through the leader is always seen: this replica's if this
// manager leads, or knows no leader (it is then the best there is), else
// the leader's answer.
func (m *Manager) State(ctx context.Context) (*store.State, error) {
	_, leader := m.store.Leader()
	if m.store.IsLeader() || leader == "" {
		return m.replica(), nil
	}
	return m.client.At(string(leader)).State(ctx)
}

// replica returns a copy of this manager's replica of the state.
func (m *Manager) replica() *store.State {
	var st *store.State
	m.store.Read(func(s *store.State) { st = s.Clone() })
	return st
}

// withholdKeys blanks the data keys of the encrypted networks on which node
// has no address: a worker gets the keys of the networks it has
// containers on, and no others.
func withholdKeys(st *store.State, node string) {
	on := map[string]bool{}
	for _, a := range st.Allocations {
		if a.Node == node {
			on[a.NetworkID] = true
		}
	}
	for id, n := range st.Networks {
		if !on[id] {
			n.Keys = nil
		}
	}
}

// join admits a node that knows a join secret: it issues the node's
// certificate and records the node in the store.
func (m *Manager) join(w http.ResponseWriter, r *http.Request) {
	var req AdmitRequest
	if !decodeBody(w, r, &req) {
		return
	}
	role, err := m.roleFor(req.Secret)
	if err != nil {
		writeError(w, http.StatusUnauthorized, err)
		return
	}
	resp, err := m.admit(r.Context(), req, role)
	if f := m.afterAdmit.Load(); f != nil && err == nil {
		(*f)(req.NodeID)
	}
	reply(w, resp, err)
}

func (m *Manager) roleFor(secret string) (pki.Role, error) {
	var worker, manager string
	m.store.Read(func(s *store.State) { worker, manager = s.WorkerSecret, s.ManagerSecret })
	switch {
	case manager != "" && pki.CheckSecret(secret, manager):
		return pki.RoleManager, nil
	case worker != "" && pki.CheckSecret(secret, worker):
		return pki.RoleWorker, nil
	}
	return "", errors.New("invalid join token: its secret is wrong or has been rotated")
}

// certExpiry is the lifetime of the certificates this manager issues.
func (m *Manager) certExpiry() time.Duration {
	var d time.Duration
	m.store.Read(func(s *store.State) { d = s.CertExpiry })
	return d
}

// renew issues a member a new certificate for the key, role and addresses
// of the one it presents, valid for the cluster's certificate expiry. A
// node whose role in the cluster's records is no longer its certificate's
// must join again. The records asked are the leader's, never a
// follower's replica: a manager that was just removed may never apply its
// own removal, and must not renew its own certificate from it. Without a
// leader nothing is renewed; renewal is due long before expiry.
func (m *Manager) renew(w http.ResponseWriter, r *http.Request) {
	id, role, _ := pki.PeerIdentity(*r.TLS)
	if _, leader := m.store.Leader(); !m.store.IsLeader() && leader == "" {
		writeError(w, http.StatusServiceUnavailable, errNoLeader)
		return
	}
	st, err := m.State(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("the cluster's records cannot be read: %w", err))
		return
	}
	var recorded pki.Role
	if n, ok := st.Nodes[id]; ok {
		recorded = n.Role
	}
	if recorded != role {
		writeError(w, http.StatusForbidden, fmt.Errorf("node %s is a %s in the cluster's records, not a %s: join again", id, recorded, role))
		return
	}
	leaf := r.TLS.PeerCertificates[0]
	cert, err := m.ca.Issue(id, role, leaf.PublicKey, leaf.IPAddresses, m.certExpiry())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	m.log.Info("node certificate renewed", "node", id, "role", role)
	reply(w, RenewResponse{CertPEM: cert}, nil)
}

func (m *Manager) admit(ctx context.Context, req AdmitRequest, role pki.Role) (AdmitResponse, error) {
	pub, err := x509.ParsePKIXPublicKey(req.PublicKey)
	if err != nil {
		return AdmitResponse{}, badInput("invalid public key: %v", err)
	}
	ips := []net.IP{req.Addr.Addr().AsSlice(), req.DataAddr.Addr().AsSlice()}
	cert, err := m.ca.Issue(req.NodeID, role, pub, ips, m.certExpiry())
	if err != nil {
		return AdmitResponse{}, badInput("cannot issue a certificate: %v", err)
	}
	node := &store.Node{ID: req.NodeID, Hostname: req.Hostname, Role: role, Addr: req.Addr, DataAddr: req.DataAddr, GossipAddr: req.GossipAddr, Joined: m.now().UTC(), PublicKey: req.PublicKey}
	if err := m.Apply(ctx, store.Command{Op: store.OpAddNode, Node: node}, nil); err != nil {
		return AdmitResponse{}, err
	}
	resp := AdmitResponse{Role: role, CertPEM: cert, CAPEM: m.ca.CertPEM()}
	if role == pki.RoleManager {
		if resp.CAKeyPEM, err = m.ca.KeyPEM(); err != nil {
			return AdmitResponse{}, err
		}
	}
	m.store.Read(func(s *store.State) {
		for _, n := range s.Nodes {
			if n.Role == pki.RoleManager && n.Addr.IsValid() {
				resp.Managers = append(resp.Managers, n.Addr.String())
			}
			if n.ID != req.NodeID && n.GossipAddr.IsValid() {
				resp.GossipPeers = append(resp.GossipPeers, n.GossipAddr.String())
			}
		}
		resp.GossipKeys = orderKeys(s.GossipKeys, s.GossipPrimary)
	})
	m.log.Info("node joined", "node", req.NodeID, "hostname", req.Hostname, "role", role, "addr", req.Addr)
	return resp, nil
}

// inputErr is a request this manager refuses as malformed.
type inputErr struct{ msg string }

func (e *inputErr) Error() string { return e.msg }

func badInput(format string, args ...any) error { return &inputErr{fmt.Sprintf(format, args...)} }

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid request body: %w", err))
		return false
	}
	return true
}

// reply writes v as JSON, or err with the status its kind calls for.
func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if v == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

func statusOf(err error) int {
	var refused *RefusedError
	var in *inputErr
	switch {
	case errors.As(err, &refused):
		return refused.Status
	case errors.As(err, &in), errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExhausted):
		return http.StatusConflict
	case errors.Is(err, errNoLeader), errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiError{Message: err.Error()})
}

// NewNetworkKey returns a fresh random data key for an encrypted network.
func NewNetworkKey() store.Key {
	k := make([]byte, store.NetworkKeyLen)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on Linux
	return store.Key{Key: k, Created: time.Now().UTC()}
}
