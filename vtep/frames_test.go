package vtep

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
)

// Overlay addresses of the test hosts: host X lives behind engine X.
var (
	macA   = fdb.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB   = fdb.MAC{0x02, 0, 0, 0, 0, 0x0b}
	macC   = fdb.MAC{0x02, 0, 0, 0, 0, 0x0c}
	macA2  = fdb.MAC{0x02, 0, 0, 0, 0, 0xa2} // a second host behind A
	bcast  = fdb.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mcast  = fdb.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	ipA    = netip.MustParseAddr("10.0.0.1")
	ipB    = netip.MustParseAddr("10.0.0.2")
	ipNone = netip.MustParseAddr("10.0.0.99") // owned by nobody
)

// etherTypeTest is the IEEE local experimental EtherType, used for data
// frames that no code path interprets.
const etherTypeTest = 0x88b5

// ether returns an Ethernet frame of n bytes (at least 14) from src to dst
// whose payload is id repeated.
func ether(dst, src fdb.MAC, id byte, n int) []byte {
	f := make([]byte, ethHeaderLen, n)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[etherTypeOff:], etherTypeTest)
	return append(f, bytes.Repeat([]byte{id}, n-ethHeaderLen)...)
}

// arpFrame returns an IPv4-over-Ethernet ARP frame (42 bytes) sent from sha to
// the Ethernet address dst.
func arpFrame(dst fdb.MAC, op uint16, sha fdb.MAC, spa netip.Addr, tha fdb.MAC, tpa netip.Addr) []byte {
	f := make([]byte, ethHeaderLen+arpLen)
	copy(f[0:6], dst[:])
	copy(f[6:12], sha[:])
	binary.BigEndian.PutUint16(f[etherTypeOff:], etherTypeARP)
	a := f[ethHeaderLen:]
	binary.BigEndian.PutUint16(a[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[arpSHA:], sha[:])
	copy(a[arpSPA:], spa.AsSlice())
	copy(a[arpTHA:], tha[:])
	copy(a[arpTPA:], tpa.AsSlice())
	return f
}

// arpRequest is who-has tpa, tell spa, broadcast from sha.
func arpRequest(sha fdb.MAC, spa, tpa netip.Addr) []byte {
	return arpFrame(bcast, arpOpRequest, sha, spa, fdb.MAC{}, tpa)
}

// arpReply is "spa is at sha", sent to the requester tha/tpa.
func arpReply(sha fdb.MAC, spa netip.Addr, tha fdb.MAC, tpa netip.Addr) []byte {
	return arpFrame(tha, arpOpReply, sha, spa, tha, tpa)
}

// vxlan returns frame behind a valid VXLAN header for vni.
func vxlan(vni uint32, frame []byte) []byte {
	pkt := append(make([]byte, encap.HeaderLen), frame...)
	return encap.Encap(pkt, encap.HeaderLen, vni)
}
