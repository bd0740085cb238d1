package tap

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/weftnet/weft/internal/header"
)

// VnetHdrLen is the size of struct virtio_net_hdr: what a TAP opened with
// IFF_VNET_HDR puts in front of every frame it hands over, and expects in
// front of every frame written to it.
//
//	 0       1       2               4               6               8              10
//	+-------+-------+---------------+---------------+---------------+---------------+
//	| flags |  gso  |    hdr_len    |   gso_size    |  csum_start   |  csum_offset  |
//	+-------+-------+---------------+---------------+---------------+---------------+
//
// The 16-bit fields are little-endian, as the TAP device uses them on the
// little-endian hosts weft runs on. Offsets count from the start of the
// Ethernet header.
const VnetHdrLen = 10

// Virtio-net header flags, and the ECN bit of its GSO type (the types
// themselves are header.GSOType).
const (
	VnetNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: csum_start/csum_offset hold checksum work left to do
	VnetDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID: the checksum was checked

	VnetGSOECN = 0x80 // set with a TCP type: the super-frame's CWR goes to the first segment
)

// VnetHdr is a parsed virtio-net header.
type VnetHdr struct {
	Flags      uint8
	GSOType    header.GSOType // without VnetGSOECN
	ECN        bool
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// ErrVnetHdr means a virtio-net header that weft cannot honour.
var ErrVnetHdr = errors.New("tap: bad virtio-net header")

// ParseVnetHdr reads the virtio-net header at the start of b and checks it
// against the frame that follows (frameLen bytes): a known GSO type with a
// segment size, and checksum offsets inside the frame.
func ParseVnetHdr(b []byte, frameLen int) (VnetHdr, error) {
	if len(b) < VnetHdrLen {
		return VnetHdr{}, fmt.Errorf("%w: %d bytes", ErrVnetHdr, len(b))
	}
	h := VnetHdr{
		Flags: b[0], GSOType: header.GSOType(b[1] &^ VnetGSOECN), ECN: b[1]&VnetGSOECN != 0,
		HdrLen: binary.LittleEndian.Uint16(b[2:]), GSOSize: binary.LittleEndian.Uint16(b[4:]),
		CsumStart: binary.LittleEndian.Uint16(b[6:]), CsumOffset: binary.LittleEndian.Uint16(b[8:]),
	}
	switch h.GSOType {
	case header.GSONone:
	case header.GSOTCPv4, header.GSOTCPv6, header.GSOUDPL4:
		if h.GSOSize == 0 || h.Flags&VnetNeedsCsum == 0 {
			return h, fmt.Errorf("%w: GSO type %d with segment size %d, flags %#x", ErrVnetHdr, h.GSOType, h.GSOSize, h.Flags)
		}
	default:
		return h, fmt.Errorf("%w: GSO type %d", ErrVnetHdr, h.GSOType)
	}
	if h.Flags&VnetNeedsCsum != 0 && int(h.CsumStart)+int(h.CsumOffset)+2 > frameLen {
		return h, fmt.Errorf("%w: checksum at %d+%d beyond a %d-byte frame", ErrVnetHdr, h.CsumStart, h.CsumOffset, frameLen)
	}
	return h, nil
}

// Put writes h at the start of b, which must hold VnetHdrLen bytes.
func (h VnetHdr) Put(b []byte) {
	b[0], b[1] = h.Flags, byte(h.GSOType)
	if h.ECN {
		b[1] |= VnetGSOECN
	}
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
}
