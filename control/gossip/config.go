package gossip

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures an Agent. Start from DefaultConfig; New fills in zero
// durations and counts from it.
type Config struct {
	NodeID        string   // this node's unique ID, memberlist's node name; required
	BindAddr      string   // address the gossip listener binds (NetTransport only)
	BindPort      int      // port the gossip listener binds, TCP and UDP (NetTransport only)
	AdvertiseAddr string   // address others reach us at; empty: memberlist picks one
	AdvertisePort int      // port others reach us at, with AdvertiseAddr
	Meta          NodeMeta // what we tell others about this node
	// Keys are gossip encryption keys of 16, 24 or 32 bytes (AES-GCM).
	// Keys[0] is the primary (encrypts); all decrypt. Empty: no encryption
	// (tests only).
	Keys             [][]byte
	ProbeInterval    time.Duration // how often each node probes another
	ProbeTimeout     time.Duration // how long a direct probe waits for its ack
	SuspicionMult    int           // suspicion lasts SuspicionMult·max(1, log10 n)·ProbeInterval
	GossipInterval   time.Duration // how often queued broadcasts are sent
	PushPullInterval time.Duration // how often a node swaps who-has-what with a random other, and each network's records with a random member that has it
	TombstoneTTL     time.Duration // how long a tombstone is kept before it is purged
	DeadOwnerTTL     time.Duration // how long hidden records of a dead or left node are kept
	// DeadNodeReclaimTime is how long after a member was declared dead a
	// node may take over its ID from another address: a host that comes
	// back with a new address.
	DeadNodeReclaimTime time.Duration
	// Signer signs this node's records, interests and leave notices, and
	// Verifier checks the others'; see sign.go. Both nil: gossip is
	// unsigned and any member may speak for any other (tests only).
	Signer   Signer
	Verifier Verifier
	// MaxClockSkew is how far ahead of this node's clock a version may
	// be: messages with versions further ahead are dropped.
	MaxClockSkew time.Duration
	Transport    memberlist.Transport // nil: memberlist's NetTransport on BindAddr:BindPort
	Logger       *slog.Logger         // nil: slog.Default()
}

// DefaultConfig returns the production settings for a LAN cluster.
//
// The failure detector is tuned so that a SIGKILLed member of a cluster of
// up to four or five nodes is declared dead by every other member, and its
// records hidden, within 3 s. With n members that takes:
//
//	until someone probes it   ≤ (2(n-1)-1)·ProbeInterval (each node probes the
//	                            others round robin, reshuffling every round;
//	                            usually under one ProbeInterval)
//	+ the failed probe         ProbeInterval (direct, indirect, TCP fallback)
//	+ suspicion                SuspicionMult·max(1, log10 n)·ProbeInterval; with
//	                            SuspicionMult 2 memberlist waits for no
//	                            confirmations (k = SuspicionMult-2 = 0)
//	+ the dead message spreads about 2·GossipInterval
//
// For n = 4 that is at worst 1.5+0.3+0.6+0.2 = 2.6 s and typically about
// 1.3 s; for n = 5 the worst case, every survivor unlucky at once, is 3.2 s.
// Suspicion grows with log10 n past ten nodes.
func DefaultConfig() Config {
	return Config{
		NodeID:              "",                     // required: set it to the node's ID
		BindAddr:            "0.0.0.0",              // all interfaces
		BindPort:            7946,                   // weft's gossip port, TCP and UDP
		AdvertiseAddr:       "",                     // memberlist picks the bind or first private address
		AdvertisePort:       7946,                   // same as BindPort
		Meta:                NodeMeta{},             // set by the daemon: role, VTEP, hostname
		Keys:                nil,                    // set by the daemon from the managers' gossip keys
		ProbeInterval:       300 * time.Millisecond, // see the detection budget above
		ProbeTimeout:        150 * time.Millisecond, // generous for a LAN round trip; leaves 150 ms for indirect probes
		SuspicionMult:       2,                      // 600 ms of suspicion for up to 10 nodes
		GossipInterval:      100 * time.Millisecond, // broadcasts go out ten times a second
		PushPullInterval:    10 * time.Second,       // anti-entropy; stretched past 32 nodes (or members of a network)
		TombstoneTTL:        time.Minute,            // far longer than a sync round, so deletes reach everyone
		DeadOwnerTTL:        time.Hour,              // a node away longer re-publishes anyway when it returns
		DeadNodeReclaimTime: 10 * time.Second,       // node IDs are random: only the same host, moved, reuses one
		Signer:              nil,                    // set by the cluster node: its node key
		Verifier:            nil,                    // set by the cluster node: the keys of the cluster's nodes
		MaxClockSkew:        time.Minute,            // clocks of a cluster's hosts agree far better (NTP)
		Transport:           nil,                    // real sockets
		Logger:              nil,                    // slog.Default()
	}
}

// withDefaults returns c with zero durations and counts taken from
// DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setZero(&c.ProbeInterval, d.ProbeInterval)
	setZero(&c.ProbeTimeout, d.ProbeTimeout)
	setZero(&c.SuspicionMult, d.SuspicionMult)
	setZero(&c.GossipInterval, d.GossipInterval)
	setZero(&c.PushPullInterval, d.PushPullInterval)
	setZero(&c.TombstoneTTL, d.TombstoneTTL)
	setZero(&c.DeadOwnerTTL, d.DeadOwnerTTL)
	setZero(&c.DeadNodeReclaimTime, d.DeadNodeReclaimTime)
	setZero(&c.MaxClockSkew, d.MaxClockSkew)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func setZero[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// validate checks what New cannot repair.
func (c Config) validate() error {
	if c.NodeID == "" {
		return errors.New("gossip config: NodeID is empty")
	}
	if len(c.NodeID) > maxIDLen {
		return fmt.Errorf("gossip config: NodeID %q is longer than %d bytes", c.NodeID, maxIDLen)
	}
	if c.ProbeTimeout >= c.ProbeInterval {
		return fmt.Errorf("gossip config: ProbeTimeout %v must be below ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	}
	if (c.Signer == nil) != (c.Verifier == nil) {
		return errors.New("gossip config: set both Signer and Verifier, or neither")
	}
	for i, k := range c.Keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("gossip config: Keys[%d]: %w", i, err)
		}
	}
	return nil
}

// memberlistConfig translates c for memberlist.
func (c Config) memberlistConfig(d *delegate, kr *memberlist.Keyring) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeID
	mc.BindAddr, mc.BindPort = c.BindAddr, c.BindPort
	mc.AdvertiseAddr, mc.AdvertisePort = c.AdvertiseAddr, c.AdvertisePort
	mc.ProbeInterval, mc.ProbeTimeout = c.ProbeInterval, c.ProbeTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.GossipInterval = c.GossipInterval
	mc.PushPullInterval = c.PushPullInterval
	mc.DeadNodeReclaimTime = c.DeadNodeReclaimTime
	mc.Delegate, mc.Events = d, d
	mc.Keyring = kr
	mc.Transport = c.Transport
	mc.Logger = log.New(logWriter{c.Logger}, "", 0)
	return mc
}
