package header

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestGSOTypeIsVirtioNumbering: the GSO types are the kernel's
// VIRTIO_NET_HDR_GSO_* values, which a TAP's virtio-net header carries.
func TestGSOTypeIsVirtioNumbering(t *testing.T) {
	for _, tt := range []struct {
		name string
		got  GSOType
		want int
	}{
		{"GSONone", GSONone, unix.VIRTIO_NET_HDR_GSO_NONE},
		{"GSOTCPv4", GSOTCPv4, unix.VIRTIO_NET_HDR_GSO_TCPV4},
		{"GSOUDP", GSOUDP, unix.VIRTIO_NET_HDR_GSO_UDP},
		{"GSOTCPv6", GSOTCPv6, unix.VIRTIO_NET_HDR_GSO_TCPV6},
		{"GSOUDPL4", GSOUDPL4, unix.VIRTIO_NET_HDR_GSO_UDP_L4},
	} {
		if int(tt.got) != tt.want {
			t.Errorf("%s: got %d; want %d", tt.name, tt.got, tt.want)
		}
	}
}
