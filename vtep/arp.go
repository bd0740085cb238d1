package vtep

import (
	"net/netip"

	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/header"
)

// parseARP returns the ARP packet in an Ethernet frame, if the frame is an
// untagged IPv4-over-Ethernet ARP packet.
func parseARP(frame []byte) (header.ARP, bool) {
	eth, ok := header.ParseEthernet(frame)
	if !ok || eth.Type() != header.EtherTypeARP {
		return nil, false
	}
	return header.ParseARP(eth.Payload())
}

// answerARP turns an ARP request frame, in place, into the reply that the
// owner of its target address, mac, would send back.
func answerARP(frame []byte, a header.ARP, mac fdb.MAC) {
	reqMAC, reqIP, target := a.SenderMAC(), a.SenderIP(), a.TargetIP()
	eth := header.Ethernet(frame)
	eth.SetDestination(reqMAC)
	eth.SetSource(mac)
	a.SetOp(header.ARPReply)
	a.SetSenderMAC(mac)
	a.SetSenderIP(target)
	a.SetTargetMAC(reqMAC)
	a.SetTargetIP(reqIP)
}

// gratuitousARP builds the broadcast ARP request that mac sends to announce
// that it now owns ip (sender and target address both ip), padded to the
// Ethernet minimum.
func gratuitousARP(ip netip.Addr, mac fdb.MAC) []byte {
	f := make([]byte, 60)
	eth := header.Ethernet(f)
	eth.SetDestination([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	eth.SetSource(mac)
	eth.SetType(header.EtherTypeARP)
	a := header.ARP(eth.Payload())
	a.Init(header.ARPRequest)
	a.SetSenderMAC(mac)
	a.SetSenderIP(ip)
	a.SetTargetIP(ip)
	return f
}
