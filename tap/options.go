package tap

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
