package tap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// tunPath is the clone device every TAP is opened through.
const tunPath = "/dev/net/tun"

var _ Device = (*Linux)(nil)

// Linux is a TAP device opened through /dev/net/tun. Its file descriptor is
// non-blocking and driven by Go's poller, so a blocked Read holds no thread.
//
// Read and Write may run concurrently with each other; concurrent calls of the
// same method are serialised.
type Linux struct {
	name     string
	batch    int
	offloads int // TUN_F_* flags the kernel took; 0: frames come and go without virtio-net headers
	file     *os.File
	rc       syscall.RawConn

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	rmu    sync.Mutex
	rd     readState
	readFn func(fd uintptr) bool // d.readBatch, bound once so Read does not allocate

	wmu     sync.Mutex
	wr      writeState
	writeFn func(fd uintptr) bool // d.writeBatch, bound once so Write does not allocate
}

// Open opens the TAP interface called name, creating it if it does not exist
// and attaching to it if it does. An empty name, or one with a %d verb such as
// "weft%d", lets the kernel choose; Name reports its choice. The interface is
// left down: bringing it up is the caller's job.
//
// An existing interface (one made WithPersist, say) keeps its index, and
// Open gives it the virtio-net header and offloads opts ask for, turning
// off those an earlier user turned on. The kernel attaches to it only with
// the same multi-queue flag; otherwise, or if it is not a TAP, the error
// matches ErrIncompatible.
func Open(name string, opts ...Option) (*Linux, error) {
	cfg := newConfig(opts)
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("tap %s: open %s: %w", name, tunPath, err)
	}
	kname, err := setIff(fd, name, cfg.multiQueue, cfg.offload)
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EINVAL) && linkExists(name) {
			err = fmt.Errorf("%w: %w", ErrIncompatible, err)
		}
		return nil, fmt.Errorf("tap %s: TUNSETIFF: %w", name, err)
	}
	offloads, err := configure(fd, kname, cfg)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	d, err := newLinux(fd, kname, cfg)
	if d != nil {
		d.offloads = offloads
	}
	return d, err
}

// OpenQueues opens n queues of the multi-queue TAP interface called name,
// creating it if it does not exist. Each queue is a Device of its own; the
// kernel spreads outgoing flows across them. On error no queue is left open.
func OpenQueues(name string, n int, opts ...Option) ([]*Linux, error) {
	if n < 1 {
		return nil, fmt.Errorf("tap %s: open %d queues: need at least one", name, n)
	}
	opts = append(opts[:len(opts):len(opts)], WithMultiQueue())
	qs := make([]*Linux, 0, n)
	for range n {
		q, err := Open(name, opts...)
		if err != nil {
			closeAll(qs)
			return nil, err
		}
		qs = append(qs, q)
		name = q.Name() // later queues join the interface the kernel named
	}
	return qs, nil
}

// Offloaded reports whether the device was opened WithOffload: its frames
// come and go with virtio-net headers before them.
func (d *Linux) Offloaded() bool { return d.offloads != 0 }

// closeAll closes every device in ds.
func closeAll(ds []*Linux) {
	for _, d := range ds {
		d.Close()
	}
}

// configure sets up a TAP just attached to: its offloads, on or off (an
// interface that persisted keeps what its last user set), and then, so that
// a failed Open leaves no new interface behind, its persistence. It returns
// the TUN_F_* flags the kernel took.
func configure(fd int, name string, cfg config) (int, error) {
	offloads := 0
	if cfg.offload {
		var err error
		if offloads, err = setOffload(fd); err != nil {
			return 0, fmt.Errorf("tap %s: TUNSETOFFLOAD: %w", name, err)
		}
	} else if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, 0); err != nil {
		return 0, fmt.Errorf("tap %s: TUNSETOFFLOAD 0: %w", name, err)
	}
	if cfg.persist {
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
			return 0, fmt.Errorf("tap %s: TUNSETPERSIST: %w", name, err)
		}
	}
	return offloads, nil
}

// linkExists reports whether an interface called name exists in the calling
// thread's network namespace.
func linkExists(name string) bool {
	if name == "" {
		return false
	}
	_, err := net.InterfaceByName(name)
	return err == nil
}

// setOffload turns on checksum and segmentation offload, with UDP
// segmentation if the kernel accepts it, and returns the flags it took.
func setOffload(fd int) (int, error) {
	tcp := unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6 | unix.TUN_F_TSO_ECN
	for _, flags := range []int{tcp | unix.TUN_F_USO4 | unix.TUN_F_USO6, tcp} {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, flags); err == nil {
			return flags, nil
		}
	}
	return 0, unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tcp)
}

// setIff binds fd to the TAP interface name and returns the kernel's name.
func setIff(fd int, name string, multiQueue, vnetHdr bool) (string, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return "", err
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if multiQueue {
		flags |= unix.IFF_MULTI_QUEUE
	}
	if vnetHdr {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return "", err
	}
	return ifr.Name(), nil
}

// newLinux wraps the non-blocking fd of an attached TAP for the poller.
func newLinux(fd int, name string, cfg config) (*Linux, error) {
	f := os.NewFile(uintptr(fd), tunPath)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tap %s: %w", name, err)
	}
	d := &Linux{name: name, batch: cfg.batch, file: f, rc: rc}
	d.readFn = d.readBatch
	d.writeFn = d.writeBatch
	return d, nil
}

// Name is the kernel's name of the interface.
func (d *Linux) Name() string { return d.name }

// BatchSize is the most frames one Read returns.
func (d *Linux) BatchSize() int { return d.batch }

// Close detaches from the interface and unblocks a pending Read. The kernel
// removes the interface when its last queue closes, unless it is persistent.
// Calls after the first return the first call's result.
func (d *Linux) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		if err := d.file.Close(); err != nil {
			d.closeErr = fmt.Errorf("tap %s: close: %w", d.name, err)
		}
	})
	return d.closeErr
}

// wrap names the device and operation in err, and turns any error after
// Close into one matching net.ErrClosed.
func (d *Linux) wrap(op string, err error) error {
	if d.closed.Load() || errors.Is(err, os.ErrClosed) {
		err = net.ErrClosed
	}
	return fmt.Errorf("tap %s: %s: %w", d.name, op, err)
}
