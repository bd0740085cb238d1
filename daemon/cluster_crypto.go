package daemon

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/store"
	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/vtep"
)

// Encrypted networks. The managers keep each one's data keys, newest first,
// three generations at most (store.Network.Keys), and the leader adds one
// every DataKeyRotation. Every node fetches them every second while it has
// an encrypted network (keyLoop), and says in its endpoint records which
// generation it can open (Record.KeyGen) and which run of weftd it is
// (Record.Boot).
//
// Each direction between two runs of two nodes has its own SA per
// generation, derived from the network key (crypto.Derive) for the
// identities "NODE/BOOT": a restarted weftd never reuses a key with a
// sequence number it already used. A node opens every generation it holds,
// and seals for a peer with the newest generation both hold, so a sender
// moves to a new generation only once its peer can open it.

// MinDataKeyRotation is the shortest data key rotation period weftd
// accepts: nodes fetch keys every second, and three generations stay live.
const MinDataKeyRotation = 3 * time.Second

// keyPoll is how often a node with an encrypted network fetches its keys.
const keyPoll = time.Second

// saKey names one SA of a network.
type saKey struct {
	out      bool
	from, to string // "NODE/BOOT"
	gen      uint64
}

// saEntry is one SA and what an operator needs to decrypt its traffic.
type saEntry struct {
	outbound *wcrypto.Outbound
	inbound  *wcrypto.Inbound
	spi      uint32
	key      [wcrypto.KeyLen]byte
	src, dst netip.Addr
	gen      uint64
}

// identity is how a run of a node appears in key derivation.
func identity(node string, boot uint64) string { return node + "/" + strconv.FormatUint(boot, 16) }

// keyLoop keeps this node's data keys current, and on the leader rotates
// them, every keyPoll, until stop closes.
func (d *Daemon) keyLoop(stop <-chan struct{}) { every(stop, keyPoll, d.followKeys) }

// followKeys is one round of keyLoop.
func (d *Daemon) followKeys() {
	d.mu.Lock()
	c, need := d.cl, false
	for _, n := range d.st.Networks {
		need = need || n.Encrypted
	}
	d.mu.Unlock()
	if c == nil || !need && (c.store == nil || !c.store.IsLeader()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	st, err := c.state(ctx)
	cancel()
	if err != nil {
		d.log.Debug("data keys not fetched", "err", err)
		return
	}
	d.rotateDataKeys(c, st)
	d.syncDataKeys(c, st)
}

// rotateDataKeys adds a key to every encrypted network whose newest key is
// older than the rotation period, when this node is the leader.
func (d *Daemon) rotateDataKeys(c *clusterNode, st *store.State) {
	if c.store == nil || !c.store.IsLeader() || d.cfg.DataKeyRotation <= 0 {
		return
	}
	for _, n := range st.Networks {
		if !n.Encrypted || len(n.Keys) > 0 && time.Since(n.Keys[0].Created) < d.cfg.DataKeyRotation {
			continue
		}
		k := cluster.NewNetworkKey()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.apply(ctx, store.Command{Op: store.OpAddNetworkKey, NetworkID: n.ID, Key: &k}, nil)
		cancel()
		if err != nil {
			d.log.Warn("data key not rotated", "network", n.Name, "err", err)
			continue
		}
		d.log.Info("data key rotated", "network", n.Name)
	}
}

// syncDataKeys takes the managers' keys of this node's encrypted networks;
// for a network whose keys changed, it publishes the generation it can now
// open and reprograms the network's SAs.
func (d *Daemon) syncDataKeys(c *clusterNode, st *store.State) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != c {
		return
	}
	for _, n := range d.st.Networks {
		cn, ok := st.Networks[n.ID]
		if !n.Encrypted || !ok || sameGenerations(d.netKeys[n.ID], cn.Keys) {
			continue
		}
		d.netKeys[n.ID] = slices.Clone(cn.Keys)
		for _, ep := range n.Endpoints {
			d.publish(c, n, ep)
		}
		d.scheduleReconcile(n.ID)
		d.log.Info("data keys updated", "network", n.Name, "newest", cn.Keys[0].Generation, "generations", len(cn.Keys))
	}
}

func sameGenerations(a, b []store.Key) bool {
	return slices.EqualFunc(a, b, func(x, y store.Key) bool { return x.Generation == y.Generation })
}

// newestGen returns the newest key generation held for a network, 0 if
// none. The caller holds d.mu.
func (d *Daemon) newestGen(networkID string) uint64 {
	if keys := d.netKeys[networkID]; len(keys) > 0 {
		return keys[0].Generation
	}
	return 0
}

// installSAs programs an encrypted network's SAs from the records of its
// other nodes: for each peer VTEP, one Inbound per generation this node
// holds, and one Outbound with the newest generation both hold. SAs that
// live on are the same objects as before. Called from the reconciler only.
func (d *Daemon) installSAs(c *clusterNode, n *netState, recs []gossip.Record) {
	d.mu.Lock()
	keys := slices.Clone(d.netKeys[n.ID])
	d.mu.Unlock()
	self := identity(c.info.NodeID, d.boot)
	peers := map[netip.AddrPort]gossip.Record{}
	for _, r := range recs {
		if r.Node != c.info.NodeID {
			peers[r.VTEP] = r
		}
	}
	prev := d.sas[n.ID]
	next := map[saKey]*saEntry{}
	crypt := vtep.Crypto{Out: map[netip.AddrPort]*wcrypto.Outbound{}}
	for vtepAddr, r := range peers {
		peer := identity(r.Node, r.Boot)
		for _, k := range keys {
			e := d.sa(prev, next, saKey{false, peer, self, k.Generation}, k.Key, n.ID, r.VTEP.Addr(), d.dataAddr.Addr())
			if e != nil {
				crypt.In = append(crypt.In, e.inbound)
			}
		}
		if k, ok := sendKey(keys, r.KeyGen); ok {
			if e := d.sa(prev, next, saKey{true, self, peer, k.Generation}, k.Key, n.ID, d.dataAddr.Addr(), r.VTEP.Addr()); e != nil {
				crypt.Out[vtepAddr] = e.outbound
			}
		}
	}
	d.sas[n.ID] = next
	if err := d.engine.SetCrypto(n.VNI, crypt); err != nil {
		d.log.Warn("SAs not installed", "network", n.Name, "err", err)
	}
}

// sendKey returns the key to seal for a peer that can open generations up
// to peerGen: the newest generation both hold.
func sendKey(keys []store.Key, peerGen uint64) (store.Key, bool) {
	for _, k := range keys {
		if k.Generation <= peerGen {
			return k, true
		}
	}
	return store.Key{}, false
}

// sa returns the SA named k, the one of prev if it lives on, and records
// it in next.
func (d *Daemon) sa(prev, next map[saKey]*saEntry, k saKey, networkKey []byte, network string, src, dst netip.Addr) *saEntry {
	if e, ok := prev[k]; ok {
		next[k] = e
		return e
	}
	key, spi := wcrypto.Derive(networkKey, network, k.from, k.to, k.gen)
	e := &saEntry{spi: spi, key: key, src: src, dst: dst, gen: k.gen}
	var err error
	if k.out {
		e.outbound, err = wcrypto.NewOutbound(spi, key)
	} else {
		e.inbound, err = wcrypto.NewInbound(spi, key)
	}
	if err != nil {
		d.log.Warn("SA not made", "network", network, "err", err)
		return nil
	}
	next[k] = e
	return e
}

// dropSAs forgets a network's SAs. Called from the reconciler only.
func (d *Daemon) dropSAs(networkID string) { delete(d.sas, networkID) }

// NetworkKeys lists the live SAs of an encrypted network on this node, with
// their keys, so that an operator can decrypt a capture (for example with
// Wireshark's ESP preferences). The API socket is root's only.
func (d *Daemon) NetworkKeys(name string) ([]api.SA, error) {
	d.mu.Lock()
	n, ok := d.st.Networks[name]
	d.mu.Unlock()
	switch {
	case !ok:
		return nil, notFound("network %s has no containers on this node", name)
	case !n.Encrypted:
		return nil, badRequest("network %s is not encrypted", name)
	}
	reply := make(chan []api.SA, 1)
	d.recMu.Lock()
	d.keyQueries = append(d.keyQueries, keyQuery{n.ID, reply})
	d.recMu.Unlock()
	select {
	case d.recKick <- struct{}{}:
	default:
	}
	select {
	case sas := <-reply:
		return sas, nil
	case <-time.After(5 * time.Second):
		return nil, fmt.Errorf("network %s: the reconciler did not answer", name)
	}
}

// keyQuery asks the reconciler, which owns the SAs, for a network's.
type keyQuery struct {
	network string
	reply   chan []api.SA
}

// answerKeyQueries answers pending key queries. Called from the reconciler.
func (d *Daemon) answerKeyQueries() {
	d.recMu.Lock()
	qs := d.keyQueries
	d.keyQueries = nil
	d.recMu.Unlock()
	for _, q := range qs {
		out := []api.SA{}
		for _, e := range d.sas[q.network] {
			dir := "in"
			if e.outbound != nil {
				dir = "out"
			}
			out = append(out, api.SA{
				Direction: dir, Src: e.src.String(), Dst: e.dst.String(), SPI: fmt.Sprintf("0x%08x", e.spi),
				Key: "0x" + hex.EncodeToString(e.key[:]), Generation: e.gen,
				Algorithm: "AES-GCM with 16 octet ICV [RFC4106]",
			})
		}
		slices.SortFunc(out, compareSA)
		q.reply <- out
	}
}

func compareSA(a, b api.SA) int {
	for _, c := range [][2]string{{a.Direction, b.Direction}, {a.Src, b.Src}, {a.Dst, b.Dst}, {a.SPI, b.SPI}} {
		if c[0] != c[1] {
			if c[0] < c[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}
