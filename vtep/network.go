package vtep

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap"
)

// NetworkConfig describes one overlay network to the engine.
type NetworkConfig struct {
	// Name labels the network's counters.
	Name string
	// VNI is the VXLAN network identifier, 1 to 2^24-1.
	VNI uint32
	// MTU is the largest inner IP packet; frames up to MTU plus an Ethernet
	// header and one VLAN tag are carried, larger ones are dropped as oversize.
	MTU int
	// Peers are the VTEPs that broadcast, multicast and unknown unicast frames
	// are replicated to (head-end replication).
	Peers []netip.AddrPort
	// Learn makes the engine learn the source MAC of every received frame
	// against the VTEP that sent it, and IP-to-MAC bindings from received ARP,
	// as the kernel's VXLAN does. Static-peer networks learn.
	Learn bool
	// LearnPort is the UDP port of a learned VTEP that is not one of Peers:
	// frames are sent to the learned address at this port, whatever source
	// port the VTEP used. A learned VTEP that is a peer keeps the peer's port.
	LearnPort uint16
	// Encrypted seals every frame between hosts with ESP (see SetCrypto)
	// and drops cleartext VXLAN for the network.
	Encrypted bool
}

// maxFrameOverhead is an Ethernet header plus one 802.1Q tag.
const maxFrameOverhead = encap.EthernetHeaderLen + 4

func (nc NetworkConfig) validate() error {
	switch {
	case nc.VNI == 0 || nc.VNI > encap.MaxVNI:
		return fmt.Errorf("vtep: VNI %d out of range 1-%d", nc.VNI, encap.MaxVNI)
	case nc.MTU < 68 || nc.MTU > 65535-maxFrameOverhead-encap.HeaderLen-nc.sealOverhead():
		return fmt.Errorf("vtep: MTU %d out of range", nc.MTU)
	case nc.Name == "":
		return errors.New("vtep: network has no name")
	case nc.Encrypted && nc.Learn:
		return errors.New("vtep: an encrypted network cannot learn: its peers come with their keys")
	}
	return nil
}

// sealOverhead is what ESP adds to a datagram of the network, at most.
func (nc NetworkConfig) sealOverhead() int {
	if nc.Encrypted {
		return wcrypto.Overhead
	}
	return 0
}

// network is the engine's state for one NetworkConfig.
type network struct {
	cfg      NetworkConfig
	dev      tap.Device   // queue 0 of the network's TAP
	more     []tap.Device // its other queues, each with a transmit loop
	ctr      *metrics.Counters
	maxFrame int
	peers    atomic.Pointer[[]netip.AddrPort]
	removed  atomic.Bool   // set by RemoveNetwork, so a receive batch in flight stops learning
	done     chan struct{} // closed when the network's last transmit loop returns
	running  atomic.Int32  // transmit loops still running

	offload bool // dev hands over super-frames with virtio-net headers (tap.WithOffload)

	out atomic.Pointer[map[netip.AddrPort]*wcrypto.Outbound] // encrypted: the SA of each peer
	in  []*wcrypto.Inbound                                   // encrypted: under the engine's mu
}

func newNetwork(nc NetworkConfig, dev tap.Device, more []tap.Device, ctr *metrics.Counters) *network {
	n := &network{cfg: nc, dev: dev, more: more, ctr: ctr, maxFrame: nc.MTU + maxFrameOverhead, done: make(chan struct{})}
	if o, ok := dev.(interface{ Offloaded() bool }); ok {
		n.offload = o.Offloaded()
	}
	n.setPeers(nc.Peers)
	noSAs := map[netip.AddrPort]*wcrypto.Outbound{}
	n.out.Store(&noSAs)
	return n
}

// vtepPort returns where to send to a VTEP learned at addr: the port of the
// peer with that address, or the network's LearnPort.
func (n *network) vtepPort(addr netip.Addr) netip.AddrPort {
	for _, p := range *n.peers.Load() {
		if p.Addr() == addr {
			return p
		}
	}
	return netip.AddrPortFrom(addr, n.cfg.LearnPort)
}

func (n *network) setPeers(peers []netip.AddrPort) {
	p := append([]netip.AddrPort(nil), peers...)
	n.peers.Store(&p)
}

// queue returns the TAP queue that receive loop i writes to.
func (n *network) queue(i int) tap.Device {
	if i %= len(n.more) + 1; i > 0 {
		return n.more[i-1]
	}
	return n.dev
}

// devices returns every queue of the network's TAP.
func (n *network) devices() []tap.Device {
	return append([]tap.Device{n.dev}, n.more...)
}

// close closes every queue of the network's TAP.
func (n *network) close() error {
	var err error
	for _, d := range n.devices() {
		if cerr := d.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}
