// Package gossip spreads endpoint records between weftd nodes over
// memberlist, so every node learns where every container's MAC and IP live.
//
// Each node runs one Agent. The records a node publishes are its own: it
// alone sets their versions and deletes them. Each node says which networks
// it has (SetInterest); that is gossiped to everyone, and the records of a
// network go only to the nodes that have it, which keep a replica merged by
// version (see Record). Broadcasts among those nodes carry each change;
// periodic syncs between them carry the whole set of a network, so a node
// that missed broadcasts, or joins late, converges (see sync.go). When
// memberlist declares a node dead, or it leaves, its records are hidden, not
// deleted, and they come back if the node does.
//
// Log records use these keys: "node" (this agent's node ID), "peer" (another
// node's ID), "endpoint", "network", "version", "state", "err", and
// "component" ("memberlist" on lines memberlist itself logs).
package gossip
