package tap

import "errors"

// DefaultBatchSize is the number of frames one Read returns at most unless
// WithBatchSize says otherwise.
const DefaultBatchSize = 64

// Option changes how Open sets up a device.
type Option func(*config)

// config holds the settings Options change.
type config struct {
	// batch is the most frames one Read returns.
	batch int
	// multiQueue asks the kernel for one queue of a multi-queue TAP.
	multiQueue bool
	// offload asks for virtio-net headers and TCP segmentation and checksum
	// offload (see WithOffload).
	offload bool
	// persist makes the interface outlive its descriptors (see WithPersist).
	persist bool
}

// defaultConfig is the configuration Open uses when given no Options.
func defaultConfig() config {
	return config{batch: DefaultBatchSize}
}

// newConfig applies opts to the default configuration.
func newConfig(opts []Option) config {
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithBatchSize caps the frames one Read returns at n. Values below 1 mean 1.
func WithBatchSize(n int) Option {
	return func(c *config) { c.batch = max(n, 1) }
}

// WithMultiQueue opens one queue of a multi-queue TAP (IFF_MULTI_QUEUE). Every
// queue of an interface must be opened with it; OpenQueues does so.
func WithMultiQueue() Option {
	return func(c *config) { c.multiQueue = true }
}

// WithOffload opens the TAP with IFF_VNET_HDR and turns on checksum and TCP
// segmentation offload (and UDP segmentation where the kernel has it): the
// kernel hands over TCP super-frames of up to 64 KB with their checksum
// left to do, each preceded by a virtio-net header (see VnetHdr), and
// expects one in front of every frame written. Read puts the header in the
// VnetHdrLen bytes before offset and the frame at offset; Write sends the
// VnetHdrLen bytes before offset as the header, which the caller fills
// (zero for a plain frame; a GSO header for a coalesced super-frame):
// offsets must be at least VnetHdrLen. Offloaded reports what the kernel
// took.
func WithOffload() Option {
	return func(c *config) { c.offload = true }
}

// WithPersist makes the interface persistent (TUNSETPERSIST): it outlives
// the device's descriptors, so that a process that exits or crashes leaves
// it in place, with its index, MTU and bridge port, and a later Open of the
// same name and flags attaches to it again. Only deleting the link removes
// it. Without this option Open leaves an existing interface's persistence
// as it is.
func WithPersist() Option {
	return func(c *config) { c.persist = true }
}

// ErrIncompatible is returned by Open when an interface of that name exists
// but cannot be attached to with the options given: it is multi-queue and
// the options are not (or the reverse), or it is not a TAP. Deleting the
// link and opening again makes a fresh one.
var ErrIncompatible = errors.New("tap: an interface of that name exists with other flags (multi-queue or not, or not a TAP)")
