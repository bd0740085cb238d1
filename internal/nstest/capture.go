//go:build linux

package nstest

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/weftnet/weft/internal/poll"
)

// Capture is a tcpdump running in a namespace, writing a pcap file.
type Capture struct {
	Path string
	cmd  *exec.Cmd
}

// StartCapture runs tcpdump on an interface of ns with a filter, writing
// every packet at once (-U) to a pcap file in the lab's directory. It waits
// until tcpdump listens.
func (l *Lab) StartCapture(ns, ifname, name string, filter ...string) (*Capture, error) {
	path := filepath.Join(l.dir, name+".pcap")
	log := filepath.Join(l.dir, name+".tcpdump.log")
	args := append([]string{"tcpdump", "-i", ifname, "-U", "-n", "-w", path}, filter...)
	cmd, err := l.Start(ns, log, args...)
	if err != nil {
		return nil, err
	}
	listening := func() bool { b, _ := os.ReadFile(log); return len(b) > 0 } // "listening on eth0 ..."
	if !poll.Wait(5*time.Second, listening) {
		return nil, fmt.Errorf("tcpdump in %s did not start", ns)
	}
	return &Capture{Path: path, cmd: cmd}, nil
}

// Stop ends the capture and waits for the file to be complete.
func (c *Capture) Stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		_ = c.cmd.Wait() // tcpdump ends with a status of its own on SIGINT
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		return errors.New("tcpdump did not stop on SIGINT")
	}
}

// UDPPacket is one captured UDP datagram.
type UDPPacket struct {
	Src, Dst netip.AddrPort
	Payload  []byte
}

// ReadUDP returns the UDP datagrams over IPv4 in a pcap file.
func ReadUDP(path string) ([]UDPPacket, error) {
	var out []UDPPacket
	err := eachPacket(path, func(data []byte, lt layers.LinkType) {
		p := gopacket.NewPacket(data, lt, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil {
			return
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ := netip.AddrFromSlice(ip.DstIP.To4())
		out = append(out, UDPPacket{
			Src:     netip.AddrPortFrom(src, uint16(udp.SrcPort)),
			Dst:     netip.AddrPortFrom(dst, uint16(udp.DstPort)),
			Payload: append([]byte(nil), udp.Payload...),
		})
	})
	return out, err
}

// eachPacket calls f with every packet of a pcap file and its link type.
func eachPacket(path string, f func(data []byte, lt layers.LinkType)) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	r, err := pcapgo.NewReader(file)
	if err != nil {
		return err
	}
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		f(data, r.LinkType())
	}
}

// WriteUDP writes payloads as UDP datagrams from src to dst, each in an
// Ethernet and IPv4 frame, into a pcap file that tools can read.
func WriteUDP(path string, src, dst netip.AddrPort, payloads [][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	for _, p := range payloads {
		eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		_ = udp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(p)); err != nil {
			return err
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			return err
		}
	}
	return nil
}

// IPv4Lengths returns the total length, from its header, of every IPv4
// packet in an Ethernet pcap file, however short the capture was cut.
func IPv4Lengths(path string) ([]int, error) {
	var out []int
	err := eachPacket(path, func(data []byte, _ layers.LinkType) {
		// Ethernet, no VLAN tag: EtherType at 12, the IPv4 header at 14.
		if len(data) >= 18 && data[12] == 0x08 && data[13] == 0x00 && data[14]>>4 == 4 {
			out = append(out, int(data[16])<<8|int(data[17]))
		}
	})
	return out, err
}
