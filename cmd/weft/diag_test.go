package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/weftnet/weft/daemon/api"
)

// pcapOf returns a pcap file of n frames.
func pcapOf(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		data := bytes.Repeat([]byte{byte(i)}, 60)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: 60, Length: 60}, data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestCopyPcap(t *testing.T) {
	whole := pcapOf(t, 3)
	cases := []struct {
		name   string
		stream []byte
		frames int
		err    bool
	}{
		{"whole", whole, 3, false},
		// A stream cut in the middle of the last record (Ctrl-C, a dead
		// daemon) still makes a whole file of the records before it.
		{"cut short", whole[:len(whole)-10], 2, true},
		{"no header", whole[:10], 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := copyPcap(&out, bytes.NewReader(c.stream))
			if n != c.frames || (err != nil) != c.err {
				t.Fatalf("got %d frames, %v; want %d, error %v", n, err, c.frames, c.err)
			}
			if c.frames == 0 {
				return
			}
			r, err := pcapgo.NewReader(&out)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.frames {
				data, ci, err := r.ReadPacketData()
				if err != nil || len(data) != 60 || data[0] != byte(i) || ci.Timestamp.Unix() != int64(i) {
					t.Fatalf("frame %d: % x, %v, %v", i, data, ci.Timestamp, err)
				}
			}
			if _, _, err := r.ReadPacketData(); !errors.Is(err, io.EOF) {
				t.Fatalf("after %d frames: %v; want the end", c.frames, err)
			}
		})
	}
}

func TestOpenOutput(t *testing.T) {
	dir := t.TempDir()
	if _, err := openOutput(filepath.Join(dir, "no", "such", "dir.pcap")); err == nil || !strings.Contains(err.Error(), "cannot write the capture to") {
		t.Errorf("a file in a missing directory: got %v; want a clear error", err)
	}

	fresh := filepath.Join(dir, "fresh.pcap")
	o, err := openOutput(fresh)
	if err != nil {
		t.Fatal(err)
	}
	o.discard()
	o.Close()
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("a file the failed capture created is still there: %v", err)
	}

	old := filepath.Join(dir, "old.pcap")
	if err := os.WriteFile(old, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err = openOutput(old)
	if err != nil {
		t.Fatal(err)
	}
	o.discard()
	o.Close()
	if b, _ := os.ReadFile(old); string(b) != "keep me" {
		t.Errorf("an existing file after a failed capture: %q; want it untouched", b)
	}
	o, err = openOutput(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.start(); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if b, _ := os.ReadFile(old); len(b) != 0 {
		t.Errorf("an existing file once the capture started: %q; want it emptied", b)
	}
}

func TestPrintFDB(t *testing.T) {
	var out bytes.Buffer
	err := printFDB(&out, []api.FDB{{
		Network: "net1", VNI: 42,
		MACs: []api.FDBMAC{{MAC: "02:00:00:00:00:0a", VTEP: "198.18.0.2:4789", Type: api.FDBLearned, AgeSeconds: 12.4}},
		IPs:  []api.FDBIPToMAC{{IP: "198.19.1.3", MAC: "02:00:00:00:00:0a", Type: api.FDBGossip}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := [][]string{
		{"NETWORK", "VNI", "MAC", "VTEP", "TYPE", "AGE"},
		{"net1", "42", "02:00:00:00:00:0a", "198.18.0.2:4789", "learned", "12s"},
		{},
		{"NETWORK", "VNI", "IP", "MAC", "TYPE", "AGE"},
		{"net1", "42", "198.19.1.3", "02:00:00:00:00:0a", "gossip", "-"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got:\n%s", out.String())
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("line %d: got %q; want %q", i, got, w)
		}
	}
}

func TestPrintPeers(t *testing.T) {
	now := time.Now()
	var out bytes.Buffer
	err := printPeers(&out, []api.Peer{
		{VTEP: "198.18.0.2:4789", State: api.PeerStatic, Networks: []string{"net1", "net2"}, LastSeen: now.Add(-1500 * time.Millisecond), RxPackets: 7},
		{VTEP: "198.18.0.3:4789", NodeID: "n3", Hostname: "h3", State: "dead", Networks: []string{}},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"VTEP NODE HOSTNAME STATE NETWORKS LAST SEEN RX PACKETS TX PACKETS",
		"198.18.0.2:4789 - - static net1,net2 1.5s ago 7 0",
		"198.18.0.3:4789 n3 h3 dead - - 0 0",
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got:\n%s", out.String())
	}
	for i, w := range want {
		if got := strings.Join(strings.Fields(lines[i]), " "); got != w {
			t.Errorf("line %d: got %q; want %q", i, got, w)
		}
	}
}
