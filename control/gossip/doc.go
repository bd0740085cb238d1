// Package gossip spreads endpoint records between weftd nodes over
// memberlist, so every node learns where every container's MAC and IP live.
//
// Each node runs one Agent. The records a node publishes are its own: it
// alone sets their versions and deletes them. Every other node keeps a
// replica, merged by version (see Record). Broadcasts carry each change;
// memberlist's periodic push/pull carries the whole set, so a node that
// missed broadcasts, or joins late, converges. When memberlist declares a
// node dead, or it leaves, its records are hidden, not deleted, and they come
// back if the node does.
//
// Log records use these keys: "node" (this agent's node ID), "peer" (another
// node's ID), "endpoint", "network", "version", "state", "err", and
// "component" ("memberlist" on lines memberlist itself logs).
package gossip
