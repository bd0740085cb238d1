package encap

import (
	"encoding/binary"

	"github.com/weftnet/weft/internal/header"
)

const (
	// HeaderLen is the length of a VXLAN header.
	HeaderLen = 8

	// EthernetHeaderLen is the length of an untagged Ethernet header,
	// header.EthernetLen: the shortest inner frame Decap accepts.
	EthernetHeaderLen = header.EthernetLen

	// MaxVNI is the largest VXLAN Network Identifier (24 bits).
	MaxVNI = 1<<24 - 1

	// DefaultPort is the IANA-assigned VXLAN UDP port.
	DefaultPort = 4789
)

// Offsets of the VXLAN header fields.
const (
	flagsOffset    = 0 // flags, then 24 reserved bits
	vniOffset      = 4 // 24-bit VNI, then 8 reserved bits
	reserved2Index = 7
)

const (
	// flagI is the I flag: the VNI is valid. RFC 7348 requires it.
	flagI = 0x08

	// flagsWord is the only first word Decap accepts: the I flag set and
	// every other flag and reserved bit zero.
	flagsWord = flagI << 24
)

// VXLAN is a VXLAN header (RFC 7348, section 5), 8 bytes on the wire:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|R|R|R|I|R|R|R|                   Reserved                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|            VXLAN Network Identifier (VNI)     |   Reserved    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Its methods index it directly: it must be at least HeaderLen bytes long,
// or they panic.
type VXLAN []byte

// Flags returns the flags byte (the I flag is 0x08).
func (v VXLAN) Flags() uint8 {
	return v[flagsOffset]
}

// VNI returns the 24-bit VXLAN Network Identifier.
func (v VXLAN) VNI() uint32 {
	_ = v[vniOffset+2]
	return uint32(v[vniOffset])<<16 | uint32(v[vniOffset+1])<<8 | uint32(v[vniOffset+2])
}

// SetVNI writes the VNI, leaving the reserved byte after it alone. It panics
// if vni exceeds MaxVNI rather than truncate it into another network's VNI.
func (v VXLAN) SetVNI(vni uint32) {
	if vni > MaxVNI {
		panic("encap: VNI exceeds 24 bits")
	}
	_ = v[vniOffset+2]
	v[vniOffset] = byte(vni >> 16)
	v[vniOffset+1] = byte(vni >> 8)
	v[vniOffset+2] = byte(vni)
}

// Init writes a complete header: the I flag, zero reserved fields and vni,
// which must not exceed MaxVNI.
func (v VXLAN) Init(vni uint32) {
	_ = v[HeaderLen-1]
	binary.BigEndian.PutUint32(v[flagsOffset:], flagsWord)
	v.SetVNI(vni)
	v[reserved2Index] = 0
}

// Encap prepends a VXLAN header for vni to the inner frame buf[offset:], in
// place: it writes the header into buf[offset-HeaderLen:offset] and returns
// buf[offset-HeaderLen:]. offset must be at least HeaderLen and vni at most
// MaxVNI; otherwise Encap panics, as for an out-of-range slice index.
func Encap(buf []byte, offset int, vni uint32) []byte {
	pkt := buf[offset-HeaderLen:]
	VXLAN(pkt).Init(vni)
	return pkt
}

// Status is the outcome of Decap. Its String values are stable and serve as
// metric label values.
type Status uint8

const (
	// OK means pkt held a valid header and at least an Ethernet header.
	OK Status = iota
	// Short means pkt was shorter than a VXLAN header.
	Short
	// BadFlags means the flags or reserved fields were not exactly what
	// RFC 7348 prescribes (only the I flag set, all reserved bits zero).
	BadFlags
	// Truncated means the inner frame was shorter than an Ethernet header.
	Truncated

	numStatus
)

var statusNames = [numStatus]string{
	OK:        "ok",
	Short:     "short",
	BadFlags:  "bad_flags",
	Truncated: "truncated",
}

// String returns the status as a metric label value: "ok", "short",
// "bad_flags" or "truncated".
func (s Status) String() string {
	if s < numStatus {
		return statusNames[s]
	}
	return "unknown"
}

// Decap validates the VXLAN datagram pkt (the UDP payload) and returns its
// VNI and inner frame, pkt[HeaderLen:], without copying.
//
// It is as strict as the Linux vxlan driver without extensions: the first
// 32-bit word must be exactly 0x08000000 (the I flag and nothing else) and
// the reserved byte after the VNI must be zero; anything else is BadFlags.
// inner is non-nil only when st is OK. vni is valid when st is OK or
// Truncated, and zero otherwise.
func Decap(pkt []byte) (vni uint32, inner []byte, st Status) {
	if len(pkt) < HeaderLen {
		return 0, nil, Short
	}
	if binary.BigEndian.Uint32(pkt[flagsOffset:]) != flagsWord || pkt[reserved2Index] != 0 {
		return 0, nil, BadFlags
	}
	vni = VXLAN(pkt).VNI()
	if len(pkt)-HeaderLen < EthernetHeaderLen {
		return vni, nil, Truncated
	}
	return vni, pkt[HeaderLen:], OK
}
