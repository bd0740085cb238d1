//go:build linux

package encap

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"

	"github.com/weftnet/weft/internal/header"
)

// vxlanFlow returns a VXLAN datagram whose inner frame is IPv4 with proto
// and ports, with an IPv4 header of ihl words.
func vxlanFlow(proto byte, sport, dport uint16, ihl int) []byte {
	b := make([]byte, HeaderLen+14+ihl*4+8)
	b[0] = 0x08
	binary.BigEndian.PutUint16(b[HeaderLen+12:], 0x0800)
	ip := b[HeaderLen+14:]
	ip[0] = 0x40 | byte(ihl)
	ip[9] = proto
	binary.BigEndian.PutUint16(ip[ihl*4:], sport)
	binary.BigEndian.PutUint16(ip[ihl*4+2:], dport)
	return b
}

func TestSteeringProgram(t *testing.T) {
	const n = 3
	prog, err := steeringProgram(n)
	if err != nil {
		t.Fatal(err)
	}
	insts := make([]bpf.Instruction, prog.Len)
	for i, r := range unsafe.Slice(prog.Filter, prog.Len) {
		insts[i] = bpf.RawInstruction{Op: r.Code, Jt: r.Jt, Jf: r.Jf, K: r.K}.Disassemble()
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatal(err)
	}
	arp := vxlanFlow(6, 1, 2, 5)
	binary.BigEndian.PutUint16(arp[HeaderLen+12:], 0x0806)
	esp := vxlanFlow(6, 40000, 5201, 5) // as if ciphertext looked like a TCP frame
	binary.BigEndian.PutUint32(esp, 0x1234abcd)
	for _, tc := range []struct {
		name string
		pkt  []byte
		want uint32
	}{
		{"tcp", vxlanFlow(6, 40000, 5201, 5), (40000 ^ 5201) % n},
		{"udp", vxlanFlow(17, 1234, 53, 5), (1234 ^ 53) % n},
		{"tcp with IP options", vxlanFlow(6, 40001, 5201, 7), (40001 ^ 5201) % n},
		{"the reply of a flow goes where the flow does", vxlanFlow(6, 5201, 40000, 5), (40000 ^ 5201) % n},
		{"icmp: the kernel's hash", vxlanFlow(1, 0, 0, 5), steerNoChoice},
		{"arp: the kernel's hash", arp, steerNoChoice},
		{"esp: the kernel's hash", esp, steerNoChoice},
	} {
		got, err := vm.Run(tc.pkt)
		if err != nil || uint32(got) != tc.want {
			t.Errorf("%s: program returned (%d, %v); want %d", tc.name, got, err, tc.want)
		}
	}
	// steerKey, which keeps UDP_SEGMENT runs to one queue, agrees with the
	// program on any datagram.
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		pkt := make([]byte, r.IntN(80))
		for i := range pkt {
			pkt[i] = byte(r.Uint32())
		}
		if len(pkt) >= 4 && r.IntN(8) > 0 {
			binary.BigEndian.PutUint32(pkt, flagsWord)
		}
		if len(pkt) >= steerEtherType+2 && r.IntN(4) > 0 {
			binary.BigEndian.PutUint16(pkt[steerEtherType:], header.EtherTypeIPv4)
			if len(pkt) > steerProto && r.IntN(3) > 0 {
				pkt[steerProto] = []byte{header.ProtocolTCP, header.ProtocolUDP}[r.IntN(2)]
			}
		}
		got, err := vm.Run(pkt)
		want := steerKey(pkt)
		if want != steerNoChoice {
			want %= n
		}
		if err != nil || uint32(got) != want {
			t.Fatalf("datagram % x: program returned (%d, %v); steerKey says %d", pkt, got, err, want)
		}
	}
}

// Datagrams of one inner flow all reach the same socket of the group, and
// different flows reach both.
func TestListenQueuesSteersByInnerFlow(t *testing.T) {
	conns, err := ListenQueues(loopback4, 16, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		t.Cleanup(func() { c.Close() })
		if c.LocalAddr() != conns[0].LocalAddr() {
			t.Fatalf("queues bound to %v and %v; want one address", conns[0].LocalAddr(), c.LocalAddr())
		}
	}
	a := listen(t, loopback4, 16)
	var bufs [][]byte
	var to []netip.AddrPort
	for flow := range 8 {
		for range 5 {
			p := make([]byte, testOffset, testOffset+64)
			bufs = append(bufs, append(p, vxlanFlow(6, uint16(40000+flow), 5201, 5)...))
			to = append(to, conns[0].LocalAddr())
		}
	}
	if n, err := a.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
		t.Fatalf("WriteBatch = (%d, %v)", n, err)
	}
	flows := map[uint16]int{} // inner source port -> queue
	total := 0
	for q, c := range conns {
		got := readAvailable(t, c)
		total += len(got)
		for _, d := range got {
			port := binary.BigEndian.Uint16(d[HeaderLen+14+20:])
			if prev, ok := flows[port]; ok && prev != q {
				t.Errorf("flow %d reached queues %d and %d", port, prev, q)
			}
			flows[port] = q
			if want := int((port ^ 5201) % 2); q != want {
				t.Errorf("flow %d reached queue %d; want %d", port, q, want)
			}
		}
	}
	if total != len(bufs) {
		t.Errorf("the queues got %d datagrams; want %d", total, len(bufs))
	}
}

// readAvailable reads what c has until it is quiet for 200 ms.
func readAvailable(t *testing.T, c *UDPConn) [][]byte {
	t.Helper()
	var got [][]byte
	bufs := [][]byte{make([]byte, 2048)}
	sizes, from := make([]int, 1), make([]netip.AddrPort, 1)
	for {
		if err := c.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, err := c.ReadBatch(bufs, sizes, from, 0)
		if err != nil {
			return got
		}
		for i := range n {
			got = append(got, append([]byte(nil), bufs[i][:sizes[i]]...))
		}
	}
}

// A UDP_SEGMENT run holds one inner flow's datagrams only, since the whole
// run lands on the queue its first datagram picks.
func TestGSOGroupKeepsInnerFlowsApart(t *testing.T) {
	dst := netip.MustParseAddrPort("198.18.0.2:4789")
	var bufs [][]byte
	for _, port := range []uint16{40000, 40000, 40001, 40001} {
		p := make([]byte, testOffset, testOffset+64)
		bufs = append(bufs, append(p, vxlanFlow(6, port, 5201, 5)...))
	}
	to := []netip.AddrPort{dst, dst, dst, dst}
	if got := gsoGroup(bufs, to, testOffset); got != 2 {
		t.Errorf("gsoGroup = %d; want 2, the first flow's", got)
	}
}
