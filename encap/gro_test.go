package encap

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/weftnet/weft/internal/header"
)

// finish completes a coalesced super-frame's TCP checksum, as the kernel
// would, so that gopacket can check the whole.
func finish(t *testing.T, frame []byte, g GSO) []byte {
	t.Helper()
	out := [][]byte{make([]byte, len(frame))}
	if _, err := Split(frame, GSO{CsumStart: g.CsumStart, CsumOffset: g.CsumOffset, NeedsCsum: true}, out, make([]int, 1), 0); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// TestCoalesceUndoesSplit: segments split from a super-frame coalesce back
// into one super-frame with the same payload, headers and PSH, and a GSO
// description for the kernel.
func TestCoalesceUndoesSplit(t *testing.T) {
	payload := make([]byte, 20000)
	for i := range payload {
		payload[i] = byte(i * 13)
	}
	for _, tt := range []struct {
		name string
		v6   bool
		mss  int
		n    int
	}{
		{"IPv4, last short", false, 1448, 20000},
		{"IPv4, odd MSS", false, 1001, 9001},
		{"IPv6", true, 1428, 20000},
		{"IPv4, exact multiple", false, 1000, 10000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			frame, g := superFrame(t, tt.v6, false, payload[:tt.n], func(l *layers.TCP) { l.PSH = true })
			g.Size = tt.mss
			segs := splitAll(t, frame, g)
			dst := make([]byte, 70000)
			taken, size, cg, err := Coalesce(segs, dst)
			if taken != len(segs) || err != nil {
				t.Fatalf("took %d of %d segments, %v", taken, len(segs), err)
			}
			if cg.Size != tt.mss || cg.Type != g.Type || !cg.NeedsCsum || cg.CsumStart != g.CsumStart || cg.CsumOffset != 16 {
				t.Errorf("GSO = %+v; want size %d, type %d, checksum at %d+16", cg, tt.mss, g.Type, g.CsumStart)
			}
			whole := checkSegment(t, finish(t, dst[:size], cg))
			tcp := whole.Layer(layers.LayerTypeTCP).(*layers.TCP)
			orig := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
			if !bytes.Equal(tcp.Payload, payload[:tt.n]) || tcp.Seq != orig.Seq || !tcp.PSH || !tcp.ACK {
				t.Errorf("coalesced: %d payload bytes, seq %d, PSH %v; want %d, %d, true", len(tcp.Payload), tcp.Seq, tcp.PSH, tt.n, orig.Seq)
			}
		})
	}
}

func TestCoalesceStops(t *testing.T) {
	frame, g := superFrame(t, false, false, make([]byte, 5000), nil)
	g.Size = 1000
	tests := []struct {
		name   string
		change func(segs [][]byte)
		want   int   // segments taken
		err    error // Coalesce's error
	}{
		{"all five", func([][]byte) {}, 5, nil},
		{"a gap in the sequence", func(s [][]byte) { bumpSeq(s[2], 1) }, 2, nil},
		{"another flow", func(s [][]byte) { s[3][v4TCP+1]++; resum(s[3]) }, 3, nil},
		{"PSH in the middle", func(s [][]byte) { addFlags(s[1], header.TCPFlagPSH) }, 2, nil},
		{"FIN", func(s [][]byte) { addFlags(s[2], header.TCPFlagFIN) }, 2, nil},
		{"another TTL", func(s [][]byte) { s[4][header.EthernetLen+8]-- }, 4, nil},
		{"a first segment alone", func(s [][]byte) { bumpSeq(s[1], 7) }, 1, nil},
		{"fragments", func(s [][]byte) { forEach(s, func(f []byte) { f[header.EthernetLen+6] |= 0x20 }) }, 1, nil},
		{"not TCP", func(s [][]byte) {
			forEach(s, func(f []byte) { f[header.EthernetLen+header.IPv4ProtocolOffset] = header.ProtocolUDP })
		}, 1, nil},
		{"a truncated frame", func(s [][]byte) { s[1] = s[1][:v4TCP] }, 1, nil},
		{"a segment without payload", func(s [][]byte) { s[3] = s[3][:v4TCP+header.TCP(s[3][v4TCP:]).DataOffset()] }, 3, nil},
		{"a corrupted payload", func(s [][]byte) { s[2][len(s[2])-1] ^= 0x10 }, 2, nil},
		{"a corrupted first segment", func(s [][]byte) { s[0][len(s[0])-7]++ }, 1, ErrChecksum},
		{"checksums left to offload", func(s [][]byte) { forEach(s, pseudoSumOnly) }, 1, ErrChecksum},
		{"a padded frame", func(s [][]byte) { s[4] = padded(s[4], 500, 6) }, 4, nil},
	}
	for _, tt := range tests {
		segs := splitAll(t, frame, g)
		tt.change(segs)
		taken, _, cg, err := Coalesce(segs, make([]byte, 70000))
		if taken != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("%s: took %d, %v; want %d, %v", tt.name, taken, err, tt.want, tt.err)
		}
		if tt.want == 1 && cg.Type != header.GSONone {
			t.Errorf("%s: a lone frame got GSO %+v; want none", tt.name, cg)
		}
	}
}

// v4TCP is where the TCP header starts in an IPv4 segment without options.
const v4TCP = header.EthernetLen + header.IPv4MinLen

func forEach(segs [][]byte, change func([]byte)) {
	for _, s := range segs {
		change(s)
	}
}

func bumpSeq(seg []byte, by uint32) {
	tcp := header.TCP(seg[v4TCP:])
	tcp.SetSeq(tcp.Seq() + by)
	resum(seg)
}

func addFlags(seg []byte, flags uint8) {
	tcp := header.TCP(seg[v4TCP:])
	tcp.SetFlags(tcp.Flags() | flags)
	resum(seg)
}

// resum recomputes the TCP checksum of an IPv4 segment after a change, so
// that a test case shows the change rather than a bad checksum.
func resum(seg []byte) {
	tcp := header.TCP(seg[v4TCP:])
	tcp.SetChecksum(0)
	tcp.SetChecksum(^fold(sum(tcp, pseudoSum(seg))))
}

// pseudoSum is the pseudo-header sum of an IPv4 TCP segment.
func pseudoSum(seg []byte) uint32 {
	ip := header.IPv4(seg[header.EthernetLen:])
	return sum(ip.Addresses(), 0) + header.ProtocolTCP + uint32(len(seg)-v4TCP)
}

// pseudoSumOnly leaves in a segment's checksum field the pseudo-header sum
// only, as a kernel VTEP whose underlay is a veth sends it: the rest of
// the sum was left to an offload that nobody performs.
func pseudoSumOnly(seg []byte) {
	header.TCP(seg[v4TCP:]).SetChecksum(fold(pseudoSum(seg)))
}

// padded cuts seg's payload to n bytes, with correct lengths and sums, and
// pads the frame with pad zero bytes after its IP packet, as an Ethernet
// frame shorter than the minimum is padded on the wire.
func padded(seg []byte, n, pad int) []byte {
	seg = seg[:v4TCP+header.TCP(seg[v4TCP:]).DataOffset()+n]
	ip := header.IPv4(seg[header.EthernetLen:])
	ip.SetTotalLen(uint16(len(seg) - header.EthernetLen))
	ip.SetChecksum(0)
	ip.SetChecksum(^fold(sum(ip.Header(), 0)))
	resum(seg)
	return append(seg, make([]byte, pad)...)
}

func TestCoalesceAllocs(t *testing.T) {
	frame, g := superFrame(t, false, false, make([]byte, 30000), nil)
	g.Size = 1448
	segs := splitAll(t, frame, g)
	dst := make([]byte, 70000)
	if n := testing.AllocsPerRun(100, func() { Coalesce(segs, dst) }); n != 0 {
		t.Errorf("Coalesce allocates %v times per call; want 0", n)
	}
}

func BenchmarkCoalesce(b *testing.B) {
	frame, g := superFrame(b, false, false, make([]byte, 64000), nil)
	g.Size = 1448
	dst, sizes := segmentBuffers()
	n, _ := Split(frame, g, dst, sizes, 0)
	segs := make([][]byte, n)
	for i := range n {
		segs[i] = dst[i][:sizes[i]]
	}
	out := make([]byte, 70000)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		Coalesce(segs, out)
	}
}

// FuzzCoalesce: arbitrary frames never make Coalesce panic, and what it
// builds fits dst.
func FuzzCoalesce(f *testing.F) {
	frame, _ := superFrame(f, false, false, make([]byte, 100), nil)
	f.Add(frame, frame)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a) == 0 {
			return
		}
		dst := make([]byte, 4096)
		taken, size, _, err := Coalesce([][]byte{a, b}, dst)
		if taken < 1 || taken > 2 || size > len(dst) || err != nil && taken != 1 {
			t.Fatalf("Coalesce = %d, %d, %v", taken, size, err)
		}
	})
}
