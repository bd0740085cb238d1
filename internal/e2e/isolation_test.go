//go:build linux

package e2e

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// Two networks with different VNIs and the same subnet on overlapping sets of
// hosts: nothing crosses between them, and broadcast reaches every host of a
// network and no other (must-show 3 and 4).
func TestIsolationAndBroadcast(t *testing.T) {
	lab := newLab(t, "we2e-iso")
	h := map[int]*nstest.Weftd{}
	for i := 1; i <= 4; i++ {
		h[i] = host(t, lab, "h"+string(rune('0'+i)), i)
	}
	// Network A (VNI 100) on hosts 1, 2, 3; network B (VNI 200) on 1, 2, 4.
	members := map[string][]int{"A": {1, 2, 3}, "B": {1, 2, 4}}
	vnis := map[string]string{"A": "100", "B": "200"}
	containers := map[string]string{} // "a2" -> namespace
	for net, hosts := range members {
		for _, i := range hosts {
			args := []string{"network", "create", "--vni", vnis[net], "--subnet", "198.19.10.0/24"}
			for _, j := range hosts {
				if j != i {
					args = append(args, "--peer", underlay(j).String())
				}
			}
			cli(t, h[i], append(args, "net"+net)...)
			name := string(rune('a'+net[0]-'A')) + string(rune('0'+i))
			containers[name] = container(t, h[i], name, "net"+net, "198.19.10.1"+string(rune('0'+i)))
		}
	}
	listeners := map[string]*nstest.UDPListener{}
	for name, ns := range containers {
		l, err := nstest.ListenUDP(ns, 9000)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		listeners[name] = l
	}
	// expect waits until every container in got has received payload from
	// the container from, then checks that the ones in none have not. It
	// waits first for a marker that from broadcasts after payload to reach
	// the other containers of its network: the daemons that carry it have
	// then dealt with payload, a network's frames keeping their order.
	expect := func(t *testing.T, from, payload string, got, none []string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for _, name := range got {
			if !poll.Wait(time.Until(deadline), func() bool { return listeners[name].Received(payload) > 0 }) {
				t.Errorf("%s did not receive %q", name, payload)
			}
		}
		mark := "after " + payload
		send(t, containers[from], "198.19.10.255:9000", mark)
		for _, i := range members[strings.ToUpper(from[:1])] {
			if name := from[:1] + strconv.Itoa(i); name != from &&
				!poll.Wait(3*time.Second, func() bool { return listeners[name].Received(mark) > 0 }) {
				t.Fatalf("%s did not receive the marker %q", name, mark)
			}
		}
		for _, name := range none {
			if n := listeners[name].Received(payload); n != 0 {
				t.Errorf("%s received %q %d times; want 0", name, payload, n)
			}
		}
	}

	// rxOf sums what the daemons delivered into one network's containers: a
	// unicast frame that leaked into the other network would count there even
	// though the container's kernel, seeing a foreign MAC, drops it silently.
	rxOf := func(t *testing.T, net string) float64 {
		t.Helper()
		key := `weft_network_rx_packets_total{network="net` + net + `",vni="` + vnis[net] + `"}`
		sum := 0.0
		for _, i := range members[net] {
			m, err := h[i].Metrics()
			if err != nil {
				t.Fatal(err)
			}
			sum += m[key]
		}
		return sum
	}
	t.Run("unicast stays in its network", func(t *testing.T) {
		quietB := rxOf(t, "B")
		send(t, containers["a1"], "198.19.10.12:9000", "to-a2")
		expect(t, "a1", "to-a2", []string{"a2"}, []string{"b2", "b1", "b4", "a3"})
		if got := rxOf(t, "B"); got != quietB {
			t.Errorf("network B's hosts delivered %v frames while only A had traffic; want 0", got-quietB)
		}
		quietA := rxOf(t, "A")
		send(t, containers["b1"], "198.19.10.12:9000", "to-b2")
		expect(t, "b1", "to-b2", []string{"b2"}, []string{"a2", "a1", "a3", "b4"})
		if got := rxOf(t, "A"); got != quietA {
			t.Errorf("network A's hosts delivered %v frames while only B had traffic; want 0", got-quietA)
		}
	})
	t.Run("UDP broadcast reaches its network's hosts and no other", func(t *testing.T) {
		send(t, containers["a1"], "198.19.10.255:9000", "bcast-A")
		expect(t, "a1", "bcast-A", []string{"a2", "a3"}, []string{"b1", "b2", "b4"})
		send(t, containers["b4"], "198.19.10.255:9000", "bcast-B")
		expect(t, "b4", "bcast-B", []string{"b1", "b2"}, []string{"a1", "a2", "a3"})
	})
	t.Run("ARP reaches its network's hosts and no other", func(t *testing.T) {
		sniffers := map[string]*nstest.ARPSniffer{}
		for name, ns := range containers {
			s, err := nstest.SniffARP(ns, "eth0")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sniffers[name] = s
		}
		target := net.ParseIP("198.19.10.99") // nobody has it, so ARP asks everyone
		_, _ = nstest.Exec(containers["a1"], "ping", "-c", "1", "-W", "1", target.String())
		for _, name := range []string{"a2", "a3"} {
			if sniffers[name].Requests(target) == 0 {
				t.Errorf("%s saw no ARP request for %s", name, target)
			}
		}
		for _, name := range []string{"b1", "b2", "b4"} {
			if n := sniffers[name].Requests(target); n != 0 {
				t.Errorf("%s saw %d ARP requests for %s from the other network; want 0", name, n, target)
			}
		}
	})
}

func send(t *testing.T, ns, dst, payload string) {
	t.Helper()
	if err := nstest.SendUDP(ns, dst, []byte(payload)); err != nil {
		t.Fatal(err)
	}
}
