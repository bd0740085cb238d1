//go:build linux

package encap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/weftnet/weft/internal/header"
)

// ListenQueues binds n UDP sockets to one address with SO_REUSEPORT, so that
// n readers take datagrams in parallel, one socket each; any of them may
// send. Port 0 picks a free port for all of them.
//
// The kernel would spread datagrams over the sockets by a hash of their
// addresses and ports, which puts all of one peer's traffic on one socket.
// A classic BPF program attached to the group (SO_ATTACH_REUSEPORT_CBPF)
// picks the socket by the inner flow instead: for a VXLAN datagram carrying
// IPv4 TCP or UDP, by its inner ports, so that each inner flow stays on one
// socket and keeps its order. Anything else (ESP, IPv6 inside, ARP) is left
// to the kernel's hash of the outer addresses and ports, so that all of one
// peer's ESP datagrams, and so each security association, stay on one
// socket. n = 1 is a plain Listen.
//
// The sockets are one set for their offloads: UDP_SEGMENT refused on one
// is off on all, and reported once to WithOffloadRefused's function.
func ListenQueues(addr netip.AddrPort, batch, n int, opts ...Option) ([]*UDPConn, error) {
	if n < 1 {
		return nil, fmt.Errorf("encap: listen %v: %d queues, want at least 1", addr, n)
	}
	if n == 1 {
		c, err := Listen(addr, batch, opts...)
		if err != nil {
			return nil, err
		}
		return []*UDPConn{c}, nil
	}
	prog, err := steeringProgram(n)
	if err != nil {
		return nil, err
	}
	set := newOffloadSet(opts)
	conns := make([]*UDPConn, 0, n)
	fail := func(err error) ([]*UDPConn, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	for i := range n {
		var serr error
		control := func(_, _ string, rc syscall.RawConn) error {
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
				if serr == nil && i == 0 {
					serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, prog)
				}
			})
			return errors.Join(err, serr)
		}
		conn, local, err := listenUDP(addr, batch, control)
		if err != nil {
			return fail(err)
		}
		c, err := newUDPConn(conn, local, batch, set)
		if err != nil {
			conn.Close()
			return fail(err)
		}
		conns = append(conns, c)
		addr = local // the others join the port the first was given
	}
	set.reportOpen()
	return conns, nil
}

// Offsets in a VXLAN datagram as the steering program sees it: from the
// start of the UDP payload.
const (
	steerEtherType = HeaderLen + header.EtherTypeOffset    // inner EtherType
	steerIPv4      = HeaderLen + header.EthernetLen        // inner IPv4 header
	steerProto     = steerIPv4 + header.IPv4ProtocolOffset // its protocol
	steerNoChoice  = 0xffffffff                            // an index past the group: the kernel hashes
)

// steeringProgram returns the reuseport program for n sockets: the socket
// index is (source port XOR destination port) mod n of an inner IPv4 TCP or
// UDP packet.
func steeringProgram(n int) (*unix.SockFprog, error) {
	insts := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 4}, // VXLAN's flags word: ESP (an SPI) is left to the kernel
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: flagsWord, SkipTrue: 15},
		bpf.LoadAbsolute{Off: steerEtherType, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: header.EtherTypeIPv4, SkipTrue: 13},
		bpf.LoadAbsolute{Off: steerProto, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: header.ProtocolTCP, SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: header.ProtocolUDP, SkipTrue: 10},
		bpf.LoadMemShift{Off: steerIPv4},                    // X = the IPv4 header's length
		bpf.LoadIndirect{Off: steerIPv4, Size: 4},           // A = source port << 16 | destination port
		bpf.StoreScratch{Src: bpf.RegA, N: 0},               //
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16}, //
		bpf.TAX{},                                        // X = source port
		bpf.LoadScratch{Dst: bpf.RegA, N: 0},             //
		bpf.ALUOpX{Op: bpf.ALUOpXor},                     //
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffff}, //
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: uint32(n)},
		bpf.RetA{},
		bpf.RetConstant{Val: steerNoChoice},
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, fmt.Errorf("encap: steering program: %w", err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}, nil
}

// steerKey is what the steering program computes for a datagram before the
// modulo: its inner (source port XOR destination port), steerNoChoice, or 0
// where the program's loads run past the datagram and it returns 0.
func steerKey(d []byte) uint32 {
	if len(d) < 4 {
		return 0
	}
	if binary.BigEndian.Uint32(d) != flagsWord {
		return steerNoChoice
	}
	if len(d) < steerEtherType+2 {
		return 0
	}
	if binary.BigEndian.Uint16(d[steerEtherType:]) != header.EtherTypeIPv4 {
		return steerNoChoice
	}
	if len(d) < steerProto+1 {
		return 0
	}
	if p := d[steerProto]; p != header.ProtocolTCP && p != header.ProtocolUDP {
		return steerNoChoice
	}
	ports := steerIPv4 + int(d[steerIPv4]&0xf)*4
	if len(d) < ports+4 {
		return 0
	}
	return uint32(binary.BigEndian.Uint16(d[ports:]) ^ binary.BigEndian.Uint16(d[ports+2:]))
}
