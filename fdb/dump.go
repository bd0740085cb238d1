package fdb

import (
	"cmp"
	"slices"
	"time"
)

// Dump is the rows of one VNI, both kinds read from the snapshots current
// at one instant, for diagnostics.
type Dump struct {
	Taken time.Time // when the rows were read; every Age counts back from it
	MACs  []Entry   // sorted by MAC
	IPs   []IPEntry // sorted by IP, IPv4 before IPv6
}

// DumpVNI returns the rows of one VNI. Like Entries and IPEntries it reads
// the published snapshots without taking the writers' lock, so it never
// delays a lookup or a refresh; it costs O(rows of every VNI) and allocates
// only for the rows of vni.
func (t *Table) DumpVNI(vni uint32) Dump {
	macs, ips := t.macs.load(), t.ips.load()
	taken := time.Now()
	now := t.since(taken)
	d := Dump{Taken: taken}
	for k, e := range macs.all() {
		if k.vni == vni {
			d.MACs = append(d.MACs, Entry{VNI: vni, MAC: k.macOf(), VTEP: e.val, Static: e.static, Age: rowAge(e, now)})
		}
	}
	for k, e := range ips.all() {
		if k.vni == vni {
			d.IPs = append(d.IPs, IPEntry{VNI: vni, IP: k.ip, MAC: e.val, Static: e.static, Age: rowAge(e, now)})
		}
	}
	slices.SortFunc(d.MACs, func(a, b Entry) int { return slices.Compare(a.MAC[:], b.MAC[:]) })
	slices.SortFunc(d.IPs, func(a, b IPEntry) int { return a.IP.Compare(b.IP) })
	return d
}

// VNIs returns every VNI that has a row of either kind, sorted.
func (t *Table) VNIs() []uint32 {
	seen := map[uint32]bool{}
	for k := range t.macs.load().all() {
		seen[k.vni] = true
	}
	for k := range t.ips.load().all() {
		seen[k.vni] = true
	}
	out := make([]uint32, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}
