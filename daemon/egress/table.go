package egress

import (
	"log/slog"
	"sync"
)

// Table is weft's nftables tables in one network namespace.
type Table struct {
	// NetNS is a descriptor of the namespace whose tables are programmed;
	// 0 is this process's namespace, where Apply also turns on IPv4
	// forwarding when a network needs it.
	NetNS int
	Log   *slog.Logger

	mu        sync.Mutex // serializes Apply; guards forwardOn
	forwardOn bool       // Apply has seen IPv4 forwarding on
}
