package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
)

// clusterNode is this daemon's membership of a cluster: its identity, the
// client that reaches the managers, its gossip agent, and on managers the
// 2377 listener, the raft store and the manager API.
type clusterNode struct {
	info   clusterInfo
	id     *pki.Identity
	client *cluster.Client
	agent  *gossip.Agent

	// managers only
	ca      *pki.CA
	ln      net.Listener
	mux     *cluster.Mux
	raftTr  *raft.NetworkTransport
	store   *store.Store
	manager *cluster.Manager
	srv     *http.Server
}

// isManager reports whether this node is a manager.
func (c *clusterNode) isManager() bool { return c.info.Role == string(pki.RoleManager) }

// apply sends a command to the leader and decodes its result into out.
func (c *clusterNode) apply(ctx context.Context, cmd store.Command, out any) error {
	if c.manager != nil {
		return c.manager.Apply(ctx, cmd, out)
	}
	return c.client.Do(ctx, http.MethodPost, "/v1/apply", cmd, out)
}

// state fetches the cluster state. It reads the leader's copy, so that a
// write this node just made through the leader is always seen; a manager
// that knows no leader falls back to its own replica.
func (c *clusterNode) state(ctx context.Context) (*store.State, error) {
	if c.store != nil {
		_, leader := c.store.Leader()
		if c.store.IsLeader() || leader == "" {
			var st *store.State
			c.store.Read(func(s *store.State) { st = s.Clone() })
			return st, nil
		}
		st := store.NewState()
		return st, c.client.DoAt(ctx, string(leader), http.MethodGet, "/v1/state", nil, st)
	}
	st := store.NewState()
	return st, c.client.Do(ctx, http.MethodGet, "/v1/state", nil, st)
}

// close stops the node's cluster side; with leave it first leaves gossip
// gracefully so that others withdraw its endpoints at once.
func (c *clusterNode) close(leave bool) {
	if c.agent != nil {
		if leave {
			_ = c.agent.Leave(2 * time.Second)
		}
		_ = c.agent.Shutdown()
	}
	if c.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.srv.Shutdown(ctx)
		cancel()
	}
	if c.store != nil {
		_ = c.store.Close()
	}
	if c.raftTr != nil {
		_ = c.raftTr.Close()
	}
	if c.mux != nil {
		_ = c.mux.Close()
	}
}

// startManager opens the 2377 listener, the raft store and the manager API.
func (d *Daemon) startManager(c *clusterNode, bootstrap bool) error {
	ln, err := tls.Listen("tcp", c.info.Listen, c.id.JoinServerConfig())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.info.Listen, err)
	}
	c.ln = ln
	c.mux = cluster.NewMux(ln, d.log)
	go c.mux.Serve()
	adv := net.TCPAddrFromAddrPort(c.info.Advertise)
	c.raftTr = cluster.NewRaftTransport(c.mux, c.id.ClientConfig(), adv, slogWriter{d.log})
	scfg := store.DefaultConfig()
	scfg.NodeID, scfg.Dir, scfg.Transport, scfg.Bootstrap, scfg.Logger = c.info.NodeID, filepath.Join(d.cfg.StateDir, "raft"), c.raftTr, bootstrap, d.log
	if c.store, err = store.Open(scfg); err != nil {
		c.close(false)
		return fmt.Errorf("open the cluster store: %w", err)
	}
	c.manager = cluster.NewManager(c.store, c.ca, c.client, d.log)
	c.srv = &http.Server{Handler: c.manager.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(c.mux.API()) }()
	return nil
}

// startGossip runs the gossip agent and joins the peers it knows.
func (d *Daemon) startGossip(c *clusterNode) error {
	cfg := d.cfg.Gossip
	cfg.NodeID = c.info.NodeID
	cfg.BindAddr = c.info.Advertise.Addr().String()
	cfg.BindPort = int(d.cfg.GossipPort)
	cfg.AdvertiseAddr, cfg.AdvertisePort = cfg.BindAddr, cfg.BindPort
	hostname, _ := os.Hostname()
	cfg.Meta = gossip.NodeMeta{Role: c.info.Role, VTEP: d.dataAddr, Hostname: hostname}
	cfg.Keys = c.info.GossipKeys
	cfg.Logger = d.log
	agent, err := gossip.New(cfg, gossipHandler{d})
	if err != nil {
		return fmt.Errorf("start gossip on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	c.agent = agent
	return nil
}

// joinGossip joins the gossip peers this node knows. It is separate from
// startGossip so that a restarted node publishes its records first.
func (d *Daemon) joinGossip(c *clusterNode) {
	if len(c.info.GossipPeers) == 0 {
		if c.store != nil {
			go d.joinStoredPeers(c) // the first manager joined no one; its store knows the others
		}
		return
	}
	if _, err := c.agent.Join(c.info.GossipPeers); err != nil {
		d.log.Warn("gossip join found no peer yet; retrying in the background", "peers", c.info.GossipPeers, "err", err)
	}
}

// releaseOrphans gives back the addresses of cluster attachments that
// disappeared while weftd was down.
func (d *Daemon) releaseOrphans(c *clusterNode) {
	d.mu.Lock()
	orphans := d.orphans
	d.orphans = nil
	d.mu.Unlock()
	for _, id := range orphans {
		d.release(c, id)
	}
}

// dropClusterNetworks tears down copies of cluster networks when this node
// is in no cluster (it left, and crashed before saving that).
func (d *Daemon) dropClusterNetworks() {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed := false
	for name, n := range d.st.Networks {
		if n.Cluster {
			delete(d.st.Networks, name)
			d.stopNetwork(n)
			changed = true
		}
	}
	if changed {
		_ = d.save()
	}
}

// ClusterInit makes this node the first manager of a new cluster.
func (d *Daemon) ClusterInit(ctx context.Context, req api.ClusterInit) (api.ClusterInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkJoinable(req.DataPathAddr, req.DataPathPort); err != nil {
		return api.ClusterInfo{}, err
	}
	info, err := d.newClusterInfo(req.AdvertiseAddr, req.ListenAddr, string(pki.RoleManager))
	if err != nil {
		return api.ClusterInfo{}, err
	}
	ca, err := pki.NewCA(randomID()[:25])
	if err != nil {
		return api.ClusterInfo{}, err
	}
	files, id, err := d.selfIssue(ca, info)
	if err != nil {
		return api.ClusterInfo{}, err
	}
	gossipKey := make([]byte, 32)
	_, _ = rand.Read(gossipKey)
	info.GossipKeys = [][]byte{gossipKey}
	c := &clusterNode{info: info, id: id, ca: ca, client: cluster.NewClient(id.ClientConfig(), []string{info.Advertise.String()})}
	if err := d.startManager(c, true); err != nil {
		return api.ClusterInfo{}, err
	}
	tokens, err := d.seedCluster(ctx, c, req, gossipKey)
	if err == nil {
		err = d.startGossip(c)
	}
	if err == nil {
		err = d.saveCluster(c.info, files)
	}
	if err != nil {
		c.close(false)
		_ = os.RemoveAll(filepath.Join(d.cfg.StateDir, "raft"))
		return api.ClusterInfo{}, err
	}
	d.cl = c
	d.log.Info("cluster initialized", "node", info.NodeID, "advertise", info.Advertise)
	return api.ClusterInfo{NodeID: info.NodeID, Role: info.Role, Managers: c.info.Managers, WorkerToken: tokens[0], ManagerToken: tokens[1]}, nil
}

// seedCluster writes the first entries of a new cluster: its address pool,
// the join secrets, the gossip key and this node. It returns the worker and
// manager tokens.
func (d *Daemon) seedCluster(ctx context.Context, c *clusterNode, req api.ClusterInit, gossipKey []byte) ([2]string, error) {
	var tokens [2]string
	if err := c.store.WaitLeader(10 * time.Second); err != nil {
		return tokens, err
	}
	secrets := [2]string{pki.NewSecret(), pki.NewSecret()}
	cmds := []store.Command{
		{Op: store.OpRotateSecret, Role: string(pki.RoleWorker), Secret: secrets[0]},
		{Op: store.OpRotateSecret, Role: string(pki.RoleManager), Secret: secrets[1]},
		{Op: store.OpAddGossipKey, Key: &store.Key{Key: gossipKey, Created: time.Now().UTC()}},
		{Op: store.OpAddNode, Node: d.selfNode(c)},
	}
	if req.DefaultAddrPool != "" {
		pool, err := netip.ParsePrefix(req.DefaultAddrPool)
		if err != nil {
			return tokens, badRequest("invalid --default-addr-pool %q: %v", req.DefaultAddrPool, err)
		}
		size := req.PoolMaskLen
		if size == 0 {
			size = 24
		}
		cmds = append([]store.Command{{Op: store.OpSetDefaultPool, Pool: pool, PoolSize: size}}, cmds...)
	}
	for _, cmd := range cmds {
		if err := c.apply(ctx, cmd, nil); err != nil {
			return tokens, err
		}
	}
	fp := c.ca.Fingerprint()
	return [2]string{pki.Token{Fingerprint: fp, Secret: secrets[0]}.String(), pki.Token{Fingerprint: fp, Secret: secrets[1]}.String()}, nil
}

func (d *Daemon) selfNode(c *clusterNode) *store.Node {
	hostname, _ := os.Hostname()
	return &store.Node{
		ID: c.info.NodeID, Hostname: hostname, Role: c.info.Role, Addr: c.info.Advertise, DataAddr: d.dataAddr,
		GossipAddr: netip.AddrPortFrom(c.info.Advertise.Addr(), d.cfg.GossipPort), Joined: time.Now().UTC(),
	}
}

// checkJoinable says why this node cannot start or join a cluster now, if
// it cannot. The caller holds d.mu.
func (d *Daemon) checkJoinable(dataAddr string, dataPort int) error {
	if d.cl != nil {
		return conflict("this node is already part of a cluster; leave it first")
	}
	return d.checkDataPath(dataAddr, dataPort)
}

// checkDataPath accepts --data-path-addr and --data-path-port on init and
// join when they name the data path weftd already uses: weftd binds it when
// it starts, and moving it while networks carry traffic is not supported.
func (d *Daemon) checkDataPath(addr string, port int) error {
	if addr != "" {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return badRequest("invalid --data-path-addr %q: %v", addr, err)
		}
		if a.Unmap() != d.dataAddr.Addr() {
			return badRequest("--data-path-addr %s differs from weftd's data path %s; restart weftd with --data-path-addr %s", a, d.dataAddr.Addr(), a)
		}
	}
	if port != 0 && port != int(d.dataAddr.Port()) {
		return badRequest("--data-path-port %d differs from weftd's data path port %d; restart weftd with --data-path-port %d", port, d.dataAddr.Port(), port)
	}
	return nil
}

// newClusterInfo checks the addresses of an init or join.
func (d *Daemon) newClusterInfo(advertise, listen, role string) (clusterInfo, error) {
	info := clusterInfo{NodeID: randomID()[:25], Role: role, Listen: listen}
	adv, err := parseHostPort(advertise, d.dataAddr.Addr(), 2377)
	if err != nil {
		return info, badRequest("invalid --advertise-addr %q: %v", advertise, err)
	}
	info.Advertise = adv
	if info.Listen == "" {
		info.Listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(int(adv.Port())))
	}
	info.Managers = []string{adv.String()}
	return info, nil
}

// parseHostPort reads IP or IP:PORT, filling in what is missing.
func parseHostPort(s string, ip netip.Addr, port uint16) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPortFrom(ip, port), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, errors.New("want IP or IP:PORT")
	}
	return netip.AddrPortFrom(a, port), nil
}

// selfIssue makes this node's key and a certificate signed by ca.
func (d *Daemon) selfIssue(ca *pki.CA, info clusterInfo) (clusterFiles, *pki.Identity, error) {
	key, err := pki.NewNodeKey()
	if err != nil {
		return clusterFiles{}, nil, err
	}
	cert, err := ca.Issue(info.NodeID, pki.Role(info.Role), &key.PublicKey, []net.IP{info.Advertise.Addr().AsSlice(), d.dataAddr.Addr().AsSlice()})
	if err != nil {
		return clusterFiles{}, nil, err
	}
	f := clusterFiles{cert: cert, ca: ca.CertPEM()}
	if f.key, err = pki.MarshalKey(key); err != nil {
		return f, nil, err
	}
	if f.caKey, err = ca.KeyPEM(); err != nil {
		return f, nil, err
	}
	id, err := pki.NewIdentity(f.cert, f.key, f.ca)
	return f, id, err
}

// ClusterJoin joins the cluster that a token names, through one manager.
func (d *Daemon) ClusterJoin(ctx context.Context, req api.ClusterJoin) (api.ClusterInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkJoinable(req.DataPathAddr, req.DataPathPort); err != nil {
		return api.ClusterInfo{}, err
	}
	token, err := pki.ParseToken(req.Token)
	if err != nil {
		return api.ClusterInfo{}, badRequest("%v", err)
	}
	info, err := d.newClusterInfo(req.AdvertiseAddr, req.ListenAddr, "")
	if err != nil {
		return api.ClusterInfo{}, err
	}
	key, err := pki.NewNodeKey()
	if err != nil {
		return api.ClusterInfo{}, err
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	hostname, _ := os.Hostname()
	resp, err := cluster.Join(ctx, req.RemoteAddr, token, cluster.JoinRequest{
		NodeID: info.NodeID, Hostname: hostname, PublicKey: pub, Addr: info.Advertise, DataAddr: d.dataAddr,
		GossipAddr: netip.AddrPortFrom(info.Advertise.Addr(), d.cfg.GossipPort),
	})
	if err != nil {
		return api.ClusterInfo{}, badRequest("join %s: %v", req.RemoteAddr, err)
	}
	if ca, err := pki.ParseCertPEM(resp.CAPEM); err != nil || pki.Fingerprint(ca) != token.Fingerprint {
		return api.ClusterInfo{}, badRequest("join %s: the manager sent a CA that is not the one the token names", req.RemoteAddr)
	}
	c, files, err := d.joined(info, key, resp, req.RemoteAddr)
	if err == nil {
		if err = d.saveCluster(c.info, files); err != nil {
			c.close(true)
		}
	}
	if err != nil {
		if c != nil {
			d.undoJoin(c, req.RemoteAddr)
		}
		return api.ClusterInfo{}, err
	}
	d.cl = c
	d.log.Info("joined cluster", "node", info.NodeID, "role", c.info.Role, "managers", c.info.Managers)
	return api.ClusterInfo{NodeID: info.NodeID, Role: c.info.Role, Managers: c.info.Managers}, nil
}

// joined builds the cluster node from a join response: identity, manager
// side if it joined as a manager, gossip. Once the node has an identity, it
// is returned even with an error, so that the caller can undo the join.
func (d *Daemon) joined(info clusterInfo, key *ecdsa.PrivateKey, resp cluster.JoinResponse, joinedVia string) (*clusterNode, clusterFiles, error) {
	info.Role, info.Managers, info.GossipPeers, info.GossipKeys = resp.Role, resp.Managers, resp.GossipPeers, resp.GossipKeys
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		return nil, clusterFiles{}, err
	}
	files := clusterFiles{cert: resp.CertPEM, key: keyPEM, ca: resp.CAPEM, caKey: resp.CAKeyPEM}
	id, err := pki.NewIdentity(files.cert, files.key, files.ca)
	if err != nil {
		return nil, files, fmt.Errorf("the certificate the cluster issued: %w", err)
	}
	c := &clusterNode{info: info, id: id, client: cluster.NewClient(id.ClientConfig(), info.Managers)}
	if c.isManager() {
		if c.ca, err = pki.LoadCA(files.ca, files.caKey); err != nil {
			return nil, files, err
		}
		if err := d.startManager(c, false); err != nil {
			return c, files, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Ask the manager that admitted us: it has recorded this node.
		if err := c.client.DoAt(ctx, joinedVia, http.MethodPost, "/v1/voter", cluster.VoterRequest{NodeID: info.NodeID, Addr: info.Advertise.String()}, nil); err != nil {
			c.close(false)
			return c, files, fmt.Errorf("become a raft voter: %w", err)
		}
	}
	if err := d.startGossip(c); err != nil {
		c.close(false)
		return c, files, err
	}
	d.joinGossip(c)
	return c, files, nil
}

// resumeCluster brings a node that was in a cluster back after a restart.
func (d *Daemon) resumeCluster() error {
	info, files, err := d.loadCluster()
	if err != nil || info == nil {
		return err
	}
	id, err := pki.NewIdentity(files.cert, files.key, files.ca)
	if err != nil {
		return fmt.Errorf("cluster identity: %w", err)
	}
	c := &clusterNode{info: *info, id: id, client: cluster.NewClient(id.ClientConfig(), info.Managers)}
	if c.isManager() {
		if c.ca, err = pki.LoadCA(files.ca, files.caKey); err != nil {
			return err
		}
		if err := d.startManager(c, false); err != nil {
			return err
		}
	}
	if err := d.startGossip(c); err != nil {
		c.close(false)
		return err
	}
	d.cl = c
	d.log.Info("cluster membership resumed", "node", info.NodeID, "role", info.Role)
	return nil
}

// undoJoin asks the manager that admitted this node to forget it again,
// after the join failed on this side, so that no node that never ran stays
// listed Down. If that fails, the node has to be removed with node rm.
func (d *Daemon) undoJoin(c *clusterNode, via string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.isManager() {
		// It may not have become a voter: an error here is expected then.
		_ = c.client.DoAt(ctx, via, http.MethodPost, "/v1/voter/remove", cluster.VoterRequest{NodeID: c.info.NodeID}, nil)
	}
	err := c.client.DoAt(ctx, via, http.MethodPost, "/v1/apply", store.Command{Op: store.OpRemoveNode, NodeID: c.info.NodeID}, nil)
	if err != nil {
		d.log.Warn("the failed join left this node in the cluster's records; remove it with 'weft node rm'", "node", c.info.NodeID, "err", err)
		return
	}
	d.log.Info("failed join undone: the cluster forgot this node", "node", c.info.NodeID)
}

// slogWriter lets raft's transport log through slog at debug level.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("raft transport", "msg", string(p))
	return len(p), nil
}

// JoinToken returns a role's join token, rotating its secret first if asked.
// Only managers hand out tokens.
func (d *Daemon) JoinToken(ctx context.Context, req api.JoinToken) (api.JoinToken, error) {
	d.mu.Lock()
	c := d.cl
	d.mu.Unlock()
	switch {
	case c == nil:
		return req, errNoCluster()
	case !c.isManager():
		return req, badRequest("this node is not a manager: ask a manager for join tokens")
	case req.Role != string(pki.RoleWorker) && req.Role != string(pki.RoleManager):
		return req, badRequest("unknown role %q: want worker or manager", req.Role)
	}
	if req.Rotate {
		if err := c.apply(ctx, store.Command{Op: store.OpRotateSecret, Role: req.Role, Secret: pki.NewSecret()}, nil); err != nil {
			return req, err
		}
	}
	st, err := c.state(ctx)
	if err != nil {
		return req, err
	}
	secret := st.WorkerSecret
	if req.Role == string(pki.RoleManager) {
		secret = st.ManagerSecret
	}
	req.Token = pki.Token{Fingerprint: c.ca.Fingerprint(), Secret: secret}.String()
	return req, nil
}

// ClusterLeave takes this node out of its cluster. It refuses while
// containers are attached to cluster networks here, and a manager needs
// --force (the cluster may lose its quorum).
func (d *Daemon) ClusterLeave(req api.ClusterLeave) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.cl
	if c == nil {
		return errNoCluster()
	}
	for _, n := range d.st.Networks {
		if n.Cluster && len(n.Endpoints) > 0 {
			return conflict("containers are attached to cluster network %s here: %s; detach them first", n.Name, endpointList(n))
		}
	}
	if c.isManager() && !req.Force {
		return conflict("this node is a manager; leaving may cost the cluster its quorum: use --force")
	}
	if err := d.deregister(c); err != nil && !req.Force {
		return fmt.Errorf("leave: %w (use --force to leave anyway)", err)
	}
	c.close(true)
	for name, n := range d.st.Networks {
		if n.Cluster {
			delete(d.st.Networks, name)
			d.stopNetwork(n)
		}
	}
	d.cl = nil
	if err := d.save(); err != nil {
		return err
	}
	_ = os.RemoveAll(d.clusterDir())
	_ = os.RemoveAll(filepath.Join(d.cfg.StateDir, "raft"))
	d.log.Info("left the cluster", "node", c.info.NodeID)
	return nil
}

// deregister asks the managers to forget this node: out of raft first if
// it is a manager (while its certificate still counts), then out of the
// node list, so that it can join again later from the same address.
func (d *Daemon) deregister(c *clusterNode) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.isManager() {
		if err := c.client.Do(ctx, http.MethodPost, "/v1/voter/remove", cluster.VoterRequest{NodeID: c.info.NodeID}, nil); err != nil {
			return fmt.Errorf("leave raft: %w", err)
		}
	}
	return c.client.Do(ctx, http.MethodPost, "/v1/apply", store.Command{Op: store.OpRemoveNode, NodeID: c.info.NodeID}, nil)
}

// RemoveNode removes a node from the cluster's records (and from raft if
// it is a manager) and frees its addresses. A node that is still up needs
// force.
func (d *Daemon) RemoveNode(ctx context.Context, id string, force bool) error {
	d.mu.Lock()
	c := d.cl
	d.mu.Unlock()
	nodes, err := d.Nodes(ctx)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.ID != id {
			continue
		}
		if n.Status == "Ready" && !force {
			return conflict("node %s is Ready: stop it first, or use --force", id)
		}
		if n.Self {
			return conflict("node %s is this node: use 'weft cluster leave'", id)
		}
		if n.Role == string(pki.RoleManager) {
			if err := c.client.Do(ctx, http.MethodPost, "/v1/voter/remove", cluster.VoterRequest{NodeID: id}, nil); err != nil {
				return fmt.Errorf("remove %s from raft: %w", id, err)
			}
		}
		return c.apply(ctx, store.Command{Op: store.OpRemoveNode, NodeID: id, Force: true}, nil)
	}
	return notFound("node %s not found", id)
}
