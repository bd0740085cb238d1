// Package vtep is weft's data-plane engine: it joins TAP devices, the
// forwarding database and the underlay socket, and moves frames between them
// in batches.
package vtep

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap"
)

// Headroom is how many bytes the engine reserves in front of every frame it
// reads from a TAP, so that the outer headers are written in place: the
// VXLAN header, and in front of it the ESP header of an encrypted network.
const Headroom = encap.HeaderLen + wcrypto.HeaderLen

// Tailroom is how many bytes the engine reserves behind every frame it reads
// from a TAP, for the ESP trailer and integrity check value.
const Tailroom = wcrypto.Overhead - wcrypto.HeaderLen

// Config holds the engine's tunables.
type Config struct {
	// BatchSize is the most frames or datagrams one read moves.
	BatchSize int
	// LearnAge is how long a learned FDB entry lives without traffic; the
	// kernel's VXLAN uses 300 s.
	LearnAge time.Duration
	// LearnLimit is the most learned FDB rows of each kind, MACs and IP
	// bindings, that one network holds; static rows do not count, and
	// ageing makes room. A frame whose sender would be one more is still
	// delivered, but not learned, and counted as a DropLearnLimit drop.
	// 0: no limit.
	LearnLimit int
	// MaxDatagram is the size of the receive buffers: the largest underlay
	// datagram accepted.
	MaxDatagram int
}

// DefaultConfig returns the configuration weftd uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		BatchSize: 128,               // frames per TAP read and datagrams per recvmmsg/sendmmsg
		LearnAge:  300 * time.Second, // as the kernel's VXLAN ageing
		// A /16's worth of addresses, more than any static-peer network
		// has, yet a bound on what a sender of random source addresses
		// can make a network hold: about 100 bytes a row, some 13 MB.
		LearnLimit:  65536,
		MaxDatagram: 65535, // the largest UDP payload
	}
}

// Engine moves frames between the TAP devices of its networks and the
// underlay socket. Its methods are safe for concurrent use.
type Engine struct {
	cfg   Config
	conn  encap.Conn   // conns[0]
	conns []encap.Conn // one receive loop each; transmit loop i sends on conns[i%len]
	fdb   *fdb.Table
	reg   *metrics.Registry
	log   *slog.Logger

	mu       sync.Mutex // serializes writers of nets and spis
	nets     atomic.Pointer[map[uint32]*network]
	spis     atomic.Pointer[map[uint32]inboundSA] // every network's Inbound SAs, by SPI
	sealed   atomic.Int32                         // how many networks are encrypted
	collided map[*wcrypto.Inbound]bool            // SAs left out of spis, logged once; under mu
	closed   atomic.Bool
	stop     chan struct{} // closed by Close
	wg       sync.WaitGroup
}

// New returns an engine that sends and receives on conn. It does nothing until
// Start is called.
func New(cfg Config, conn encap.Conn, table *fdb.Table, reg *metrics.Registry, log *slog.Logger) *Engine {
	return NewQueues(cfg, []encap.Conn{conn}, table, reg, log)
}

// NewQueues returns an engine that receives on every one of conns, each
// with a receive loop of its own, as from the sockets of encap.ListenQueues;
// a network's transmit loops send on them in turn. conns must not be empty.
func NewQueues(cfg Config, conns []encap.Conn, table *fdb.Table, reg *metrics.Registry, log *slog.Logger) *Engine {
	e := &Engine{cfg: cfg, conn: conns[0], conns: conns, fdb: table, reg: reg, log: log, stop: make(chan struct{})}
	empty := map[uint32]*network{}
	e.nets.Store(&empty)
	noSPIs := map[uint32]inboundSA{}
	e.spis.Store(&noSPIs)
	e.collided = map[*wcrypto.Inbound]bool{}
	return e
}

// Start starts the receive loops and the ageing of learned entries.
func (e *Engine) Start() {
	e.wg.Add(1 + len(e.conns))
	for i, c := range e.conns {
		go e.rxLoop(c, i)
	}
	go e.ageLoop()
}

// Close stops every loop, closes the underlay socket and every network's TAP
// device, and waits for the loops to return.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	close(e.stop)
	var err error
	for _, c := range e.conns {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	e.mu.Lock()
	for _, n := range *e.nets.Load() {
		if cerr := n.close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
	return err
}

// AddNetwork starts forwarding for a network whose frames come and go through
// dev, and through the other queues of its TAP in more, each read by a
// transmit loop of its own. The engine owns the devices from now on and
// closes them on RemoveNetwork.
func (e *Engine) AddNetwork(nc NetworkConfig, dev tap.Device, more ...tap.Device) error {
	if err := nc.validate(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return net.ErrClosed
	}
	old := *e.nets.Load()
	if _, ok := old[nc.VNI]; ok {
		return fmt.Errorf("vtep: VNI %d already has a network", nc.VNI)
	}
	n := newNetwork(nc, dev, more, e.reg.Network(nc.Name, nc.VNI))
	if nc.Encrypted {
		e.sealed.Add(1)
	}
	e.fdb.DeleteVNI(nc.VNI) // anything an earlier network of this VNI left
	e.storeNets(old, n.cfg.VNI, n)
	e.syncPeers()
	devs := n.devices()
	n.running.Store(int32(len(devs)))
	e.wg.Add(len(devs))
	for i, d := range devs {
		go e.txLoop(n, d, e.conns[i%len(e.conns)])
	}
	return nil
}

// RemoveNetwork stops forwarding for the network with that VNI, closes its TAP
// device, and forgets its FDB entries and counters.
func (e *Engine) RemoveNetwork(vni uint32) error {
	e.mu.Lock()
	old := *e.nets.Load()
	n, ok := old[vni]
	if !ok {
		e.mu.Unlock()
		return fmt.Errorf("vtep: no network with VNI %d", vni)
	}
	n.removed.Store(true)
	e.storeNets(old, vni, nil)
	e.syncPeers()
	e.indexSPIs()
	if n.cfg.Encrypted {
		e.sealed.Add(-1)
	}
	e.mu.Unlock()
	err := n.close()
	<-n.done
	e.fdb.DeleteVNI(vni)
	e.reg.Remove(n.cfg.Name)
	return err
}

// SetPeers replaces the VTEPs that a network's broadcast, multicast and
// unknown unicast frames are replicated to.
func (e *Engine) SetPeers(vni uint32, peers []netip.AddrPort) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := (*e.nets.Load())[vni]
	if !ok {
		return fmt.Errorf("vtep: no network with VNI %d", vni)
	}
	n.setPeers(peers)
	e.syncPeers()
	return nil
}

// Announce writes a gratuitous ARP for ip at mac into a network's TAP, so
// that the containers there replace a neighbour entry that still points at
// the address's previous owner. It is for control-plane events (an address
// moved), not the packet path. IPv6 addresses are not announced.
func (e *Engine) Announce(vni uint32, ip netip.Addr, mac fdb.MAC) error {
	n, ok := (*e.nets.Load())[vni]
	if !ok {
		return fmt.Errorf("vtep: no network with VNI %d", vni)
	}
	return n.announce(ip, mac)
}

// announce writes a gratuitous ARP for an IPv4 ip at mac into n's TAP.
func (n *network) announce(ip netip.Addr, mac fdb.MAC) error {
	if !ip.Is4() {
		return nil
	}
	// Written after room for a virtio-net header, as an offloaded TAP wants.
	frame := gratuitousARP(ip, mac)
	buf := make([]byte, tap.VnetHdrLen+len(frame))
	copy(buf[tap.VnetHdrLen:], frame)
	_, err := n.dev.Write([][]byte{buf}, tap.VnetHdrLen)
	return err
}

// storeNets publishes a copy of old with vni set to n, or deleted if n is nil.
// The caller holds e.mu.
func (e *Engine) storeNets(old map[uint32]*network, vni uint32, n *network) {
	next := make(map[uint32]*network, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	if n == nil {
		delete(next, vni)
	} else {
		next[vni] = n
	}
	e.nets.Store(&next)
}

// ageLoop expires learned FDB entries until the engine closes.
func (e *Engine) ageLoop() {
	defer e.wg.Done()
	tick := time.NewTicker(max(e.cfg.LearnAge/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case now := <-tick.C:
			e.fdb.Expire(now, e.cfg.LearnAge)
		case <-e.stop:
			return
		}
	}
}

// readFailed handles an error from a read loop: it reports whether the loop
// should stop, and otherwise waits a little longer each time (up to a second)
// so a persistent error does not spin.
func (e *Engine) readFailed(what string, err error, backoff *time.Duration) (stop bool) {
	if errors.Is(err, net.ErrClosed) || e.closed.Load() {
		return true
	}
	*backoff = min(max(2**backoff, time.Millisecond), time.Second)
	e.log.Warn("read failed, retrying", "from", what, "err", err, "backoff", *backoff)
	select {
	case <-time.After(*backoff):
		return false
	case <-e.stop:
		return true
	}
}
