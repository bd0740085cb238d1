//go:build linux

package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// Two hosts running weftd, a container on each (must-show 1, 5 and 6).
func TestTwoWeftHosts(t *testing.T) {
	lab := newLab(t, "we2e-two")
	h1, h2 := host(t, lab, "h1", 1), host(t, lab, "h2", 2)
	cli(t, h1, "network", "create", "--vni", "42", "--peer", h2.IP.String(), "--subnet", "198.19.1.0/24", "net1")
	cli(t, h2, "network", "create", "--vni", "42", "--peer", h1.IP.String(), "--subnet", "198.19.1.0/24", "net1")
	c1 := container(t, h1, "c1", "net1", "198.19.1.2")
	c2 := container(t, h2, "c2", "net1", "198.19.1.3")

	mtu := networkMTU(t, h1, "net1")
	if want := 1500 - 50; mtu != want {
		t.Fatalf("overlay MTU on a 1500-byte underlay: got %d; want %d", mtu, want)
	}
	crossTraffic(t, lab, c1, c2, mtu)
	t.Run("garbage on 4789 is dropped, counted, and forwarding goes on", func(t *testing.T) {
		checkGarbage(t, h1, h2, 42, "net1")
		ping(t, c1, "198.19.1.3")
	})
	t.Run("a restarted weftd keeps its networks and attachments", func(t *testing.T) {
		// c3 goes away without a detach: the restarted daemon forgets it.
		c3 := container(t, h1, "c3", "net1", "198.19.1.4")
		if err := lab.DeleteNetns(c3); err != nil {
			t.Fatal(err)
		}
		h1.Stop()
		restarted, err := h1.StartWeftd() // the same host, state directory and socket
		if err != nil {
			t.Fatal(err)
		}
		dumpLogsOnFailure(t, restarted)
		var ns []api.Network
		if err := json.Unmarshal([]byte(cli(t, restarted, "network", "inspect", "net1")), &ns); err != nil {
			t.Fatal(err)
		}
		if len(ns[0].Containers) != 1 {
			t.Fatalf("after restart net1 has %d containers; want 1 (c1)", len(ns[0].Containers))
		}
		for _, ep := range ns[0].Containers {
			if ep.Name != "c1" || ep.IPv4Address != "198.19.1.2/24" {
				t.Fatalf("after restart: got %s %s; want c1 198.19.1.2/24", ep.Name, ep.IPv4Address)
			}
		}
		ping(t, c1, "198.19.1.3")
		ping(t, c2, "198.19.1.2")
		container(t, restarted, "c4", "net1", "198.19.1.4") // c3's address is free again
	})
	t.Run("a namespace deleted while weftd runs is forgotten", func(t *testing.T) {
		// Its resolver's sockets must not keep it (and its veth) alive.
		c5 := container(t, h1, "c5", "net1", "198.19.1.5")
		ping(t, c2, "198.19.1.5")
		if err := lab.DeleteNetns(c5); err != nil {
			t.Fatal(err)
		}
		gone := poll.Wait(8*time.Second, func() bool {
			var ns []api.Network
			out, err := h1.CLI("network", "inspect", "net1")
			return err == nil && json.Unmarshal([]byte(out), &ns) == nil && len(ns[0].Containers) == 2
		})
		if !gone {
			t.Fatalf("c5 still attached 8 s after its namespace was deleted:\n%s", cli(t, h1, "network", "inspect", "net1"))
		}
		if out, err := nstest.Exec(c2, "ping", "-c", "1", "-W", "1", "198.19.1.5"); err == nil {
			t.Errorf("198.19.1.5 still answers after its namespace was deleted:\n%s", out)
		}
		container(t, h1, "c6", "net1", "198.19.1.5") // the address is free again
	})
}

// One host with weftd, the other with the kernel's VXLAN (must-show 2).
func TestKernelVXLANInterop(t *testing.T) {
	lab := newLab(t, "we2e-kern")
	h1 := host(t, lab, "h1", 1)
	h2, err := lab.Host("h2", underlay(2))
	if err != nil {
		t.Fatal(err)
	}
	cli(t, h1, "network", "create", "--vni", "42", "--peer", h2.IP.String(), "--subnet", "198.19.1.0/24", "net1")
	c1 := container(t, h1, "c1", "net1", "198.19.1.2")
	mtu := networkMTU(t, h1, "net1")
	br, err := h2.KernelVXLAN(42, mtu, h1.IP)
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.ChecksumInSoftware(); err != nil {
		t.Fatal(err)
	}
	c2, err := lab.Container("c2")
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.KernelAttach(br, c2, netipPrefix("198.19.1.3/24"), mtu); err != nil {
		t.Fatal(err)
	}

	crossTraffic(t, lab, c1, c2, mtu)
}

// crossTraffic checks that containers c1 (198.19.1.2) and c2 (198.19.1.3) on
// different hosts talk both ways: ping, TCP, and frames of the full MTU, with
// a DF ping one byte larger failing at the sender.
func crossTraffic(t *testing.T, lab *nstest.Lab, c1, c2 string, mtu int) {
	t.Run("ping both ways", func(t *testing.T) {
		ping(t, c1, "198.19.1.3")
		ping(t, c2, "198.19.1.2")
	})
	t.Run("TCP both ways", func(t *testing.T) {
		iperf(t, lab, c2, "198.19.1.3", c1, false)
		iperf(t, lab, c2, "198.19.1.3", c1, true)
	})
	t.Run("full MTU passes both ways and a larger DF ping fails at the sender", func(t *testing.T) {
		checkMTU(t, c1, "198.19.1.3", mtu)
		checkMTU(t, c2, "198.19.1.2", mtu)
	})
}

func networkMTU(t *testing.T, d *nstest.Weftd, name string) int {
	t.Helper()
	var ns []api.Network
	if err := json.Unmarshal([]byte(cli(t, d, "network", "inspect", name)), &ns); err != nil || len(ns) != 1 {
		t.Fatalf("network inspect %s: %v", name, err)
	}
	return ns[0].MTU
}

// checkMTU shows that a DF ping filling the MTU exactly gets through, and one
// byte more fails at the sender with "message too long".
func checkMTU(t *testing.T, ns, dst string, mtu int) {
	t.Helper()
	payload := mtu - 28 // IPv4 and ICMP headers
	ping(t, ns, dst, "-M", "do", "-s", fmt.Sprint(payload))
	out, err := nstest.Exec(ns, "ping", "-c", "1", "-W", "1", "-M", "do", "-s", fmt.Sprint(payload+1), dst)
	if err == nil || !strings.Contains(out, "message too long") {
		t.Fatalf("ping of %d bytes with DF over MTU %d: got err=%v, output:\n%s\nwant a local \"message too long\"", payload+1, mtu, err, out)
	}
}

// checkGarbage sends malformed datagrams from peer to d's data port and checks
// that each is counted under its reason, exactly.
func checkGarbage(t *testing.T, d, peer *nstest.Weftd, vni uint32, network string) {
	t.Helper()
	const each = 5
	frame := make([]byte, 60) // a broadcast frame, as far as the header goes
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00})
	hdr := func(flags uint32, vni uint32) []byte {
		h := make([]byte, 8)
		binary.BigEndian.PutUint32(h, flags)
		binary.BigEndian.PutUint32(h[4:], vni<<8)
		return h
	}
	netKey := func(reason string) string {
		return fmt.Sprintf(`weft_network_drops_total{network=%q,reason=%q,vni="%d"}`, network, reason, vni)
	}
	cases := []struct {
		key string
		pkt []byte
	}{
		{`weft_underlay_drops_total{reason="short"}`, []byte{0x08, 0, 0}},
		{`weft_underlay_drops_total{reason="bad_flags"}`, append(hdr(0x0c000000, vni), frame...)},
		{`weft_underlay_drops_total{reason="unknown_vni"}`, append(hdr(0x08000000, 999), frame...)},
		{`weft_underlay_drops_total{reason="truncated"}`, append(hdr(0x08000000, vni), frame[:5]...)},
		{netKey("oversize"), append(hdr(0x08000000, vni), make([]byte, 1500)...)},
	}
	before, err := d.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		pkts := make([][]byte, each)
		for i := range pkts {
			pkts[i] = c.pkt
		}
		if err := nstest.SendUDP(peer.NS, d.IP.String()+":4789", pkts...); err != nil {
			t.Fatal(err)
		}
	}
	// One underlay socket reads the datagrams in the order sent: once the
	// last case is counted, so are the others, as often as they will be.
	var after map[string]float64
	last := cases[len(cases)-1].key
	poll.Wait(3*time.Second, func() bool {
		after, err = d.Metrics()
		return err != nil || after[last]-before[last] >= each
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if _, ok := after[c.key]; !ok {
			t.Errorf("metric %s not exported", c.key)
			continue
		}
		if got := after[c.key] - before[c.key]; got != each {
			t.Errorf("%s rose by %v; want %d", c.key, got, each)
		}
	}
}
