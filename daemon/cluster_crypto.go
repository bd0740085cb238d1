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

// keyLoop keeps this node's data keys current every keyPoll, until stop
// closes. (The leader's cluster node rotates them.)
func (d *Daemon) keyLoop(stop <-chan struct{}) { every(stop, keyPoll, d.followKeys) }

// followKeys is one round of keyLoop: while this node has an encrypted
// network, it fetches the managers' keys.
func (d *Daemon) followKeys() {
	d.mu.Lock()
	c, need := d.cl, false
	for _, n := range d.st.Networks {
		need = need || n.Encrypted
	}
	d.mu.Unlock()
	if c == nil || !need {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	st, err := c.State(ctx)
	cancel()
	if err != nil {
		d.log.Debug("data keys not fetched", "err", err)
		return
	}
	d.syncDataKeys(c, st)
}

// syncDataKeys takes the managers' keys of this node's encrypted networks
// and has the reconciler reprogram a network whose keys changed. A list
// older than the one held (from a manager that lags) is ignored: keys
// never go back.
func (d *Daemon) syncDataKeys(c *cluster.Node, st *store.State) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != c {
		return
	}
	for _, n := range d.st.Networks {
		cn, ok := st.Networks[n.ID]
		if !n.Encrypted || !ok || !newerKeys(d.netKeys[n.ID], cn.Keys) {
			continue
		}
		d.netKeys[n.ID] = slices.Clone(cn.Keys)
		d.scheduleReconcile(n.ID)
		d.log.Info("data keys updated", "network", n.Name, "newest", cn.Keys[0].Generation, "generations", len(cn.Keys))
	}
}

// newerKeys reports whether fetched keys should replace those held: they
// differ, and their newest generation is not older.
func newerKeys(held, fetched []store.Key) bool {
	switch {
	case len(fetched) == 0:
		return false
	case len(held) == 0:
		return true
	}
	same := slices.EqualFunc(held, fetched, func(x, y store.Key) bool { return x.Generation == y.Generation })
	return !same && fetched[0].Generation >= held[0].Generation
}

// seedKeys takes a network's keys from the managers' copy at its first
// attach here, so that it need not wait for keyLoop. The caller holds d.mu.
func (d *Daemon) seedKeys(n *store.Network) {
	if n.Encrypted && len(d.netKeys[n.ID]) == 0 && len(n.Keys) > 0 {
		d.netKeys[n.ID] = slices.Clone(n.Keys)
	}
}

// peerRun is what the SAs with one peer node depend on.
type peerRun struct {
	node    string
	boot    uint64
	vtep    netip.AddrPort
	keyGen  uint64 // the lowest any of its current records says: what it surely opens
	version uint64 // of its newest record, which names its current run
}

// peerRuns groups the records of other nodes by node: each node's current
// run is that of its newest record, and of that run's records the lowest
// KeyGen counts, so that records in flight never make this node send with
// a generation the peer cannot open yet.
func peerRuns(self string, recs []gossip.Record) []peerRun {
	byNode := map[string]*peerRun{}
	for _, r := range recs {
		if r.Node == self {
			continue
		}
		p, ok := byNode[r.Node]
		switch {
		case !ok || r.Version > p.version && r.Boot != p.boot:
			byNode[r.Node] = &peerRun{node: r.Node, boot: r.Boot, vtep: r.VTEP, keyGen: r.KeyGen, version: r.Version}
		case r.Boot == p.boot:
			p.keyGen, p.version = min(p.keyGen, r.KeyGen), max(p.version, r.Version)
		}
	}
	out := make([]peerRun, 0, len(byNode))
	for _, p := range byNode {
		out = append(out, *p)
	}
	return out
}

// installSAs programs an encrypted network's SAs from the records of its
// other nodes: for each peer, one Inbound per generation this node holds,
// and one Outbound with the newest generation both hold. Then it tells the
// others, through its records, the newest generation it can open.
//
// An SA, once made, is kept for as long as its generation is live, whether
// or not its peer is present: a peer that goes and comes back, or a
// generation picked again, finds the same Outbound (sequence numbers, so
// nonces, go on) and the same Inbound (the replay window remembers).
// Generations retired are never derived again. Called from the reconciler
// only.
func (d *Daemon) installSAs(c *cluster.Node, n *netState, epoch uint64, recs []gossip.Record) {
	d.mu.Lock()
	keys := slices.Clone(d.netKeys[n.ID])
	d.mu.Unlock()
	cache := d.saCache(n.ID, keys)
	self := identity(c.ID(), d.boot)
	crypt := vtep.Crypto{Out: map[netip.AddrPort]*wcrypto.Outbound{}}
	active := map[saKey]bool{}
	for _, p := range peerRuns(c.ID(), recs) {
		peer := identity(p.node, p.boot)
		for _, k := range keys {
			sk := saKey{false, peer, self, k.Generation}
			if e := d.sa(cache, sk, k.Key, n.ID, p.vtep.Addr(), d.dataAddr.Addr()); e != nil {
				crypt.In, active[sk] = append(crypt.In, e.inbound), true
			}
		}
		if k, ok := sendKey(keys, p.keyGen); ok {
			sk := saKey{true, self, peer, k.Generation}
			if e := d.sa(cache, sk, k.Key, n.ID, d.dataAddr.Addr(), p.vtep.Addr()); e != nil {
				crypt.Out[p.vtep], active[sk] = e.outbound, true
			}
		}
	}
	d.saActive[n.ID] = active
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != c || !d.stillRunning(n, epoch) {
		return // removed or rebuilt since: its next reconcile installs afresh
	}
	if err := d.engine.SetCrypto(n.VNI, crypt); err != nil {
		d.log.Warn("SAs not installed", "network", n.Name, "err", err)
		return
	}
	if newest := d.newestGen(n.ID); d.advertised[n.ID] != newest {
		d.advertised[n.ID] = newest // every generation held is open now
		for _, ep := range n.Endpoints {
			d.publish(c, n, ep)
		}
	}
}

// newestGen returns the newest key generation held for a network, 0 if
// none. The caller holds d.mu.
func (d *Daemon) newestGen(networkID string) uint64 {
	if keys := d.netKeys[networkID]; len(keys) > 0 {
		return keys[0].Generation
	}
	return 0
}

// stillRunning reports whether n is still this node's copy of its network,
// in the same start. The caller holds d.mu.
func (d *Daemon) stillRunning(n *netState, epoch uint64) bool {
	cur, ok := d.st.Networks[n.Name]
	return ok && cur == n && cur.epoch == epoch
}

// saCache returns a network's SAs, without those of generations no longer
// live; it raises the network's floor past them, so that they are never
// derived again.
func (d *Daemon) saCache(networkID string, keys []store.Key) map[saKey]*saEntry {
	cache := d.sas[networkID]
	if cache == nil {
		cache = map[saKey]*saEntry{}
		d.sas[networkID] = cache
	}
	if len(keys) == 0 {
		return cache
	}
	oldest := keys[len(keys)-1].Generation
	for k := range cache {
		if k.gen < oldest {
			delete(cache, k)
			d.saFloor[networkID] = max(d.saFloor[networkID], k.gen)
		}
	}
	return cache
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

// sa returns the SA named k from a network's cache, making it if it is
// new and its generation is above the network's floor.
func (d *Daemon) sa(cache map[saKey]*saEntry, k saKey, networkKey []byte, network string, src, dst netip.Addr) *saEntry {
	if e, ok := cache[k]; ok {
		return e
	}
	if k.gen <= d.saFloor[network] {
		return nil
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
	cache[k] = e
	return e
}

// dropSAs forgets a network's SAs. Called from the reconciler only.
func (d *Daemon) dropSAs(networkID string) {
	delete(d.sas, networkID)
	delete(d.saActive, networkID)
}

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
		for k, e := range d.sas[q.network] {
			dir := "in"
			if e.outbound != nil {
				dir = "out"
			}
			out = append(out, api.SA{
				Direction: dir, Src: e.src.String(), Dst: e.dst.String(), SPI: fmt.Sprintf("0x%08x", e.spi),
				Key: "0x" + hex.EncodeToString(e.key[:]), Generation: e.gen,
				Algorithm: "AES-GCM with 16 octet ICV [RFC4106]", Active: d.saActive[q.network][k],
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
