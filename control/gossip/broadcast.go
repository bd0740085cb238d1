package gossip

import "github.com/hashicorp/memberlist"

// maxBroadcast is the largest message queued for broadcast. Broadcasts are
// packed into packets of UDPBufferSize (1400) bytes less memberlist's
// headers and encryption overhead (see maxPacket); a larger message would
// never be sent. Syncs still carry records too large to broadcast.
const maxBroadcast = 1200

var _ memberlist.NamedBroadcast = (*broadcast)(nil)

// broadcast is a message for memberlist's TransmitLimitedQueue. A newer
// message with the same name replaces one still queued.
type broadcast struct {
	name string // "r/" + endpoint ID, "l/" + node ID, or "i/" + node ID + "/" + network ID
	msg  []byte
}

// Invalidates reports whether b replaces o: both have the same name.
func (b *broadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}

// Name returns the broadcast's name.
func (b *broadcast) Name() string { return b.name }

// Message returns the encoded message.
func (b *broadcast) Message() []byte { return b.msg }

// Finished is called when the queue is done with b; nothing waits for it.
func (b *broadcast) Finished() {}

// broadcast queues r for gossip to the members that have its network.
func (a *Agent) broadcast(r Record) {
	msg := encodeRecord(r)
	if len(msg) > maxBroadcast {
		a.log.Warn("record too large to broadcast; syncs will carry it",
			"endpoint", r.EndpointID, "bytes", len(msg), "limit", maxBroadcast)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.netQueueLocked(r.Network).queue.QueueBroadcast(&broadcast{name: "r/" + r.EndpointID, msg: msg})
}
