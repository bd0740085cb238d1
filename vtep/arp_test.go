package vtep

import (
	"testing"

	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/header"
)

// FuzzParseARP feeds arbitrary frames to the ARP parser and, for every
// request it accepts, checks that the answer built in place is the reply the
// target would send.
func FuzzParseARP(f *testing.F) {
	f.Add(arpRequest(macA, ipA, ipB))
	f.Add(arpReply(macA, ipA, macB, ipB))
	f.Add(ether(bcast, macA, 1, 60))
	f.Add([]byte{})
	owner := fdb.MAC{0x02, 0xaa, 0, 0, 0, 1}
	f.Fuzz(func(t *testing.T, frame []byte) {
		a, ok := parseARP(frame)
		if !ok || a.Op() != header.ARPRequest {
			return
		}
		reqMAC, reqIP, target := fdb.MAC(a.SenderMAC()), a.SenderIP(), a.TargetIP()
		answerARP(frame, a, owner)
		r, ok := parseARP(frame)
		switch {
		case !ok:
			t.Fatal("the answer does not parse as ARP")
		case r.Op() != header.ARPReply:
			t.Fatalf("op: got %d; want %d", r.Op(), header.ARPReply)
		case r.SenderMAC() != owner || r.SenderIP() != target:
			t.Fatalf("sender: got %v %v; want %v %v", fdb.MAC(r.SenderMAC()), r.SenderIP(), owner, target)
		case r.TargetMAC() != reqMAC || r.TargetIP() != reqIP:
			t.Fatalf("target: got %v %v; want %v %v", fdb.MAC(r.TargetMAC()), r.TargetIP(), reqMAC, reqIP)
		case fdb.MAC(frame[0:6]) != reqMAC || fdb.MAC(frame[6:12]) != owner:
			t.Fatalf("addressing: got dst %x src %x; want dst %v src %v", frame[0:6], frame[6:12], reqMAC, owner)
		}
	})
}
