//go:build linux

package nstest

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Do runs f on a thread inside the named namespace. Sockets f opens stay in
// that namespace after it returns, so a test can open them in Do and use them
// from anywhere.
func Do(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked if it cannot be returned to its own
		// namespace: the runtime then discards it.
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter %s: %w", ns, err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// UDPListener is a UDP socket inside a namespace that keeps what it receives.
type UDPListener struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  [][]byte
	done chan struct{}
}

// ListenUDP opens a UDP socket on 0.0.0.0:port inside ns that receives unicast
// and broadcast datagrams until Close.
func ListenUDP(ns string, port int) (*UDPListener, error) {
	l := &UDPListener{done: make(chan struct{})}
	err := Do(ns, func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		l.conn = c
		return err
	})
	if err != nil {
		return nil, err
	}
	go l.loop()
	return l, nil
}

func (l *UDPListener) loop() {
	defer close(l.done)
	buf := make([]byte, 65536)
	for {
		n, _, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		l.mu.Lock()
		l.got = append(l.got, append([]byte(nil), buf[:n]...))
		l.mu.Unlock()
	}
}

// Received returns how many datagrams carried payload.
func (l *UDPListener) Received(payload string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, g := range l.got {
		if string(g) == payload {
			n++
		}
	}
	return n
}

// Close stops the listener.
func (l *UDPListener) Close() {
	l.conn.Close()
	<-l.done
}

// SendUDP sends each payload from inside ns to dst, broadcast allowed.
func SendUDP(ns string, dst string, payloads ...[]byte) error {
	return Do(ns, func() error {
		raddr, err := net.ResolveUDPAddr("udp4", dst)
		if err != nil {
			return err
		}
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		for _, p := range payloads {
			if _, err := c.WriteToUDP(p, raddr); err != nil {
				return err
			}
		}
		return nil
	})
}

// ARPSniffer counts ARP requests seen on an interface inside a namespace.
type ARPSniffer struct {
	fd      int
	mu      sync.Mutex
	seen    map[[4]byte]int // requests by target address
	stopped bool
	done    chan struct{}
}

// SniffARP starts counting ARP requests arriving on ifname inside ns.
func SniffARP(ns, ifname string) (*ARPSniffer, error) {
	s := &ARPSniffer{seen: map[[4]byte]int{}, done: make(chan struct{})}
	err := Do(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ARP)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(proto))
		if err != nil {
			return err
		}
		s.fd = fd
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index})
	})
	if err != nil {
		return nil, err
	}
	go s.loop()
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *ARPSniffer) loop() {
	defer close(s.done)
	buf := make([]byte, 2048)
	for !s.isStopped() {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue // the receive timeout lets the loop see Close
		}
		if err != nil {
			return
		}
		// Ethernet (14) + ARP: operation at 20, target protocol address at 38.
		if n >= 42 && buf[20] == 0 && buf[21] == 1 {
			s.mu.Lock()
			s.seen[[4]byte(buf[38:42])]++
			s.mu.Unlock()
		}
	}
}

func (s *ARPSniffer) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// Requests returns how many ARP requests for target were seen.
func (s *ARPSniffer) Requests(target net.IP) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[[4]byte(target.To4())]
}

// Close stops the sniffer.
func (s *ARPSniffer) Close() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	<-s.done
	unix.Close(s.fd)
}
