// Command forger plays a compromised cluster member for the integration
// test TestForgedGossipChangesNothing: holding a worker's gossip keys and
// node key, it joins the cluster's gossip under a name of its own and
// sends every member gossip that speaks for another node, claims another
// node's endpoint, or carries a version at the top of the range.
//
//	forger SPEC records   four forged records of the victim's endpoint
//	forger SPEC notices   a forged interest and leave notice of the victim
//
// SPEC is a JSON file (see spec). The messages are built here as weft's
// gossip package puts them on the wire (control/gossip/wire.go) and signs
// them (control/gossip/sign.go), which this command reproduces rather than
// imports: those encodings are unexported, and a forger is an outsider.
package main

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/internal/poll"
)

// spec is what the test tells the forger.
type spec struct {
	GossipKeys [][]byte       `json:"gossip_keys"` // the cluster's, primary first
	NodeKey    string         `json:"node_key"`    // path of the stolen node key (PEM)
	Self       string         `json:"self"`        // the node whose key it holds
	SelfVTEP   netip.AddrPort `json:"self_vtep"`   // that node's data address
	Victim     string         `json:"victim"`      // the node it speaks for
	Bind       netip.AddrPort `json:"bind"`        // its own gossip address
	Join       string         `json:"join"`        // a member's gossip address
	Endpoint   endpoint       `json:"endpoint"`    // the victim's endpoint
}

// endpoint is the victim's endpoint, as the cluster allocated it.
type endpoint struct {
	ID      string     `json:"id"`
	Network string     `json:"network"`
	VNI     uint32     `json:"vni"`
	IP      netip.Addr `json:"ip"`
	MAC     string     `json:"mac"`
	Name    string     `json:"name"`
}

// Message types and encodings, as in control/gossip.
const (
	msgRecord   byte = 1
	msgLeave    byte = 2
	msgInterest byte = 3

	tagRecord   = "weft gossip record v1"
	tagInterest = "weft gossip interest v1"
	tagLeave    = "weft gossip leave v1"
)

// record is a gossip record as JSON on the wire.
type record struct {
	ID   string         `json:"id"`
	Net  string         `json:"net,omitempty"`
	VNI  uint32         `json:"vni,omitempty"`
	IP   netip.Addr     `json:"ip,omitzero"`
	MAC  string         `json:"mac,omitempty"`
	VTEP netip.AddrPort `json:"vtep,omitzero"`
	Node string         `json:"node"`
	Name string         `json:"name,omitempty"`
	Ver  uint64         `json:"ver"`
	Sig  []byte         `json:"sig,omitempty"`
}

// interest is a gossip interest as JSON on the wire.
type interest struct {
	Node string `json:"node"`
	Net  string `json:"net"`
	Life uint64 `json:"life"`
	Ver  uint64 `json:"ver"`
	Left bool   `json:"left,omitempty"`
	Sig  []byte `json:"sig,omitempty"`
}

// leave is a gossip leave notice as JSON on the wire.
type leave struct {
	Node string `json:"node"`
	Life uint64 `json:"life"`
	Sig  []byte `json:"sig,omitempty"`
}

func main() {
	if len(os.Args) != 3 || os.Args[2] != "records" && os.Args[2] != "notices" {
		fmt.Fprintln(os.Stderr, "usage: forger SPEC records|notices")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "forger:", err)
		os.Exit(1)
	}
}

func run(specPath, what string) error {
	s, key, err := load(specPath)
	if err != nil {
		return err
	}
	ml, err := join(s, "forger-"+what)
	if err != nil {
		return err
	}
	defer func() { _ = ml.Leave(time.Second); _ = ml.Shutdown() }()
	life, err := victimLife(ml, s.Victim)
	if err != nil {
		return err
	}
	var msgs [][]byte
	if what == "records" {
		msgs, err = forgedRecords(s, key)
	} else {
		msgs, err = forgedNotices(s, key, life)
	}
	if err != nil {
		return err
	}
	return sendAll(ml, msgs)
}

// load reads the spec and the stolen node key.
func load(path string) (spec, *ecdsa.PrivateKey, error) {
	var s spec
	raw, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(raw, &s)
	}
	if err != nil {
		return s, nil, fmt.Errorf("spec: %w", err)
	}
	pem, err := os.ReadFile(s.NodeKey)
	if err != nil {
		return s, nil, err
	}
	key, err := pki.ParseKey(pem)
	return s, key, err
}

// join joins the cluster's gossip as name, with the stolen gossip keys.
func join(s spec, name string) (*memberlist.Memberlist, error) {
	kr, err := memberlist.NewKeyring(s.GossipKeys, s.GossipKeys[0])
	if err != nil {
		return nil, err
	}
	c := memberlist.DefaultLANConfig()
	c.Name, c.Keyring, c.LogOutput = name, kr, io.Discard
	c.BindAddr, c.BindPort = s.Bind.Addr().String(), int(s.Bind.Port())
	c.AdvertiseAddr, c.AdvertisePort = c.BindAddr, c.BindPort
	ml, err := memberlist.Create(c)
	if err != nil {
		return nil, err
	}
	if _, err := ml.Join([]string{s.Join}); err != nil {
		_ = ml.Shutdown()
		return nil, fmt.Errorf("join %s: %w", s.Join, err)
	}
	return ml, nil
}

// victimLife returns the life the victim's gossip agent runs, from its
// node meta, once the join's push/pull has brought it.
func victimLife(ml *memberlist.Memberlist, victim string) (uint64, error) {
	var life uint64
	found := poll.Wait(5*time.Second, func() bool {
		for _, n := range ml.Members() {
			var meta struct {
				Life uint64 `json:"life"`
			}
			if n.Name == victim && json.Unmarshal(n.Meta, &meta) == nil && meta.Life != 0 {
				life = meta.Life
				return true
			}
		}
		return false
	})
	if !found {
		return 0, fmt.Errorf("no member %s with a life in its meta", victim)
	}
	return life, nil
}

// sendAll sends every message to every other member over TCP.
func sendAll(ml *memberlist.Memberlist, msgs [][]byte) error {
	for _, m := range msgs {
		for _, n := range ml.Members() {
			if n.Name == ml.LocalNode().Name {
				continue
			}
			if err := ml.SendReliable(n, m); err != nil {
				return fmt.Errorf("send to %s: %w", n.Name, err)
			}
			fmt.Printf("sent %d-byte message type %d to %s\n", len(m), m[0], n.Name)
		}
	}
	return nil
}

// forgedRecords returns, in this order: (a) the victim's record with the
// forger's VTEP, in the victim's name but signed with the stolen key; (b)
// the same unsigned; (c) the stolen node's own record, genuinely signed,
// claiming the victim's endpoint; (d) the victim's record at the top
// version.
func forgedRecords(s spec, key *ecdsa.PrivateKey) ([][]byte, error) {
	e := s.Endpoint
	mac, err := net.ParseMAC(e.MAC)
	if err != nil {
		return nil, err
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("endpoint MAC %q is not an Ethernet MAC", e.MAC)
	}
	base := uint64(time.Now().UnixNano())
	forged := record{ID: e.ID, Net: e.Network, VNI: e.VNI, IP: e.IP, MAC: e.MAC, VTEP: s.SelfVTEP, Node: s.Victim, Name: e.Name}
	a, b, c, d := forged, forged, forged, forged
	a.Ver, b.Ver, c.Ver, d.Ver = base, base+1, base+2, math.MaxUint64
	c.Node = s.Self
	var out [][]byte
	for _, r := range []*record{&a, &b, &c, &d} {
		if r != &b {
			sig, err := sign(key, recordMsg(*r, mac))
			if err != nil {
				return nil, err
			}
			r.Sig = sig
		}
		out = append(out, encode(msgRecord, *r))
	}
	return out, nil
}

// forgedNotices returns (e) an interest saying the victim left the
// endpoint's network and (f) a leave notice of the victim, both for its
// current life and signed with the stolen key.
func forgedNotices(s spec, key *ecdsa.PrivateKey, life uint64) ([][]byte, error) {
	in := interest{Node: s.Victim, Net: s.Endpoint.Network, Life: life, Ver: uint64(time.Now().UnixNano()), Left: true}
	l := leave{Node: s.Victim, Life: life}
	var err error
	if in.Sig, err = sign(key, interestMsg(in)); err != nil {
		return nil, err
	}
	if l.Sig, err = sign(key, leaveMsg(l)); err != nil {
		return nil, err
	}
	return [][]byte{encode(msgInterest, in), encode(msgLeave, l)}, nil
}

// sign signs msg as pki.SignMessage does with a P-256 key.
func sign(key *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, key, h[:])
}

func encode(kind byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain fields: cannot happen
	}
	return append([]byte{kind}, b...)
}

// recordMsg is what the owner of r signs (gossip's recordMsg); r has no
// aliases, boot or key generation, and is not a tombstone.
func recordMsg(r record, mac net.HardwareAddr) []byte {
	b := appendString(nil, tagRecord)
	b = appendString(b, r.ID)
	b = appendString(b, r.Net)
	b = binary.BigEndian.AppendUint32(b, r.VNI)
	b = appendBytes(b, r.IP.AsSlice())
	b = append(b, mac...)
	b = appendBytes(b, r.VTEP.Addr().AsSlice())
	b = binary.BigEndian.AppendUint16(b, r.VTEP.Port())
	b = appendString(b, r.Node)
	b = appendString(b, r.Name)
	b = binary.AppendUvarint(b, 0)          // aliases
	b = binary.BigEndian.AppendUint64(b, 0) // boot
	b = binary.BigEndian.AppendUint64(b, 0) // key generation
	b = binary.BigEndian.AppendUint64(b, r.Ver)
	return append(b, 0) // not deleted
}

// interestMsg is what the node of an interest signs.
func interestMsg(in interest) []byte {
	b := appendString(nil, tagInterest)
	b = appendString(b, in.Node)
	b = appendString(b, in.Net)
	b = binary.BigEndian.AppendUint64(b, in.Life)
	b = binary.BigEndian.AppendUint64(b, in.Ver)
	if in.Left {
		return append(b, 1)
	}
	return append(b, 0)
}

// leaveMsg is what a leaving node signs.
func leaveMsg(l leave) []byte {
	b := appendString(nil, tagLeave)
	b = appendString(b, l.Node)
	return binary.BigEndian.AppendUint64(b, l.Life)
}

func appendString(b []byte, s string) []byte { return appendBytes(b, []byte(s)) }

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
