package reconcile

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/store"
	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/vtep"
)

// Encrypted networks. The managers keep each one's data keys, newest first,
// three generations at most (store.Network.Keys), and the leader adds one
// every rotation period. Each node says in its endpoint records which
// generation it can open (Record.KeyGen) and which run of weftd it is
// (Record.Boot).
//
// Each direction between two runs of two nodes has its own SA per
// generation, derived from the network key (crypto.Derive) for the
// identities "NODE/BOOT": a restarted weftd never reuses a key with a
// sequence number it already used. A node opens every generation it holds,
// and seals for a peer with the newest generation both hold, so a sender
// moves to a new generation only once its peer can open it.

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

// saCache is a network's SAs: every one made while its generation is live,
// and which are installed now.
type saCache struct {
	all    map[saKey]*saEntry
	active map[saKey]bool
	floor  uint64 // the newest generation retired: never derived again
}

// identity is how a run of a node appears in key derivation.
func identity(node string, boot uint64) string { return node + "/" + strconv.FormatUint(boot, 16) }

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

// installSAs returns an encrypted network's SAs for the records of its
// other nodes: for each peer, one Inbound per generation this node holds,
// and one Outbound with the newest generation both hold.
//
// An SA, once made, is kept for as long as its generation is live, whether
// or not its peer is present: a peer that goes and comes back, or a
// generation picked again, finds the same Outbound (sequence numbers, so
// nonces, go on) and the same Inbound (the replay window remembers).
// Generations retired are never derived again. The caller holds r.mu.
func (r *Reconciler) installSAs(n *Network, recs []gossip.Record) *vtep.Crypto {
	keys := r.keys[n.ID]
	cache := r.saCache(n.ID, keys)
	self := identity(r.cfg.Node, r.cfg.Boot)
	crypt := &vtep.Crypto{Out: map[netip.AddrPort]*wcrypto.Outbound{}}
	cache.active = map[saKey]bool{}
	for _, p := range peerRuns(r.cfg.Node, recs) {
		peer := identity(p.node, p.boot)
		for _, k := range keys {
			sk := saKey{false, peer, self, k.Generation}
			if e := r.sa(cache, sk, k.Key, n.ID, p.vtep.Addr(), r.cfg.DataAddr); e != nil {
				crypt.In, cache.active[sk] = append(crypt.In, e.inbound), true
			}
		}
		if k, ok := sendKey(keys, p.keyGen); ok {
			sk := saKey{true, self, peer, k.Generation}
			if e := r.sa(cache, sk, k.Key, n.ID, r.cfg.DataAddr, p.vtep.Addr()); e != nil {
				crypt.Out[p.vtep], cache.active[sk] = e.outbound, true
			}
		}
	}
	return crypt
}

// saCache returns a network's SAs, without those of generations no longer
// live; it raises the network's floor past them, so that they are never
// derived again. The caller holds r.mu.
func (r *Reconciler) saCache(id string, keys []store.Key) *saCache {
	c := r.sas[id]
	if c == nil {
		c = &saCache{all: map[saKey]*saEntry{}}
		r.sas[id] = c
	}
	if len(keys) == 0 {
		return c
	}
	oldest := keys[len(keys)-1].Generation
	for k := range c.all {
		if k.gen < oldest {
			delete(c.all, k)
			c.floor = max(c.floor, k.gen)
		}
	}
	return c
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
func (r *Reconciler) sa(c *saCache, k saKey, networkKey []byte, network string, src, dst netip.Addr) *saEntry {
	if e, ok := c.all[k]; ok {
		return e
	}
	if k.gen <= c.floor {
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
		r.cfg.Log.Warn("SA not made", "network", network, "err", err)
		return nil
	}
	c.all[k] = e
	return e
}

// SAs lists the SAs of a network with their keys, sorted, so that an
// operator can decrypt a capture (for example with Wireshark's ESP
// preferences); Active says which are installed now.
func (r *Reconciler) SAs(id string) []api.SA {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []api.SA{}
	c := r.sas[id]
	if c == nil {
		return out
	}
	for k, e := range c.all {
		dir := "in"
		if e.outbound != nil {
			dir = "out"
		}
		out = append(out, api.SA{
			Direction: dir, Src: e.src.String(), Dst: e.dst.String(), SPI: fmt.Sprintf("0x%08x", e.spi),
			Key: "0x" + hex.EncodeToString(e.key[:]), Generation: e.gen,
			Algorithm: "AES-GCM with 16 octet ICV [RFC4106]", Active: c.active[k],
		})
	}
	slices.SortFunc(out, func(a, b api.SA) int {
		return cmp.Or(cmp.Compare(a.Direction, b.Direction), cmp.Compare(a.Src, b.Src), cmp.Compare(a.Dst, b.Dst), cmp.Compare(a.SPI, b.SPI))
	})
	return out
}
