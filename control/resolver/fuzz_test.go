package resolver

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
)

// FuzzQuery feeds arbitrary bytes to the query path the server runs
// (unpack, answer, pack), over either transport, with no upstream (so
// nothing leaves the process). It must not panic, and a reply must parse,
// be a response, carry the query's ID and, over UDP, fit 4096 bytes.
func FuzzQuery(f *testing.F) {
	seed := []*dns.Msg{
		question("web.", dns.TypeA),
		question("web.anet.", dns.TypeAAAA),
		question("secret.bnet.", dns.TypeANY),
		question("2.0.0.10.in-addr.arpa.", dns.TypePTR),
		question(dnsReverse("fd00:a::2"), dns.TypePTR),
		question("example.com.", dns.TypeMX).SetEdns0(1232, true),
		question("shared.", dns.TypeA).SetEdns0(512, false),
	}
	for i, m := range seed {
		f.Add(mustPack(f, m), i%2 == 0)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, false)
	r := newResolver(f)
	r.SetZone(bigZone())
	networks := on("A", "big")
	f.Fuzz(func(t *testing.T, pkt []byte, tcp bool) {
		proto := protoUDP
		if tcp {
			proto = protoTCP
		}
		raw := r.respond(context.Background(), pkt, proto, networks, r.newQuota())
		if raw == nil {
			return
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(raw); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if id := binary.BigEndian.Uint16(pkt); resp.Id != id || !resp.Response {
			t.Fatalf("reply: got id %d QR=%v; want id %d QR", resp.Id, resp.Response, id)
		}
		if !tcp && len(raw) > maxUDPSize {
			t.Fatalf("UDP reply of %d bytes; want at most %d", len(raw), maxUDPSize)
		}
	})
}
