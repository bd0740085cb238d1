package cluster

import (
	"context"
	"slices"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
)

// storedPeersWait bounds how long a restarted manager waits for its store
// to list the other nodes: its replica fills in once raft has a leader
// again, within a second or two.
const storedPeersWait = 5 * time.Second

// pollTimeout bounds one poll of the managers.
const pollTimeout = 3 * time.Second

// Start sets the node keeping itself in touch with the cluster, in a
// goroutine of its own until Close or Leave: it joins the gossip peers it
// knows, then every PollInterval follows the managers' gossip keys and
// manager list, contacts the members gossip sees as down and calls
// Config.OnState; a leader also rotates the gossip key and the data keys
// when they are due. Call it once the daemon has published its records: a
// restarted node must not meet its peers without them. Start does nothing
// after the first call or after Close.
func (n *Node) Start() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.closed {
		return
	}
	n.started = true
	n.wg.Add(1)
	go n.run()
}

// stopLoop stops the node's goroutine and waits for it.
func (n *Node) stopLoop() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
}

func (n *Node) run() {
	defer n.wg.Done()
	n.joinGossip()
	poll := time.NewTicker(n.cfg.PollInterval)
	defer poll.Stop()
	keys := time.NewTicker(n.cfg.DataKeyCheck)
	defer keys.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-poll.C:
			n.poll()
		case <-n.kick:
			n.poll()
		case <-keys.C:
			n.rotateDataKeys()
		}
	}
}

// joinGossip joins the gossip peers this node knows: those the join gave
// it or, on the first manager, which joined no one, those its store lists.
func (n *Node) joinGossip() {
	n.mu.Lock()
	peers := slices.Clone(n.info.GossipPeers)
	n.mu.Unlock()
	if len(peers) == 0 && n.store != nil {
		peers = n.storedPeers()
	}
	if len(peers) == 0 {
		return
	}
	if _, err := n.agent.Join(peers); err != nil {
		n.log.Warn("gossip join found no peer yet; retrying in the background", "peers", peers, "err", err)
	}
}

// storedPeers waits up to storedPeersWait for this manager's replica to
// list other nodes, and returns their gossip addresses.
func (n *Node) storedPeers() []string {
	deadline := time.Now().Add(storedPeersWait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-n.ctx.Done():
			return nil
		case <-tick.C:
		}
		var peers []string
		n.store.Read(func(s *store.State) { peers = n.gossipPeers(s) })
		if len(peers) > 0 {
			return peers
		}
	}
	return nil
}

// gossipPeers lists the gossip addresses of the nodes other than this one.
func (n *Node) gossipPeers(s *store.State) []string {
	var peers []string
	for _, o := range s.Nodes {
		if o.ID != n.nodeID && o.GossipAddr.IsValid() {
			peers = append(peers, o.GossipAddr.String())
		}
	}
	return peers
}

// poll is one round of the node's upkeep. Contacting the members that
// gossip sees as down merges the two sides of a healed partition, each of
// which declared the other dead; members are known from gossip, from the
// managers' node list (remembered for when they cannot be reached) and
// from the first join.
func (n *Node) poll() {
	n.renewCert()
	ctx, cancel := context.WithTimeout(n.ctx, pollTimeout)
	st, err := n.State(ctx)
	cancel()
	if err == nil {
		n.rotateGossipKey(st)
		keys := n.followGossipKeys(st)
		if managers := n.followManagers(st); keys || managers {
			n.saveInfo()
		}
		n.rememberPeers(st)
		n.followNodeKeys(st)
		if n.cfg.OnState != nil {
			n.cfg.OnState(n, st)
		}
	}
	n.contactDown()
}

// followManagers asks the managers the state lists from now on, and
// reports whether they changed.
func (n *Node) followManagers(st *store.State) bool {
	var managers []string
	for _, o := range st.Nodes {
		if o.Role == pki.RoleManager && o.Addr.IsValid() {
			managers = append(managers, o.Addr.String())
		}
	}
	slices.Sort(managers)
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(managers) == 0 || slices.Equal(managers, n.info.Managers) {
		return false
	}
	n.info.Managers = managers
	n.client.SetManagers(managers)
	return true
}

// saveInfo writes the membership for a restart. Called from the node's
// goroutine only, which is the only one to change it once started.
func (n *Node) saveInfo() {
	n.mu.Lock()
	inf := n.info
	n.mu.Unlock()
	if err := saveFiles(n.cfg.StateDir, inf, identityFiles{}); err != nil {
		n.log.Warn("cluster membership not saved", "err", err)
	}
}

// rememberPeers keeps the other nodes' gossip addresses.
func (n *Node) rememberPeers(st *store.State) {
	known := map[string]string{}
	for _, o := range st.Nodes {
		if o.ID != n.nodeID && o.GossipAddr.IsValid() {
			known[o.ID] = o.GossipAddr.String()
		}
	}
	n.known = known
}

// contactDown asks gossip to join a few members it does not see up.
func (n *Node) contactDown() {
	up := map[string]bool{n.nodeID: true}
	addrs := map[string]bool{}
	for _, m := range n.agent.Members() {
		if m.State == gossip.StateAlive || m.State == gossip.StateSuspect {
			up[m.ID] = true
		} else if m.State != gossip.StateLeft && m.Addr.IsValid() {
			addrs[m.Addr.String()] = true
		}
	}
	for id, addr := range n.known {
		if !up[id] {
			addrs[addr] = true
		}
	}
	// A few at a time: each unreachable address can cost a TCP timeout.
	list := make([]string, 0, 3)
	for a := range addrs {
		if len(list) == cap(list) {
			break
		}
		list = append(list, a)
	}
	if len(list) == 0 {
		return
	}
	if reached, err := n.agent.Join(list); err != nil || reached > 0 {
		n.log.Debug("gossip rejoin", "tried", list, "reached", reached, "err", err)
	}
}

// renewCert renews this node's certificate once a third of its validity
// is left (pki.RenewDue), so that every 2377 handshake keeps working: a
// manager signs the new one itself, with the cluster's certificate
// expiry; a worker asks a manager. A failure is retried at the next poll.
// Connections already open keep working; new ones present the new
// certificate.
func (n *Node) renewCert() {
	_, leaf := n.id.Current()
	if !n.cfg.renewDue(leaf, time.Now()) {
		return
	}
	var cert []byte
	var err error
	if n.ca != nil {
		var expiry time.Duration
		n.store.Read(func(s *store.State) { expiry = s.CertExpiry })
		cert, err = n.ca.Issue(n.nodeID, n.role, leaf.PublicKey, leaf.IPAddresses, expiry)
	} else {
		ctx, cancel := context.WithTimeout(n.ctx, pollTimeout)
		cert, err = n.client.Renew(ctx)
		cancel()
	}
	if err == nil {
		err = n.id.Renew(cert)
	}
	if err == nil {
		n.mu.Lock()
		inf := n.info
		n.mu.Unlock()
		err = saveFiles(n.cfg.StateDir, inf, identityFiles{cert: cert})
	}
	if err != nil {
		n.log.Warn("node certificate not renewed; retrying at the next poll", "expires", leaf.NotAfter, "err", err)
		return
	}
	_, now := n.id.Current()
	n.log.Info("node certificate renewed", "expires", now.NotAfter)
}
