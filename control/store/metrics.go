package store

import (
	"strings"

	"github.com/hashicorp/raft"
)

// RaftStats is what a manager's raft node reports about itself, for
// metrics. Every field is read without waiting on raft's main loop.
type RaftStats struct {
	// State is the node's raft state in lower case: "follower",
	// "candidate", "leader" or "shutdown".
	State string
	// Leader is true when State is "leader".
	Leader bool
	// Term is the current raft term.
	Term uint64
	// CommitIndex is the highest log index known committed.
	CommitIndex uint64
	// AppliedIndex is the highest log index applied to this replica's
	// state.
	AppliedIndex uint64
	// LastIndex is the highest log index in the log or the last snapshot.
	LastIndex uint64
}

// RaftStates lists every value of RaftStats.State.
func RaftStates() []string {
	return []string{"follower", "candidate", "leader", "shutdown"}
}

// RaftStats reads this node's raft state and indexes.
func (s *Store) RaftStats() RaftStats {
	st := s.raft.State()
	return RaftStats{
		State:        strings.ToLower(st.String()),
		Leader:       st == raft.Leader,
		Term:         s.raft.CurrentTerm(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.raft.AppliedIndex(),
		LastIndex:    s.raft.LastIndex(),
	}
}
