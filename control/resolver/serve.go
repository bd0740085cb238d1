package resolver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Transport limits of an Instance.
const (
	tcpIdle      = 8 * time.Second      // how long a TCP connection may take to send its next query
	writeTimeout = 2 * time.Second      // how long writing one TCP answer may take
	maxTCPConns  = 64                   // TCP connections open at once; more are closed at accept
	maxBackoff   = time.Second          // the longest wait after a failing read or accept
	minBackoff   = 5 * time.Millisecond // the first such wait
	udpBufSize   = dns.MaxMsgSize       // the largest UDP query read whole
	protoUDP     = "udp"                // the network name of UDP
	protoTCP     = "tcp"                // the network name of TCP
)

// Instance serves the queries of one container on its sockets, forwarding
// in slots of its own (see the package doc), so that another container's
// forwards never use up its share. It is made by Resolver.Serve and ends
// with Close.
type Instance struct {
	r        *Resolver
	pc       net.PacketConn
	ln       net.Listener
	networks func() []string
	quota    *quota          // the container's forward slots
	ctx      context.Context // cancelled by Close: aborts forwards in flight
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the serving goroutines

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // open TCP connections
	closed bool

	once sync.Once
	err  error
}

// Serve answers queries arriving on pc (UDP; may be nil) and ln (TCP; may
// be nil) for a container on the networks networks returns (zone IDs).
// networks is called once per query, from many goroutines at once, so the
// container's attachments may change between queries; it must be quick,
// and it may be nil (on no network: only forwarding works). Serve returns
// at once; queries are served until the Instance is closed, which closes
// pc and ln.
//
// Answers over UDP are sent from pc, so pc should be bound to the address
// clients ask (127.0.0.11), not to a wildcard.
func (r *Resolver) Serve(pc net.PacketConn, ln net.Listener, networks func() []string) *Instance {
	ctx, cancel := context.WithCancel(context.Background())
	i := &Instance{
		r: r, pc: pc, ln: ln, networks: networks, quota: r.newQuota(),
		ctx: ctx, cancel: cancel,
		conns: make(map[net.Conn]struct{}),
	}
	if pc != nil {
		i.wg.Add(1)
		go i.serveUDP()
	}
	if ln != nil {
		i.wg.Add(1)
		go i.serveTCP()
	}
	if !r.track(i) {
		_ = i.Close()
	}
	return i
}

// Close stops serving: it aborts forwards in flight, closes pc, ln and the
// open TCP connections, and waits for the serving goroutines to end. It
// returns the errors of closing pc and ln, other than their being closed
// already. Later calls return the same.
func (i *Instance) Close() error {
	i.once.Do(func() {
		i.cancel()
		var errs []error
		if i.pc != nil {
			errs = append(errs, ignoreClosed(i.pc.Close()))
		}
		if i.ln != nil {
			errs = append(errs, ignoreClosed(i.ln.Close()))
		}
		i.closeConns()
		i.wg.Wait()
		i.r.untrack(i)
		i.err = errors.Join(errs...)
	})
	return i.err
}

// ignoreClosed returns err unless it says the socket was closed already.
func ignoreClosed(err error) error {
	if isClosed(err) {
		return nil
	}
	return err
}

// stopped reports whether err, from a read or accept, means the Instance
// is closing.
func (i *Instance) stopped(err error) bool { return isClosed(err) || i.ctx.Err() != nil }

// serveUDP reads queries from pc and answers each in its own goroutine.
func (i *Instance) serveUDP() {
	defer i.wg.Done()
	buf := make([]byte, udpBufSize)
	var b backoff
	for {
		n, from, err := i.pc.ReadFrom(buf)
		if err != nil {
			if i.stopped(err) || !b.wait(i.ctx, i.r, protoUDP, err) {
				return
			}
			continue
		}
		b.reset()
		if n < headerLen {
			i.r.stats.malformed.Add(1)
			continue
		}
		i.wg.Add(1)
		go i.answerUDP(bytes.Clone(buf[:n]), from)
	}
}

// answerUDP answers the query pkt from the client to.
func (i *Instance) answerUDP(pkt []byte, to net.Addr) {
	defer i.wg.Done()
	if resp := i.r.respond(i.ctx, pkt, protoUDP, i.networks, i.quota); resp != nil {
		_, _ = i.pc.WriteTo(resp, to) // a closed socket or a gone client: nothing to do
	}
}

// serveTCP accepts connections on ln and serves each in its own goroutine.
func (i *Instance) serveTCP() {
	defer i.wg.Done()
	var b backoff
	for {
		c, err := i.ln.Accept()
		if err != nil {
			if i.stopped(err) || !b.wait(i.ctx, i.r, protoTCP, err) {
				return
			}
			continue
		}
		b.reset()
		if !i.addConn(c) {
			_ = c.Close()
			continue
		}
		i.wg.Add(1)
		go i.serveConn(c)
	}
}

// serveConn answers the queries on c, in order, until c ends, idles out or
// sends something that is not a query.
func (i *Instance) serveConn(c net.Conn) {
	defer i.wg.Done()
	defer i.dropConn(c)
	for {
		raw, err := readFrame(c)
		if err != nil {
			return
		}
		resp := i.r.respond(i.ctx, raw, protoTCP, i.networks, i.quota)
		if resp == nil || writeFrame(c, resp) != nil {
			return
		}
	}
}

// readFrame reads one length-prefixed message from c, waiting at most
// tcpIdle.
func readFrame(c net.Conn) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(tcpIdle))
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	raw := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// writeFrame writes msg to c with its length before it.
func writeFrame(c net.Conn, msg []byte) error {
	_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
	frame := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	_, err := c.Write(append(frame, msg...))
	return err
}

// addConn records c as open; false if the Instance is closed or has
// maxTCPConns open.
func (i *Instance) addConn(c net.Conn) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed || len(i.conns) >= maxTCPConns {
		return false
	}
	i.conns[c] = struct{}{}
	return true
}

// dropConn closes c and forgets it.
func (i *Instance) dropConn(c net.Conn) {
	_ = c.Close()
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.conns, c)
}

// closeConns closes every open connection and refuses new ones.
func (i *Instance) closeConns() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.closed = true
	for c := range i.conns {
		_ = c.Close()
	}
}

// backoff spaces out retries of a failing read or accept.
type backoff struct{ d time.Duration }

// reset starts over after a success.
func (b *backoff) reset() { b.d = 0 }

// wait logs err if it starts a run of failures, then sleeps, doubling the
// wait each time up to maxBackoff. It returns false if ctx ended first.
func (b *backoff) wait(ctx context.Context, r *Resolver, proto string, err error) bool {
	if b.d == 0 {
		r.log.Warn("dns: socket failed; retrying", "proto", proto, "err", err)
	}
	b.d = min(max(2*b.d, minBackoff), maxBackoff)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
