package encap

// Offload is one of the underlay socket's offloads (see offload_linux.go).
type Offload uint8

// The offloads a UDPConn uses where the kernel has them.
const (
	// OffloadSegment is UDP_SEGMENT: a run of datagrams of one size to one
	// destination is sent as one message, one trip through the stack.
	OffloadSegment Offload = iota
	// OffloadGRO is UDP_GRO: runs the kernel coalesced on the way in are
	// read as one message.
	OffloadGRO
	numOffloads
)

var offloadNames = [numOffloads]string{"UDP_SEGMENT", "UDP_GRO"}

// String returns the offload's socket option name.
func (o Offload) String() string {
	if o < numOffloads {
		return offloadNames[o]
	}
	return "unknown"
}

// Option configures Listen and ListenQueues.
type Option func(*options)

type options struct {
	refused func(Offload, error) // see WithOffloadRefused; nil: none
}

// WithOffloadRefused has f called when the kernel refuses an offload the
// sockets were to use, with the offload and the kernel's error. It is
// called once per offload for all the sockets of one Listen or
// ListenQueues call, however many sockets there are and however many sends
// fail:
//   - before Listen or ListenQueues returns, for an offload the kernel does
//     not have (UDP_SEGMENT before Linux 4.18, UDP_GRO before 5.0);
//   - from within WriteBatch, on the sending goroutine, when a UDP_SEGMENT
//     send fails with EIO (an IPsec transform applies to the route, or,
//     on kernels without "udp: Allow GSO transmit from devices with no
//     checksum offload", its device cannot checksum): UDP_SEGMENT is then
//     off for every socket of the set, for good.
//
// f must return quickly, since a send waits for it, and must not call the
// sockets' methods. An offload that DisableOffload turned off is not
// refused. Without this option refusals are silent, and Offload alone shows
// them. On platforms without these offloads f is never called.
func WithOffloadRefused(f func(o Offload, err error)) Option {
	return func(o *options) { o.refused = f }
}
