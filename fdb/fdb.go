// Package fdb is the forwarding database: it maps (VNI, MAC) to the VTEP a MAC
// lives behind and (VNI, IP) to a MAC, with lock-free, allocation-free lookups
// for the data path.
package fdb

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"time"
)

// Entry is one (VNI, MAC) → VTEP row, as listed by Table.Entries.
type Entry struct {
	VNI  uint32         // VXLAN network identifier
	MAC  MAC            // overlay Ethernet address
	VTEP netip.AddrPort // underlay address of the VTEP the MAC lives behind
	// Static is true for rows added by AddStatic, which never expire and
	// which learning never overrides.
	Static bool
	// Age is how long ago the MAC was last learned, measured when Entries
	// was called; zero for static rows.
	Age time.Duration
}

// IPEntry is one (VNI, IP) → MAC row, as listed by Table.IPEntries.
type IPEntry struct {
	VNI uint32     // VXLAN network identifier
	IP  netip.Addr // overlay address, IPv4 never in its IPv4-in-IPv6 form
	MAC MAC        // Ethernet address that owns IP
	// Static is true for rows added by AddStaticIP, which never expire and
	// which learning never overrides.
	Static bool
	// Age is how long ago the binding was last learned, measured when
	// IPEntries was called; zero for static rows.
	Age time.Duration
}

// macKey is the key of a (VNI, MAC) row. It holds the MAC as a number,
// not an array, so that Go passes keys in registers: an array goes through
// memory, stored in small pieces and loaded in large ones, which stalls the
// CPU on every lookup.
type macKey struct {
	vni uint32
	mac uint64 // the six bytes of the MAC, big-endian
}

func newMACKey(vni uint32, m MAC) macKey {
	return macKey{vni, uint64(binary.BigEndian.Uint16(m[:2]))<<32 | uint64(binary.BigEndian.Uint32(m[2:]))}
}

func (k macKey) vniOf() uint32 { return k.vni }

// macOf returns the MAC of k.
func (k macKey) macOf() MAC {
	var m MAC
	binary.BigEndian.PutUint16(m[:2], uint16(k.mac>>32))
	binary.BigEndian.PutUint32(m[2:], uint32(k.mac))
	return m
}

type ipKey struct {
	vni uint32
	ip  netip.Addr // always Unmapped
}

func (k ipKey) vniOf() uint32 { return k.vni }

// Table is the forwarding database of every VNI.
//
// Lookups never take a lock and never allocate: the rows are spread over
// shards, each a small immutable hash table that writers replace
// (copy-on-write, serialized by a mutex), and a lookup hashes its key once. Refreshing the last-seen time of a known row is a
// single atomic store. Learning a new or moved address copies one shard, a
// few rows, so it costs O(1) amortised however large the table; a change of
// many rows at once (ReplaceStatic, Expire, DeleteVNI) costs O(rows).
//
// A Table must be made with New. All methods are safe for concurrent use.
type Table struct {
	epoch time.Time // monotonic origin of every last-seen time
	macs  snapshotMap[macKey, netip.AddrPort]
	ips   snapshotMap[ipKey, MAC]
}

// New returns an empty Table.
func New() *Table {
	t := &Table{epoch: time.Now()}
	t.macs.init()
	t.ips.init()
	return t
}

// since converts now to nanoseconds since t.epoch, using the monotonic clock
// when now carries a reading.
func (t *Table) since(now time.Time) int64 { return int64(now.Sub(t.epoch)) }

// Lookup returns the VTEP for (vni, mac). It is lock-free and allocation-free.
func (t *Table) Lookup(vni uint32, mac MAC) (netip.AddrPort, bool) {
	return t.macs.lookup(newMACKey(vni, mac))
}

// Learn records that mac was seen behind vtep at now.
//
// A static row is never overridden. If the row exists with the same VTEP,
// only its last-seen time is moved forward, with one atomic store and no lock
// or allocation, so Learn may be called for every received frame. A new or
// moved MAC takes the locked copy-on-write path. Multicast source MACs (which
// no station may send from) and invalid VTEPs are ignored.
func (t *Table) Learn(vni uint32, mac MAC, vtep netip.AddrPort, now time.Time) {
	t.LearnWithin(vni, mac, vtep, now, 0)
}

// LearnWithin is Learn for a VNI that holds at most limit learned (VNI, MAC)
// rows (0: no limit; static rows do not count): a MAC that is not in the
// table is not learned while vni holds limit learned rows, and LearnWithin
// reports that it was full. A known MAC is refreshed or moved as by Learn.
func (t *Table) LearnWithin(vni uint32, mac MAC, vtep netip.AddrPort, now time.Time, limit int) (full bool) {
	if mac.IsMulticast() || !vtep.IsValid() {
		return false
	}
	return t.macs.learn(newMACKey(vni, mac), vtep, t.since(now), limit)
}

// AddStatic sets (vni, mac) → vtep as a static row, replacing any row for
// (vni, mac), learned or static. Static rows never expire.
func (t *Table) AddStatic(vni uint32, mac MAC, vtep netip.AddrPort) {
	t.macs.addStatic(newMACKey(vni, mac), vtep)
}

// Delete removes the row for (vni, mac), static or learned, and reports
// whether there was one.
func (t *Table) Delete(vni uint32, mac MAC) bool {
	return t.macs.delete(newMACKey(vni, mac))
}

// LookupIP returns the MAC for (vni, ip); an IPv4-in-IPv6 ip matches its IPv4
// form. It is lock-free and allocation-free.
func (t *Table) LookupIP(vni uint32, ip netip.Addr) (MAC, bool) {
	return t.ips.lookup(ipKey{vni, ip.Unmap()})
}

// LearnIP records that ip was seen owned by mac at now, with the same rules as
// Learn: static rows are never overridden, a known binding is refreshed with
// one atomic store, and a new or moved one takes the write path. Invalid IPs
// and multicast MACs are ignored.
func (t *Table) LearnIP(vni uint32, ip netip.Addr, mac MAC, now time.Time) {
	t.LearnIPWithin(vni, ip, mac, now, 0)
}

// LearnIPWithin is LearnIP for a VNI that holds at most limit learned
// (VNI, IP) rows, with the rules of LearnWithin.
func (t *Table) LearnIPWithin(vni uint32, ip netip.Addr, mac MAC, now time.Time, limit int) (full bool) {
	if !ip.IsValid() || mac.IsMulticast() {
		return false
	}
	return t.ips.learn(ipKey{vni, ip.Unmap()}, mac, t.since(now), limit)
}

// AddStaticIP sets (vni, ip) → mac as a static row, replacing any row for
// (vni, ip), learned or static. Static rows never expire.
func (t *Table) AddStaticIP(vni uint32, ip netip.Addr, mac MAC) {
	t.ips.addStatic(ipKey{vni, ip.Unmap()}, mac)
}

// DeleteIP removes the row for (vni, ip), static or learned, and reports
// whether there was one.
func (t *Table) DeleteIP(vni uint32, ip netip.Addr) bool {
	return t.ips.delete(ipKey{vni, ip.Unmap()})
}

// ReplaceStatic makes the static rows of vni exactly macs and ips, as a
// control plane that knows every remote endpoint of a network states it:
// static rows of vni that are not listed go, listed rows are set static
// (replacing a learned row for the same key), and learned rows of vni for
// other keys stay, as do the rows of every other VNI. Each kind of row is
// published with at most one copy of its map, none when nothing changes;
// a lookup sees the old rows or the new ones, never a mix within a kind.
// IPv4-in-IPv6 keys of ips count as their IPv4 form (list each address in
// one form only: of two, either may win), and keys of either map
// with a multicast MAC are ignored, as a learned one would be. It returns
// the addresses whose binding is new or names another MAC than before, in
// no particular order: those a neighbour may still map to a previous owner.
func (t *Table) ReplaceStatic(vni uint32, macs map[MAC]netip.AddrPort, ips map[netip.Addr]MAC) []netip.Addr {
	wantMACs := make(map[macKey]netip.AddrPort, len(macs))
	for m, v := range macs {
		if !m.IsMulticast() && v.IsValid() {
			wantMACs[newMACKey(vni, m)] = v
		}
	}
	wantIPs := make(map[ipKey]MAC, len(ips))
	for ip, m := range ips {
		if ip.IsValid() && !m.IsMulticast() {
			wantIPs[ipKey{vni, ip.Unmap()}] = m
		}
	}
	t.macs.replaceStatic(vni, wantMACs)
	changed := t.ips.replaceStatic(vni, wantIPs)
	out := make([]netip.Addr, len(changed))
	for i, k := range changed {
		out[i] = k.ip
	}
	return out
}

// Expire removes learned rows of both kinds last seen more than maxAge before
// now and returns how many it removed, making room for as many under the
// limits of LearnWithin and LearnIPWithin. Static rows are kept. A row
// learned after now is never stale.
func (t *Table) Expire(now time.Time, maxAge time.Duration) int {
	n := t.since(now)
	return t.macs.deleteFunc(func(_ macKey, e *entry[netip.AddrPort]) bool {
		return stale(e, n, maxAge)
	}) + t.ips.deleteFunc(func(_ ipKey, e *entry[MAC]) bool {
		return stale(e, n, maxAge)
	})
}

// stale reports whether learned entry e, at now nanoseconds since the epoch,
// has not been seen for longer than maxAge.
func stale[V comparable](e *entry[V], now int64, maxAge time.Duration) bool {
	return !e.static && age(now, e.seen.Load()) > maxAge
}

// age returns now-seen clamped to [0, max time.Duration].
func age(now, seen int64) time.Duration {
	if now <= seen {
		return 0
	}
	d := uint64(now) - uint64(seen) // exact: the true difference fits in uint64
	return time.Duration(min(d, 1<<63-1))
}

// DeleteVNI removes every row of both kinds, static or learned, of vni and
// returns how many it removed.
func (t *Table) DeleteVNI(vni uint32) int {
	return t.macs.deleteFunc(func(k macKey, _ *entry[netip.AddrPort]) bool {
		return k.vni == vni
	}) + t.ips.deleteFunc(func(k ipKey, _ *entry[MAC]) bool {
		return k.vni == vni
	})
}

// Entries returns every (VNI, MAC) row, sorted by VNI then MAC, with Age
// computed at the time of the call.
func (t *Table) Entries() []Entry {
	m := t.macs.load()
	now := t.since(time.Now())
	out := make([]Entry, 0, m.len())
	for k, e := range m.all() {
		out = append(out, Entry{VNI: k.vni, MAC: k.macOf(), VTEP: e.val, Static: e.static, Age: rowAge(e, now)})
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.VNI, b.VNI), slices.Compare(a.MAC[:], b.MAC[:]))
	})
	return out
}

// IPEntries returns every (VNI, IP) row, sorted by VNI then IP (IPv4 before
// IPv6), with Age computed at the time of the call.
func (t *Table) IPEntries() []IPEntry {
	m := t.ips.load()
	now := t.since(time.Now())
	out := make([]IPEntry, 0, m.len())
	for k, e := range m.all() {
		out = append(out, IPEntry{VNI: k.vni, IP: k.ip, MAC: e.val, Static: e.static, Age: rowAge(e, now)})
	}
	slices.SortFunc(out, func(a, b IPEntry) int {
		return cmp.Or(cmp.Compare(a.VNI, b.VNI), a.IP.Compare(b.IP))
	})
	return out
}

func rowAge[V comparable](e *entry[V], now int64) time.Duration {
	if e.static {
		return 0
	}
	return age(now, e.seen.Load())
}

// Len returns the number of (VNI, MAC) rows and of (VNI, IP) rows.
func (t *Table) Len() (macs, ips int) {
	return t.macs.load().len(), t.ips.load().len()
}
