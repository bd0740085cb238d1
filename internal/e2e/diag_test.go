//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// Two weftd hosts with two static-peer networks, diag1 and diag2, a
// container of each network on each host, and the diagnostics run on h1:
// peers, fdb, node inspect, version, and a capture of diag1 while both
// networks carry pings.
func TestDiagnostics(t *testing.T) {
	lab := newLab(t, "we2e-diag")
	h1, h2 := host(t, lab, "h1", 1), host(t, lab, "h2", 2)
	for _, p := range [][2]*nstest.Weftd{{h1, h2}, {h2, h1}} {
		cli(t, p[0], "network", "create", "--vni", "171", "--peer", p[1].IP.String(), "--subnet", "198.19.71.0/24", "diag1")
		cli(t, p[0], "network", "create", "--vni", "172", "--peer", p[1].IP.String(), "--subnet", "198.19.72.0/24", "diag2")
	}
	c1, _ := diagAttach(t, h1, "c1", "diag1", "198.19.71.2")
	c2, c2MAC := diagAttach(t, h2, "c2", "diag1", "198.19.71.3")
	d1, d1MAC := diagAttach(t, h1, "d1", "diag2", "198.19.72.2")
	_, d2MAC := diagAttach(t, h2, "d2", "diag2", "198.19.72.3")
	ping(t, c1, "198.19.71.3")
	ping(t, c2, "198.19.71.2")
	ping(t, d1, "198.19.72.3")

	t.Run("peers lists the other host as a peer of both networks", func(t *testing.T) {
		var peers []api.Peer
		diagJSON(t, cli(t, h1, "peers", "--format", "json"), &peers)
		if len(peers) != 1 {
			t.Fatalf("got %+v; want one peer, h2", peers)
		}
		p := peers[0]
		if p.VTEP != "198.18.0.2:4789" || p.State != api.PeerStatic || !slices.Equal(p.Networks, []string{"diag1", "diag2"}) {
			t.Errorf("got %+v; want 198.18.0.2:4789, static, diag1 and diag2", p)
		}
		if ago := time.Since(p.LastSeen); ago < 0 || ago > time.Minute {
			t.Errorf("last seen %v ago (%v); want a moment ago, after the pings", ago, p.LastSeen)
		}
		out := cli(t, h1, "peers")
		t.Logf("weft peers:\n%s", out)
		if !strings.Contains(out, "198.18.0.2:4789") || !strings.Contains(out, "diag1,diag2") {
			t.Errorf("table:\n%s\nwant the peer and its networks", out)
		}
	})

	t.Run("fdb shows the remote container at the other host", func(t *testing.T) {
		var tables []api.FDB
		diagJSON(t, cli(t, h1, "fdb", "--network", "diag1", "--format", "json"), &tables)
		if len(tables) != 1 || tables[0].Network != "diag1" || tables[0].VNI != 171 {
			t.Fatalf("got %+v; want diag1's table only", tables)
		}
		if !slices.ContainsFunc(tables[0].MACs, func(e api.FDBMAC) bool {
			return e.MAC == c2MAC && e.VTEP == "198.18.0.2:4789" && e.Type == api.FDBLearned
		}) {
			t.Errorf("MAC rows %+v; want %s at 198.18.0.2:4789, learned", tables[0].MACs, c2MAC)
		}
		if !slices.ContainsFunc(tables[0].IPs, func(e api.FDBIPToMAC) bool { return e.IP == "198.19.71.3" && e.MAC == c2MAC }) {
			t.Errorf("IP rows %+v; want 198.19.71.3 → %s", tables[0].IPs, c2MAC)
		}
		for _, e := range tables[0].MACs {
			if e.MAC == d2MAC {
				t.Errorf("diag1's table has diag2's container %s", d2MAC)
			}
		}
		out := cli(t, h1, "fdb", "--network", "diag1")
		t.Logf("weft fdb --network diag1:\n%s", out)
		if !strings.Contains(out, c2MAC) || !strings.Contains(out, "198.19.71.3") {
			t.Errorf("table:\n%s\nwant %s and 198.19.71.3", out, c2MAC)
		}
		if out, err := h1.CLI("fdb", "--network", "nosuch"); err == nil || !strings.Contains(out, "network nosuch not found") {
			t.Errorf("unknown network: %v\n%s\nwant an error naming it", err, out)
		}
	})

	t.Run("node inspect describes this standalone node", func(t *testing.T) {
		var nodes []api.NodeInfo
		diagJSON(t, cli(t, h1, "node", "inspect"), &nodes)
		if len(nodes) != 1 {
			t.Fatalf("got %+v; want this node", nodes)
		}
		n := nodes[0]
		if n.Role != api.RoleStandalone || !n.Self || n.Status != "Ready" || n.Addresses.DataPath != "198.18.0.1:4789" ||
			!slices.Equal(n.Networks, []string{"diag1", "diag2"}) || n.Version == "" {
			t.Errorf("got %+v", n)
		}
		var v struct{ Client, Server *api.Version }
		diagJSON(t, cli(t, h1, "version", "--format", "json"), &v)
		if v.Server == nil || v.Server.Version != n.Version || v.Client == nil || v.Client.APIVersion != api.APIVersion {
			t.Errorf("version: got client %+v server %+v; want both, the server's as node inspect's %q", v.Client, v.Server, n.Version)
		}
	})

	t.Run("capture holds diag1's pings and nothing of diag2", func(t *testing.T) {
		// Both networks carry pings for up to 20 s while diag1 is captured.
		for _, p := range [][2]string{{c1, "198.19.71.3"}, {d1, "198.19.72.3"}} {
			if _, err := lab.Start(p[0], filepath.Join(lab.Dir(), "ping-"+p[1]+".log"), "ping", "-i", "0.1", "-c", "200", "-W", "1", p[1]); err != nil {
				t.Fatal(err)
			}
		}
		file := filepath.Join(lab.Dir(), "diag1.pcap")
		out := cli(t, h1, "debug", "capture", "--network", "diag1", "-w", file, "--count", "10", "--duration", "15s")
		t.Logf("weft debug capture:\n%s", out)
		if !strings.Contains(out, "10 packets captured") {
			t.Errorf("capture output:\n%s\nwant 10 packets captured", out)
		}
		frames := diagFrames(t, file)
		if len(frames) != 10 {
			t.Fatalf("got %d frames; want 10", len(frames))
		}
		diagCheckFrames(t, frames, "198.19.71.2", "198.19.71.3", []string{d1MAC, d2MAC}, "198.19.72.")

		// The other network did carry pings meanwhile: the check above
		// could have failed. Captured to standard output this time.
		cmd := exec.Command(lab.Bin("weft"), "-H", "unix://"+h1.Socket, "debug", "capture", "--network", "diag2", "-w", "-", "-c", "4", "--duration", "15s")
		stdout, err := cmd.Output()
		if err != nil {
			t.Fatalf("capture of diag2 to stdout: %v", err)
		}
		other := filepath.Join(lab.Dir(), "diag2.pcap")
		if err := os.WriteFile(other, stdout, 0o644); err != nil {
			t.Fatal(err)
		}
		frames = diagFrames(t, other)
		if len(frames) != 4 {
			t.Fatalf("diag2: got %d frames; want 4", len(frames))
		}
		diagCheckFrames(t, frames, "198.19.72.2", "198.19.72.3", []string{c2MAC}, "198.19.71.")
	})

	t.Run("capture refuses clearly", func(t *testing.T) {
		file := filepath.Join(lab.Dir(), "none.pcap")
		if out, err := h1.CLI("debug", "capture", "--network", "nosuch", "-w", file, "-c", "1"); err == nil || !strings.Contains(out, "network nosuch not found") {
			t.Errorf("unknown network: %v\n%s\nwant an error naming it", err, out)
		}
		if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the refused capture left %s: %v", file, err)
		}
		bad := filepath.Join(lab.Dir(), "no-such-dir", "x.pcap")
		if out, err := h1.CLI("debug", "capture", "--network", "diag1", "-w", bad, "-c", "1"); err == nil || !strings.Contains(out, "cannot write the capture to "+bad) {
			t.Errorf("unwritable file: %v\n%s\nwant an error naming it", err, out)
		}
	})

	// Last: it stops h1.
	t.Run("a stopping weftd ends its captures at once", func(t *testing.T) {
		file := filepath.Join(lab.Dir(), "stopped.pcap")
		var out bytes.Buffer
		cmd := exec.Command(lab.Bin("weft"), "-H", "unix://"+h1.Socket, "debug", "capture", "--network", "diag1", "-w", file, "-c", "1000000", "--duration", "5m")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var waitErr error
		done := make(chan struct{})
		go func() { waitErr = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-done
		})
		if !poll.Wait(5*time.Second, func() bool { fi, err := os.Stat(file); return err == nil && fi.Size() > 24 }) {
			t.Fatalf("the capture wrote no frame in 5 s:\n%s", out.String())
		}
		start := time.Now()
		h1.Stop() // SIGTERM; killed after 3 s
		took := time.Since(start)
		select {
		case <-done:
			if waitErr == nil || !strings.Contains(out.String(), "ended early: weftd is shutting down") {
				t.Errorf("the CLI: %v\n%s\nwant an error saying weftd is shutting down", waitErr, out.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the CLI still runs 10 s after weftd stopped:\n%s", out.String())
		}
		t.Logf("weftd stopped %v after SIGTERM", took)
		log, _ := os.ReadFile(h1.Log)
		if took > 2500*time.Millisecond || !strings.Contains(string(log), "weftd stopped") {
			t.Errorf("weftd took %v to stop (log has \"weftd stopped\": %v); want a clean stop, not held up by the capture", took, strings.Contains(string(log), "weftd stopped"))
		}
		if n := len(diagFrames(t, file)); n == 0 {
			t.Errorf("the capture cut short by the stop holds no frame")
		}
	})
}

// Two cluster nodes: node inspect of each from the other, peers, and the
// gossip rows of the FDB; then the worker dies and both say so.
func TestDiagnosticsCluster(t *testing.T) {
	lab := newLab(t, "we2e-diagc")
	hosts := newCluster(t, lab, 2)
	m, w := hosts[0], hosts[1]
	cli(t, m, "network", "create", "--attachable", "--subnet", "198.19.73.0/24", "diagc")
	cm, _ := diagAttach(t, m, "cm", "diagc", "")
	_, wMAC := diagAttach(t, w, "cw", "diagc", "")
	mID, wID := diagInspect(t, m, "self").ID, diagInspect(t, w, "self").ID
	var wIP string
	if !poll.Wait(15*time.Second, func() bool {
		var tables []api.FDB
		out, err := m.CLI("fdb", "--network", "diagc", "--format", "json")
		if err != nil || json.Unmarshal([]byte(out), &tables) != nil || len(tables) != 1 {
			return false
		}
		for _, e := range tables[0].IPs {
			if e.MAC == wMAC && e.Type == api.FDBGossip {
				wIP = e.IP
			}
		}
		return wIP != "" && slices.ContainsFunc(tables[0].MACs, func(e api.FDBMAC) bool {
			return e.MAC == wMAC && e.VTEP == "198.18.0.2:4789" && e.Type == api.FDBGossip
		})
	}) {
		t.Fatalf("the manager's FDB has no gossip rows of the worker's container %s:\n%s", wMAC, cli(t, m, "fdb"))
	}
	ping(t, cm, wIP)

	t.Run("node inspect self on the manager", func(t *testing.T) {
		n := diagInspect(t, m, "self")
		ms := n.ManagerStatus
		if n.Role != "manager" || !n.Self || n.Gossip != "alive" || n.Status != "Ready" || ms == nil || !ms.Leader || ms.Raft != "voter" ||
			n.Addresses.Manager != "198.18.0.1:2377" || n.Addresses.Gossip != "198.18.0.1:7946" || n.Addresses.DataPath != "198.18.0.1:4789" ||
			!slices.Equal(n.Networks, []string{"diagc"}) || n.Version == "" {
			t.Errorf("got %+v (manager status %+v)", n, ms)
		}
	})
	t.Run("node inspect of the other node, both ways", func(t *testing.T) {
		n := diagInspect(t, m, wID)
		if n.ID != wID || n.Role != "worker" || n.Self || n.Gossip != "alive" || n.ManagerStatus != nil ||
			n.Addresses.DataPath != "198.18.0.2:4789" || !slices.Equal(n.Networks, []string{"diagc"}) {
			t.Errorf("the worker, from the manager: got %+v", n)
		}
		n = diagInspect(t, w, mID[:6]) // a unique prefix
		if n.ID != mID || n.ManagerStatus == nil || !n.ManagerStatus.Leader || n.ManagerStatus.Raft != "" {
			t.Errorf("the manager, from the worker: got %+v (manager status %+v)", n, n.ManagerStatus)
		}
	})
	t.Run("peers names the other node", func(t *testing.T) {
		p := diagPeer(t, m, "198.18.0.2:4789")
		if p == nil || p.NodeID != wID || p.Role != "worker" || p.State != "alive" || !slices.Equal(p.Networks, []string{"diagc"}) {
			t.Errorf("got %+v; want the worker, alive, with diagc", p)
		}
	})
	t.Run("a dead worker shows as dead", func(t *testing.T) {
		if err := w.Kill(); err != nil {
			t.Fatal(err)
		}
		if !poll.Wait(15*time.Second, func() bool {
			p := diagPeer(t, m, "198.18.0.2:4789")
			return p != nil && p.State == "dead"
		}) {
			t.Fatalf("15 s after the worker died: %+v; want it dead", diagPeer(t, m, "198.18.0.2:4789"))
		}
		if n := diagInspect(t, m, wID); n.Status != "Down" || n.Gossip != "dead" {
			t.Errorf("the dead worker: status %q gossip %q; want Down, dead", n.Status, n.Gossip)
		}
	})
}

// diagAttach makes a container namespace, attaches it to a network on d
// (with ip, or an allocated address when ip is empty) and returns the
// namespace and the container's MAC.
func diagAttach(t *testing.T, d *nstest.Weftd, name, network, ip string) (string, string) {
	t.Helper()
	ns, err := d.Lab.Container(name)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"attach", "--network", network, "--name", name}
	if ip != "" {
		args = append(args, "--ip", ip)
	}
	f := strings.Fields(cli(t, d, append(args, ns)...))
	if len(f) < 3 {
		t.Fatalf("attach %s: output %q", name, f)
	}
	return ns, f[2]
}

func diagJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
}

func diagInspect(t *testing.T, d *nstest.Weftd, ref string) api.NodeInfo {
	t.Helper()
	var nodes []api.NodeInfo
	diagJSON(t, cli(t, d, "node", "inspect", ref), &nodes)
	if len(nodes) != 1 {
		t.Fatalf("node inspect %s: got %d nodes", ref, len(nodes))
	}
	return nodes[0]
}

// diagPeer returns d's peer at vtep, or nil.
func diagPeer(t *testing.T, d *nstest.Weftd, vtep string) *api.Peer {
	t.Helper()
	var peers []api.Peer
	diagJSON(t, cli(t, d, "peers", "--format", "json"), &peers)
	for i := range peers {
		if peers[i].VTEP == vtep {
			return &peers[i]
		}
	}
	return nil
}

// diagFrames returns the frames of a pcap file of Ethernet frames.
func diagFrames(t *testing.T, path string) []gopacket.Packet {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("%s: link type %v; want Ethernet", path, r.LinkType())
	}
	var out []gopacket.Packet
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s, after %d frames: %v", path, len(out), err)
		}
		out = append(out, gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default))
	}
}

// diagCheckFrames checks that frames hold an ICMP echo request from a to
// b and a reply, and nothing from the MACs or the subnet (a prefix of the
// dotted address) of another network.
func diagCheckFrames(t *testing.T, frames []gopacket.Packet, a, b string, foreignMACs []string, foreignNet string) {
	t.Helper()
	requests, replies := 0, 0
	for i, p := range frames {
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if eth == nil {
			t.Fatalf("frame %d is not Ethernet: %v", i, p)
		}
		if slices.Contains(foreignMACs, eth.SrcMAC.String()) || slices.Contains(foreignMACs, eth.DstMAC.String()) {
			t.Errorf("frame %d is another network's: %v", i, p)
		}
		if arp, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
			for _, ip := range [][]byte{arp.SourceProtAddress, arp.DstProtAddress} {
				if addr, ok := netip.AddrFromSlice(ip); ok && strings.HasPrefix(addr.String(), foreignNet) {
					t.Errorf("frame %d is another network's ARP: %v", i, p)
				}
			}
		}
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			continue
		}
		src, dst := ip.SrcIP.String(), ip.DstIP.String()
		if strings.HasPrefix(src, foreignNet) || strings.HasPrefix(dst, foreignNet) {
			t.Errorf("frame %d is another network's: %s → %s", i, src, dst)
		}
		icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		switch {
		case icmp == nil:
		case icmp.TypeCode.Type() == layers.ICMPv4TypeEchoRequest && src == a && dst == b:
			requests++
		case icmp.TypeCode.Type() == layers.ICMPv4TypeEchoReply && src == b && dst == a:
			replies++
		}
	}
	if requests == 0 || replies == 0 {
		t.Errorf("%d echo requests %s → %s and %d replies in %d frames; want both", requests, a, b, replies, len(frames))
	}
}
