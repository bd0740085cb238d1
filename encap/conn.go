package encap

import "net/netip"

// Conn is the underlay UDP socket, moving datagrams in batches.
//
// The caller owns every buffer: a Conn never retains a slice after a call
// returns. Offsets leave headroom in front of each datagram so that the caller
// can write or strip outer headers in place; offset must not exceed
// len(bufs[i]).
//
// A Conn is safe for concurrent use by multiple goroutines; concurrent calls of
// the same method may be serialized.
type Conn interface {
	// ReadBatch reads up to len(bufs) datagrams. Datagram i is written to
	// bufs[i][offset:], its length stored in sizes[i] and its sender in from[i]
	// (an IPv4 sender as an IPv4 address, never IPv4-mapped IPv6); sizes and
	// from must be at least as long as bufs. A datagram longer than
	// len(bufs[i])-offset is truncated and its size reported as
	// len(bufs[i])-offset. It blocks until at least one datagram is available
	// and returns the number read, at most BatchSize. Asynchronous errors that
	// an ICMP message from a peer leaves on the socket (such as ECONNREFUSED)
	// are absorbed, not returned. After Close it returns an error matching
	// net.ErrClosed.
	ReadBatch(bufs [][]byte, sizes []int, from []netip.AddrPort, offset int) (int, error)

	// WriteBatch sends bufs[i][offset:] to to[i] for every i, in order;
	// len(to) must be at least len(bufs). It returns the number of datagrams
	// sent and an error that is nil exactly when all were sent.
	//
	// A datagram the kernel refuses (EMSGSIZE, no route to its destination,
	// ...) is skipped and the rest of the batch is still sent: the error
	// returned is the first such one, and n counts only the datagrams sent,
	// so len(bufs)-n were dropped. An error an earlier ICMP message left on
	// the socket (such as ECONNREFUSED) is not held against the datagram that
	// happens to be sent next. Once the socket is closed WriteBatch stops,
	// returning the count so far and an error matching net.ErrClosed.
	WriteBatch(bufs [][]byte, to []netip.AddrPort, offset int) (int, error)

	// LocalAddr is the address the socket is bound to, with the port the
	// kernel chose when it was bound to port 0.
	LocalAddr() netip.AddrPort

	// BatchSize is the largest number of datagrams one ReadBatch can return, a
	// hint for sizing bufs.
	BatchSize() int

	// Close closes the socket and unblocks a pending ReadBatch. Calling it
	// more than once is safe.
	Close() error
}
