//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// inspectNet returns d's inspect of a network, with its SAs if keys.
func inspectNet(t *testing.T, d *nstest.Weftd, network string, keys bool) api.Network {
	t.Helper()
	args := []string{"network", "inspect", network}
	if keys {
		args = append(args, "--show-keys")
	}
	var ns []api.Network
	if err := json.Unmarshal([]byte(cli(t, d, args...)), &ns); err != nil || len(ns) != 1 {
		t.Fatalf("network inspect %s on %s: %v", network, d.Name, err)
	}
	return ns[0]
}

// dropCount reads one drop counter of d.
func dropCount(t *testing.T, d *nstest.Weftd, key string) float64 {
	t.Helper()
	m, err := d.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m[key]
}

// An encrypted network between two hosts (must-shows 1 to 3, and the
// figure of 6): containers ping and transfer; the underlay carries ESP
// only, never cleartext VXLAN or the inner payload; Wireshark's stock ESP
// dissector decrypts it with the SAs weft exports; a replayed datagram, a
// cleartext VXLAN frame and an unknown SPI are dropped and counted.
func TestEncryptedNetwork(t *testing.T) {
	lab := newLab(t, "we2e-esp")
	hosts := newCluster(t, lab, 2)
	h1, h2 := hosts[0], hosts[1]
	cli(t, h1, "network", "create", "--attachable", "--opt", "encrypted", "--subnet", "198.19.12.0/24", "secret")
	cli(t, h1, "network", "create", "--attachable", "--subnet", "198.19.13.0/24", "open")
	sec := inspectNet(t, h1, "secret", false)
	if !sec.Encrypted || sec.MTU != 1500-50-wcrypto.Overhead {
		t.Fatalf("inspect secret: Encrypted %v MTU %d; want true, %d", sec.Encrypted, sec.MTU, 1500-50-wcrypto.Overhead)
	}
	c1 := container(t, h1, "c1", "secret", "198.19.12.11")
	c2 := container(t, h2, "c2", "secret", "198.19.12.12")
	o1 := container(t, h1, "o1", "open", "198.19.13.11")
	o2 := container(t, h2, "o2", "open", "198.19.13.12")

	// The keys come from the managers within a second of the attach.
	if !poll.Wait(5*time.Second, func() bool {
		_, err := nstest.Exec(c1, "ping", "-c", "1", "-W", "1", "198.19.12.12")
		return err == nil
	}) {
		t.Fatalf("c1 cannot reach c2 on the encrypted network")
	}
	capture, err := lab.StartCapture(h1.NS, "eth0", "underlay", "udp", "port", "4789")
	if err != nil {
		t.Fatal(err)
	}
	const pattern = "c0ffee15deadbeef"
	ping(t, c1, "198.19.12.12", "-p", pattern)
	ping(t, c2, "198.19.12.11", "-p", pattern)
	checkMTU(t, c1, "198.19.12.12", sec.MTU)
	ping(t, o1, "198.19.13.12", "-p", pattern) // the plaintext network, for contrast
	// tcpdump writes packets in the order it sees them: once the last of
	// them, h2's third reply to o1 (in the clear, with the pattern), is in
	// the file, every earlier one is too.
	pat, _ := hex.DecodeString(pattern)
	poll.Until(t, 5*time.Second, "tcpdump to write h2's replies to o1", func() bool {
		pkts, err := nstest.ReadUDP(capture.Path) // fails on a packet half written
		replies := 0
		for _, p := range pkts {
			if p.Src.Addr() == h2.IP && bytes.Contains(p.Payload, pat) {
				replies++
			}
		}
		return err == nil && replies >= 3
	})
	if err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	sas := inspectNet(t, h1, "secret", true).SAs
	pkts, err := nstest.ReadUDP(capture.Path)
	if err != nil {
		t.Fatal(err)
	}
	secretVNI := sec.VNI
	var sealed []nstest.UDPPacket
	for _, p := range pkts {
		if len(p.Payload) >= 8 && binary.BigEndian.Uint32(p.Payload) == wcrypto.VXLANFlags {
			if vni := binary.BigEndian.Uint32(p.Payload[4:]) >> 8; vni == secretVNI {
				t.Fatalf("cleartext VXLAN of the encrypted network on the underlay: %x", p.Payload[:16])
			}
			continue // the plaintext network
		}
		if bytes.Contains(p.Payload, pat) {
			t.Fatalf("the ping payload pattern crossed the underlay in the clear")
		}
		sealed = append(sealed, p)
	}
	t.Logf("capture: %d datagrams, %d sealed", len(pkts), len(sealed))
	if len(sealed) == 0 {
		t.Fatalf("no ESP datagram captured")
	}

	if dir := os.Getenv("WEFT_KEEP_CAPTURE"); dir != "" {
		b, _ := os.ReadFile(capture.Path)
		_ = os.WriteFile(filepath.Join(dir, "esp.pcap"), b, 0o644)
		j, _ := json.Marshal(sas)
		_ = os.WriteFile(filepath.Join(dir, "sas.json"), j, 0o644)
	}
	t.Run("a stock ESP dissector decrypts the capture", func(t *testing.T) {
		tsharkDecrypts(t, capture.Path, sas)
	})
	t.Run("a replayed datagram is dropped and counted", func(t *testing.T) {
		var replay []byte
		for _, p := range sealed {
			if p.Dst.Addr() == h1.IP {
				replay = p.Payload
			}
		}
		key := `weft_network_drops_total{network="secret",reason="replay",vni="` + fmt.Sprint(secretVNI) + `"}`
		before := dropCount(t, h1, key)
		if err := nstest.SendUDP(h2.NS, h1.IP.String()+":4789", replay, replay); err != nil {
			t.Fatal(err)
		}
		if !poll.Wait(2*time.Second, func() bool { return dropCount(t, h1, key) >= before+2 }) {
			t.Errorf("%s: %v before, %v after two replays; want +2", key, before, dropCount(t, h1, key))
		}
	})
	t.Run("cleartext VXLAN and unknown SPIs are dropped and counted", func(t *testing.T) {
		frame := make([]byte, 60)
		copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06})
		clear := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, wcrypto.VXLANFlags), secretVNI<<8)
		clear = append(clear, frame...)
		bogus := append([]byte{0x7e, 0x57, 0x5b, 0x1d, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, make([]byte, 80)...)
		cleartext := `weft_network_drops_total{network="secret",reason="cleartext",vni="` + fmt.Sprint(secretVNI) + `"}`
		unknown := `weft_underlay_drops_total{reason="unknown_spi"}`
		c0, u0 := dropCount(t, h1, cleartext), dropCount(t, h1, unknown)
		if err := nstest.SendUDP(h2.NS, h1.IP.String()+":4789", clear, clear, clear, bogus, bogus); err != nil {
			t.Fatal(err)
		}
		if !poll.Wait(2*time.Second, func() bool { return dropCount(t, h1, cleartext) >= c0+3 && dropCount(t, h1, unknown) >= u0+2 }) {
			t.Errorf("cleartext %v→%v (want +3), unknown_spi %v→%v (want +2)", c0, dropCount(t, h1, cleartext), u0, dropCount(t, h1, unknown))
		}
		ping(t, c1, "198.19.12.12") // and the network goes on
	})
	t.Run("iperf3 through the encrypted and the plaintext network", func(t *testing.T) {
		encrypted := iperf(t, lab, c2, "198.19.12.12", c1, false)
		plain := iperf(t, lab, o2, "198.19.13.12", o1, false)
		t.Logf("iperf3 TCP, one run: encrypted %.0f Mbit/s, plaintext %.0f Mbit/s (ratio %.2f)", encrypted/1e6, plain/1e6, encrypted/plain)
	})
}

// tsharkDecrypts runs tshark's stock ESP dissector on a capture, with the
// SAs as its SA table, and checks that the decrypted payloads hold the
// containers' ICMP echoes. tshark decrypts in the first pass; the payload
// it decrypts is a VXLAN header and the inner frame, which no IP protocol
// number names, so a second pass hands those bytes to tshark's stock VXLAN
// dissector as UDP 4789 datagrams.
func tsharkDecrypts(t *testing.T, pcap string, sas []api.SA) {
	t.Helper()
	if len(sas) == 0 {
		t.Fatal("no SA exported")
	}
	args := []string{"-n", "-r", pcap, "-d", "udp.port==4789,udpencap", "-o", "esp.enable_encryption_decode:TRUE"}
	for _, sa := range sas {
		args = append(args, "-o", fmt.Sprintf(`uat:esp_sa:"IPv4","%s","%s","%s","%s","%s","NULL",""`, sa.Src, sa.Dst, sa.SPI, sa.Algorithm, sa.Key))
	}
	out, err := nstest.Run("tshark", append(args, "-T", "fields", "-e", "esp.spi", "-e", "esp.protocol", "-e", "esp.contained_data")...)
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, tail(out, 20))
	}
	var payloads [][]byte
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue // a line of tshark's own, or a datagram it did not decrypt
		}
		b, err := hex.DecodeString(f[2])
		if err != nil || len(b) < 8 || binary.BigEndian.Uint32(b) != wcrypto.VXLANFlags {
			t.Fatalf("tshark decrypted %q into something other than a VXLAN header and a frame", line)
		}
		payloads = append(payloads, b)
	}
	if len(payloads) == 0 {
		t.Fatalf("tshark decrypted nothing:\n%s", tail(out, 20))
	}
	inner := filepath.Join(filepath.Dir(pcap), "decrypted.pcap")
	vxlan := netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), 4789)
	if err := nstest.WriteUDP(inner, vxlan, vxlan, payloads); err != nil {
		t.Fatal(err)
	}
	out, err = nstest.Run("tshark", "-n", "-r", inner, "-Y", "icmp.type == 8 && ip.src == 198.19.12.11")
	if err != nil || !strings.Contains(out, "Echo (ping) request") {
		t.Fatalf("tshark shows no inner ICMP echo in the decrypted payloads: %v\n%s", err, tail(out, 20))
	}
	example := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Echo (ping) request") {
			example = strings.TrimSpace(line)
			break
		}
	}
	t.Logf("tshark decrypted %d ESP datagrams; inner echo requests: %d, e.g. %s", len(payloads), strings.Count(out, "Echo (ping) request"), example)
}

// maxGeneration returns the newest key generation among d's SAs of a network.
func maxGeneration(t *testing.T, d *nstest.Weftd, network string) uint64 {
	t.Helper()
	var g uint64
	for _, sa := range inspectNet(t, d, network, true).SAs {
		g = max(g, sa.Generation)
	}
	return g
}

// Five data key rotations, seconds apart, during a ping at 100 packets/s
// and an iperf3 transfer: no ping is lost, the transfer never stalls, and
// no frame is dropped for want of a key or as unauthentic (must-show 4).
// The transfer runs at 300 Mbit/s rather than flat out: a saturating TCP
// flow fills the TAP's queue, where the kernel drops whatever comes next,
// a ping included, keys or no keys.
func TestDataKeyRotationLosesNothing(t *testing.T) {
	lab := newLab(t, "we2e-rot")
	hosts := newCluster(t, lab, 2, "--data-key-rotation", "3s")
	h1, h2 := hosts[0], hosts[1]
	cli(t, h1, "network", "create", "--attachable", "--encrypted", "--subnet", "198.19.14.0/24", "secret")
	c1 := container(t, h1, "c1", "secret", "198.19.14.11")
	c2 := container(t, h2, "c2", "secret", "198.19.14.12")
	if !poll.Wait(5*time.Second, func() bool {
		_, err := nstest.Exec(c1, "ping", "-c", "1", "-W", "1", "198.19.14.12")
		return err == nil
	}) {
		t.Fatalf("c1 cannot reach c2 on the encrypted network")
	}
	gen0 := maxGeneration(t, h1, "secret")
	drops0 := make([]map[string]float64, len(hosts))
	for i, h := range hosts {
		drops0[i] = map[string]float64{}
		for _, key := range sealDrops(h) {
			drops0[i][key] = dropCount(t, h, key)
		}
	}

	port := "5390"
	if _, err := lab.Start(c2, filepath.Join(lab.Dir(), "iperf3-server.log"), "iperf3", "-s", "-1", "-B", "198.19.14.12", "-p", port); err != nil {
		t.Fatal(err)
	}
	if err := nstest.WaitListening(context.Background(), c2, 5390, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	clientLog := filepath.Join(lab.Dir(), "iperf3-client.json")
	client, err := lab.Start(c1, clientLog, "timeout", "60", "iperf3", "-c", "198.19.14.12", "-p", port, "-t", "22", "-i", "1", "-b", "300M", "-J")
	if err != nil {
		t.Fatal(err)
	}
	pinged := make(chan string, 1)
	go func() {
		out, _ := nstest.Exec(c1, "ping", "-c", "2000", "-i", "0.01", "-W", "1", "-q", "198.19.14.12")
		pinged <- out
	}()
	start := time.Now()
	if !poll.Wait(30*time.Second, func() bool { return maxGeneration(t, h1, "secret") >= gen0+5 }) {
		t.Errorf("only %d rotations in 30 s; want 5", maxGeneration(t, h1, "secret")-gen0)
	}
	t.Logf("5 rotations in %v (generation %d to %d)", time.Since(start).Round(100*time.Millisecond), gen0, maxGeneration(t, h1, "secret"))
	sending := func() uint64 { // the generation h1 seals with
		for _, sa := range inspectNet(t, h1, "secret", true).SAs {
			if sa.Direction == "out" && sa.Active {
				return sa.Generation
			}
		}
		return 0
	}
	if !poll.Wait(3*time.Second, func() bool { return sending() >= gen0+5 }) {
		t.Errorf("h1 still seals with generation %d; want %d", sending(), gen0+5)
	}

	out := <-pinged
	for i, h := range hosts {
		for _, key := range sealDrops(h) {
			if got := dropCount(t, h, key); got != drops0[i][key] {
				t.Errorf("%s: %s moved from %v to %v across the rotations; want no drop", h.Name, key, drops0[i][key], got)
			}
		}
	}
	if !strings.Contains(out, "2000 packets transmitted, 2000 received") {
		t.Errorf("ping at 100/s across the rotations lost packets:\n%s", out)
	} else if _, stats, ok := strings.Cut(out, "--- "); ok {
		t.Logf("ping: %s", strings.TrimSpace(stats))
	}
	_ = client.Wait()
	var res struct {
		Intervals []struct {
			Sum struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum"`
		} `json:"intervals"`
	}
	b, _ := os.ReadFile(clientLog)
	if err := json.Unmarshal(b, &res); err != nil || len(res.Intervals) < 20 {
		t.Fatalf("iperf3 output: %v, %d intervals\n%s", err, len(res.Intervals), tail(string(b), 20))
	}
	lowest := res.Intervals[0].Sum.BitsPerSecond
	for _, iv := range res.Intervals {
		lowest = min(lowest, iv.Sum.BitsPerSecond)
	}
	t.Logf("iperf3 across the rotations: %d one-second intervals, the slowest %.0f Mbit/s", len(res.Intervals), lowest/1e6)
	if lowest < 1e6 {
		t.Errorf("the transfer stalled: a one-second interval carried %.0f bit/s", lowest)
	}
}

// sealDrops names the drop counters that a key rotation could move.
func sealDrops(h *nstest.Weftd) []string {
	var keys []string
	for _, r := range []string{"no_key", "replay", "bad_tag", "malformed", "cleartext"} {
		keys = append(keys, `weft_network_drops_total{network="secret",reason="`+r+`",vni="4096"}`)
	}
	return append(keys, `weft_underlay_drops_total{reason="unknown_spi"}`)
}
