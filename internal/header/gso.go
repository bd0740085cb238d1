package header

// GSOType is the segmentation a frame asks for, numbered as the gso_type
// field of a virtio-net header numbers it, without the ECN bit that the
// header adds to it. It is the one representation that a TAP's virtio-net
// header and the segmentation and coalescing of frames share.
type GSOType uint8

// Segmentation kinds, with their virtio-net names.
const (
	GSONone  GSOType = 0 // VIRTIO_NET_HDR_GSO_NONE: no segmentation
	GSOTCPv4 GSOType = 1 // VIRTIO_NET_HDR_GSO_TCPV4: TCP over IPv4 (TSO)
	GSOUDP   GSOType = 3 // VIRTIO_NET_HDR_GSO_UDP: UDP fragmentation (UFO), which no TAP of weft's enables
	GSOTCPv6 GSOType = 4 // VIRTIO_NET_HDR_GSO_TCPV6: TCP over IPv6 (TSO)
	GSOUDPL4 GSOType = 5 // VIRTIO_NET_HDR_GSO_UDP_L4: UDP segmentation (USO), IPv4 or IPv6
)
