//go:build linux

package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/weftnet/weft/internal/nstest"
)

// The fast path carries a TCP stream as super-frames end to end (issue 6):
// the sending TAP hands weftd segments of up to 64 KB, weftd sends each as
// one UDP_SEGMENT run that crosses the underlay as one packet, and the
// receiving weftd reads the run with UDP_GRO and writes the segments to its
// TAP coalesced again. Each step shows in a capture as IPv4 packets longer
// than the MTU of the link they cross.
func TestFastPathCarriesSuperFrames(t *testing.T) {
	if args := os.Getenv("WEFT_E2E_WEFTD_ARGS"); strings.Contains(args, "water") || strings.Contains(args, "offload=false") {
		t.Skipf("the fast path is off (WEFT_E2E_WEFTD_ARGS=%q)", args)
	}
	lab := newLab(t, "we2e-fast")
	h1, h2 := host(t, lab, "h1", 1), host(t, lab, "h2", 2)
	cli(t, h1, "network", "create", "--vni", "46", "--peer", h2.IP.String(), "--subnet", "198.19.6.0/24", "fast")
	cli(t, h2, "network", "create", "--vni", "46", "--peer", h1.IP.String(), "--subnet", "198.19.6.0/24", "fast")
	c1 := container(t, h1, "c1", "fast", "198.19.6.2")
	c2 := container(t, h2, "c2", "fast", "198.19.6.3")
	ping(t, c1, "198.19.6.3")
	mtu := networkMTU(t, h1, "fast")

	// -s 128: the headers are enough; the lengths come from the IP header.
	underlay, err := lab.StartCapture(h1.NS, "eth0", "fast-underlay", "-s", "128", "udp", "port", "4789")
	if err != nil {
		t.Fatal(err)
	}
	rxTap, err := lab.StartCapture(h2.NS, "wtap46", "fast-rx-tap", "-s", "128", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	bps := iperf(t, lab, c2, "198.19.6.3", c1, false)
	for _, c := range []*nstest.Capture{underlay, rxTap} {
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("iperf3 TCP over the fast path: %.0f Mbit/s", bps/1e6)

	for _, tc := range []struct {
		what  string
		path  string
		limit int
	}{
		{"underlay datagrams sent by h1 (UDP_SEGMENT runs)", underlay.Path, 1500},
		{"TCP frames h2's weftd wrote to its TAP (coalesced)", rxTap.Path, mtu},
	} {
		lengths, err := nstest.IPv4Lengths(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		longer, longest := 0, 0
		for _, l := range lengths {
			if l > tc.limit {
				longer++
			}
			longest = max(longest, l)
		}
		t.Logf("%s: %d of %d packets longer than %d bytes, the longest %d", tc.what, longer, len(lengths), tc.limit, longest)
		if longer == 0 {
			t.Errorf("%s: none of %d packets is longer than %d bytes; want super-frames", tc.what, len(lengths), tc.limit)
		}
	}
}
