package fdb

// Count is how many rows of each kind one VNI has.
type Count struct {
	MACs int // (VNI, MAC) → VTEP rows
	IPs  int // (VNI, IP) → MAC rows
}

// CountByVNI returns how many rows of each kind every VNI with any row has.
// It reads one snapshot of each map and copies no row, so it is cheap
// enough for every metrics scrape.
func (t *Table) CountByVNI() map[uint32]Count {
	out := map[uint32]Count{}
	for k := range t.macs.load().all() {
		c := out[k.vni]
		c.MACs++
		out[k.vni] = c
	}
	for k := range t.ips.load().all() {
		c := out[k.vni]
		c.IPs++
		out[k.vni] = c
	}
	return out
}
