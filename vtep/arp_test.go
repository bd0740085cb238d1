package vtep

import (
	"testing"

	"github.com/weftnet/weft/fdb"
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
		if !ok || a.op() != arpOpRequest {
			return
		}
		reqMAC, reqIP, target := a.senderMAC(), a.senderIP(), a.targetIP()
		answerARP(frame, a, owner)
		r, ok := parseARP(frame)
		switch {
		case !ok:
			t.Fatal("the answer does not parse as ARP")
		case r.op() != arpOpReply:
			t.Fatalf("op: got %d; want %d", r.op(), arpOpReply)
		case r.senderMAC() != owner || r.senderIP() != target:
			t.Fatalf("sender: got %v %v; want %v %v", r.senderMAC(), r.senderIP(), owner, target)
		case r.targetIP() != reqIP || fdb.MAC(frame[0:6]) != reqMAC || fdb.MAC(frame[6:12]) != owner:
			t.Fatalf("addressing: got dst %x src %x tpa %v; want dst %v src %v tpa %v", frame[0:6], frame[6:12], r.targetIP(), reqMAC, owner, reqIP)
		}
	})
}
