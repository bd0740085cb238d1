package gossip

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/weftnet/weft/fdb"
)

// Record is one container endpoint as gossiped between nodes.
//
// Versions order the copies of a record: a higher Version wins; on a tie a
// tombstone (Deleted) wins; if still tied, the copy whose Node, then content,
// sorts higher wins, so that every node picks the same copy whatever the
// order of arrival.
//
// The owner sets Version to max(last version it has seen for the endpoint
// + 1, its clock in Unix nanoseconds). The clock term lets a restarted owner,
// which remembers nothing, still publish versions above those of its
// previous life, as long as its clock did not go back by more than the time
// it was away. The "+1" term keeps versions rising when the clock does not.
type Record struct {
	EndpointID string         // key, unique cluster-wide
	Network    string         // network ID (not name)
	VNI        uint32         // VXLAN network identifier of Network
	IP         netip.Addr     // overlay address of the endpoint
	MAC        fdb.MAC        // overlay MAC address of the endpoint
	VTEP       netip.AddrPort // underlay address of the owner's data plane
	Node       string         // owner node ID (set by Publish to the local node ID)
	Name       string         // container name, may be empty
	Aliases    []string       // other DNS names of the endpoint
	Boot       uint64         // the owner's run (random per start): part of the identities its encryption keys are derived for
	KeyGen     uint64         // the newest key generation the owner can open on an encrypted network; 0 otherwise
	Version    uint64         // set by Publish
	Deleted    bool           // tombstone
	Sig        []byte         // Node's signature of all the above (see sign.go); set by Publish
}

// clone returns r with its own copy of Aliases.
func (r Record) clone() Record {
	r.Aliases = slices.Clone(r.Aliases)
	return r
}

// tombstone returns the tombstone that replaces r at the given version. It
// keeps only what receivers need to apply it.
func (r Record) tombstone(version uint64) Record {
	return Record{
		EndpointID: r.EndpointID,
		Network:    r.Network,
		VNI:        r.VNI,
		Node:       r.Node,
		Version:    version,
		Deleted:    true,
	}
}

// nextVersion returns the version an owner gives to a new copy of a record
// whose latest known version is prev.
func nextVersion(prev uint64, now time.Time) uint64 {
	return max(prev+1, uint64(max(now.UnixNano(), 0)))
}

// versionTime returns the clock reading a version was made from.
func versionTime(v uint64) time.Time {
	return time.Unix(0, int64(min(v, 1<<63-1)))
}

// newer reports whether a should replace b, by the order described on Record.
func newer(a, b Record) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	if a.Deleted != b.Deleted {
		return a.Deleted
	}
	if a.Node != b.Node {
		return a.Node > b.Node
	}
	return compareContent(a, b) > 0
}

// compareContent orders records by everything but key, owner, version,
// deletion and signature; it returns 0 when those fields are equal.
func compareContent(a, b Record) int {
	return cmp.Or(
		cmp.Compare(a.Network, b.Network),
		cmp.Compare(a.VNI, b.VNI),
		a.IP.Compare(b.IP),
		bytes.Compare(a.MAC[:], b.MAC[:]),
		a.VTEP.Compare(b.VTEP),
		cmp.Compare(a.Name, b.Name),
		slices.Compare(a.Aliases, b.Aliases),
		cmp.Compare(a.Boot, b.Boot),
		cmp.Compare(a.KeyGen, b.KeyGen),
	)
}

// sameView reports whether replacing a by b changes nothing a reader of
// Records could see.
func sameView(a, b Record) bool {
	return a.Deleted == b.Deleted && a.Node == b.Node && compareContent(a, b) == 0
}
