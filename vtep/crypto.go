package vtep

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/metrics"
)

// Crypto is an encrypted network's security associations (SAs): the one
// each peer's frames are sealed with, and those frames from peers are
// opened with. SetCrypto replaces them whole.
//
// The engine uses an Outbound from its network's transmit loops, one per
// TAP queue (Outbound serializes its Seals), and an Inbound from its receive
// loops; ESP datagrams are not steered by inner flow, so each peer's reach
// one socket's loop. An SA that lives on from one call to
// the next must be the same object each time, never a second one for the
// same key: a second Outbound would reuse sequence numbers, hence nonces,
// and a second Inbound would forget the replay window.
type Crypto struct {
	Out map[netip.AddrPort]*wcrypto.Outbound // by peer VTEP
	In  []*wcrypto.Inbound
}

// inboundSA is an Inbound and the network it opens frames of.
type inboundSA struct {
	n  *network
	sa *wcrypto.Inbound
}

// SetCrypto installs the SAs of an encrypted network. Until it is called,
// the network sends nothing and accepts nothing: it fails closed.
func (e *Engine) SetCrypto(vni uint32, c Crypto) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := (*e.nets.Load())[vni]
	if !ok {
		return fmt.Errorf("vtep: no network with VNI %d", vni)
	}
	return e.setCryptoLocked(n, c)
}

// setCryptoLocked installs n's SAs. The caller holds e.mu.
func (e *Engine) setCryptoLocked(n *network, c Crypto) error {
	if !n.cfg.Encrypted {
		return fmt.Errorf("vtep: network %s is not encrypted", n.cfg.Name)
	}
	out := make(map[netip.AddrPort]*wcrypto.Outbound, len(c.Out))
	for k, v := range c.Out {
		out[k] = v
	}
	n.out.Store(&out)
	n.in = append([]*wcrypto.Inbound(nil), c.In...)
	e.indexSPIs()
	return nil
}

// indexSPIs publishes the table of every network's Inbound SAs by SPI. The
// caller holds e.mu. SPIs are derived, not negotiated, so two can collide
// (about once in 10^5 SA pairs on one node). An SA already indexed keeps
// its SPI; a newcomer that collides is left out and logged once, and the
// frames sealed for it fail the owner's integrity check (bad_tag on the
// owner's network) until the next key generation.
func (e *Engine) indexSPIs() {
	nets := *e.nets.Load()
	installed := make(map[*wcrypto.Inbound]*network)
	for _, n := range nets {
		for _, sa := range n.in {
			installed[sa] = n
		}
	}
	spis := make(map[uint32]inboundSA)
	for spi, o := range *e.spis.Load() {
		if installed[o.sa] == o.n {
			spis[spi] = o
		}
	}
	for _, vni := range slices.Sorted(maps.Keys(nets)) {
		n := nets[vni]
		for _, sa := range n.in {
			o, dup := spis[sa.SPI()]
			switch {
			case !dup:
				spis[sa.SPI()] = inboundSA{n, sa}
			case o.sa != sa && !e.collided[sa]:
				e.collided[sa] = true
				e.log.Warn("SPI collision: SA left out until the next key generation", "spi", fmt.Sprintf("%#08x", sa.SPI()), "network", n.cfg.Name, "owner", o.n.cfg.Name)
			}
		}
	}
	for sa := range e.collided {
		if _, ok := installed[sa]; !ok {
			delete(e.collided, sa)
		}
	}
	e.spis.Store(&spis)
}

// seal encrypts pkt, a VXLAN datagram at buf[sealOffset:], in place for the
// peer to, and returns the ESP datagram, or nil if it was dropped.
func (e *Engine) seal(n *network, buf []byte, pktLen int, to netip.AddrPort) []byte {
	sa := (*n.out.Load())[to]
	if sa == nil {
		n.ctr.Drop(metrics.DropNoKey, 1)
		return nil
	}
	m, err := sa.Seal(buf[sealOffset:], pktLen)
	if err != nil {
		n.ctr.Drop(metrics.DropNoKey, 1) // sequence space exhausted: a new generation is due
		return nil
	}
	return buf[sealOffset : sealOffset+m]
}

// sealOffset is where a sealed datagram starts in a transmit buffer: the
// ESP header goes in front of the VXLAN header.
const sealOffset = Headroom - encap.HeaderLen - wcrypto.HeaderLen

// open authenticates and decrypts an ESP datagram in place and returns its
// network and VXLAN payload, or nil if it was dropped (and counted).
func (e *Engine) open(pkt []byte) (*network, []byte) {
	spi, _ := wcrypto.SPIOf(pkt)
	in, ok := (*e.spis.Load())[spi]
	if !ok || in.n.removed.Load() {
		e.reg.Underlay.Drop(metrics.DropUnknownSPI, 1)
		return nil, nil
	}
	payload, err := in.sa.Open(pkt)
	switch {
	case err == nil:
		return in.n, payload
	case errors.Is(err, wcrypto.ErrReplay):
		in.n.ctr.Drop(metrics.DropReplay, 1)
	case errors.Is(err, wcrypto.ErrAuth):
		in.n.ctr.Drop(metrics.DropBadTag, 1)
	default:
		in.n.ctr.Drop(metrics.DropMalformed, 1)
	}
	return nil, nil
}
