package vtep

import (
	"bytes"
	"net/netip"

	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/header"
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
	f := header.Ethernet(make([]byte, header.EthernetLen, n))
	f.SetDestination(dst)
	f.SetSource(src)
	f.SetType(etherTypeTest)
	return append(f, bytes.Repeat([]byte{id}, n-header.EthernetLen)...)
}

// arpFrame returns an IPv4-over-Ethernet ARP frame (42 bytes) sent from sha to
// the Ethernet address dst.
func arpFrame(dst fdb.MAC, op uint16, sha fdb.MAC, spa netip.Addr, tha fdb.MAC, tpa netip.Addr) []byte {
	f := header.Ethernet(make([]byte, header.EthernetLen+header.ARPLen))
	f.SetDestination(dst)
	f.SetSource(sha)
	f.SetType(header.EtherTypeARP)
	a := header.ARP(f.Payload())
	a.Init(op)
	a.SetSenderMAC(sha)
	a.SetSenderIP(spa)
	a.SetTargetMAC(tha)
	a.SetTargetIP(tpa)
	return f
}

// arpRequest is who-has tpa, tell spa, broadcast from sha.
func arpRequest(sha fdb.MAC, spa, tpa netip.Addr) []byte {
	return arpFrame(bcast, header.ARPRequest, sha, spa, fdb.MAC{}, tpa)
}

// arpReply is "spa is at sha", sent to the requester tha/tpa.
func arpReply(sha fdb.MAC, spa netip.Addr, tha fdb.MAC, tpa netip.Addr) []byte {
	return arpFrame(tha, header.ARPReply, sha, spa, tha, tpa)
}

// vxlan returns frame behind a valid VXLAN header for vni.
func vxlan(vni uint32, frame []byte) []byte {
	pkt := append(make([]byte, encap.HeaderLen), frame...)
	return encap.Encap(pkt, encap.HeaderLen, vni)
}
