// Package store is the managers' replicated cluster state: nodes, networks,
// VNIs, address allocations, gossip keys and join-token secrets, kept in
// hashicorp/raft.
//
// The package has three layers. State holds the data and changes only through
// State.Apply, which is deterministic (every input, timestamps included, comes
// in the Command) so that every replica reaches the same result. FSM wraps a
// State as a raft.FSM with locking for concurrent readers. Store runs a raft
// node with a durable log in a directory over a caller-given transport.
package store
