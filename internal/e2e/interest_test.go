//go:build linux

package e2e

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// inspectPeers returns the VTEPs d's inspect of a network lists: those of
// the other nodes whose records of that network d holds.
func inspectPeers(t *testing.T, d *nstest.Weftd, network string) []string {
	t.Helper()
	var ns []struct{ Peers []string }
	if err := json.Unmarshal([]byte(cli(t, d, "network", "inspect", network)), &ns); err != nil || len(ns) != 1 {
		t.Fatalf("network inspect %s on %s: %v", network, d.Name, err)
	}
	return ns[0].Peers
}

// fdbBinds reports whether d's FDB of a network binds ip from a gossip
// record.
func fdbBinds(t *testing.T, d *nstest.Weftd, network, ip string) bool {
	t.Helper()
	var tables []api.FDB
	if err := json.Unmarshal([]byte(cli(t, d, "fdb", "--network", network, "--format", "json")), &tables); err != nil || len(tables) != 1 {
		t.Fatalf("fdb of %s on %s: %v", network, d.Name, err)
	}
	return slices.ContainsFunc(tables[0].IPs, func(e api.FDBIPToMAC) bool { return e.IP == ip && e.Type == api.FDBGossip })
}

// Records of a network reach the nodes that have it and no other: with
// net-a's containers on h1 and h2 and net-b's on h2 and h3, h3 holds none
// of net-a's records and h1 none of net-b's, even once later records of
// both have spread from h2. When a container of h3 joins net-a, h3 is sent net-a's records at
// once and reaches its containers.
func TestRecordsOnlyWhereTheNetworkIs(t *testing.T) {
	lab := newLab(t, "we2e-int")
	hosts := newCluster(t, lab, 3)
	dumpLogsOnFailure(t, hosts...)
	h1, h2, h3 := hosts[0], hosts[1], hosts[2]
	vtep := func(d *nstest.Weftd) string { return d.IP.String() + ":4789" }
	cli(t, h1, "network", "create", "--attachable", "--subnet", "198.19.6.0/24", "net-a")
	cli(t, h1, "network", "create", "--attachable", "--subnet", "198.19.7.0/24", "net-b")
	container(t, h1, "a1", "net-a", "198.19.6.11")
	a2 := container(t, h2, "a2", "net-a", "198.19.6.12")
	container(t, h2, "b2", "net-b", "198.19.7.12")
	b3 := container(t, h3, "b3", "net-b", "198.19.7.13")

	// The records do flow where the networks are.
	ping(t, a2, "198.19.6.11")
	ping(t, b3, "198.19.7.12")
	for _, c := range []struct {
		on      *nstest.Weftd
		network string
		want    []string
	}{
		{h1, "net-a", []string{vtep(h2)}},
		{h2, "net-a", []string{vtep(h1)}},
		{h2, "net-b", []string{vtep(h3)}},
		{h3, "net-b", []string{vtep(h2)}},
	} {
		if got := inspectPeers(t, c.on, c.network); !slices.Equal(got, c.want) {
			t.Errorf("%s's peers of %s = %v; want %v", c.on.Name, c.network, got, c.want)
		}
	}

	// And nowhere else: not by broadcast, not by sync, not by relay. h2,
	// the one host with both networks, attaches a marker container to each;
	// once h1 holds net-a's and h3 net-b's, they have heard whatever h2
	// would have leaked before.
	container(t, h2, "am", "net-a", "198.19.6.22")
	container(t, h2, "bm", "net-b", "198.19.7.22")
	for _, m := range []struct {
		on          *nstest.Weftd
		network, ip string
	}{{h1, "net-a", "198.19.6.22"}, {h3, "net-b", "198.19.7.22"}} {
		if !poll.Wait(4*time.Second, func() bool { return fdbBinds(t, m.on, m.network, m.ip) }) {
			t.Fatalf("%s holds no record of the marker %s on %s", m.on.Name, m.ip, m.network)
		}
	}
	if got := inspectPeers(t, h3, "net-a"); len(got) != 0 {
		t.Fatalf("h3, without net-a, holds records of it from %v", got)
	}
	if got := inspectPeers(t, h1, "net-b"); len(got) != 0 {
		t.Fatalf("h1, without net-b, holds records of it from %v", got)
	}

	start := time.Now()
	a3 := container(t, h3, "a3", "net-a", "198.19.6.13")
	if !poll.Wait(2*time.Second, func() bool { return len(inspectPeers(t, h3, "net-a")) == 2 }) {
		t.Fatalf("h3's peers of net-a = %v 2 s after its first container joined; want h1's and h2's", inspectPeers(t, h3, "net-a"))
	}
	t.Logf("h3 held net-a's records %v after attaching its first container", time.Since(start).Round(10*time.Millisecond))
	ping(t, a3, "198.19.6.11")
	ping(t, a3, "198.19.6.12")
}
