package store

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// Result is what FSM.Apply returns for each log entry (raft hands it back
// through ApplyFuture.Response): State.Apply's value and error.
type Result struct {
	Value any
	Err   error
}

// FSM is a State driven by a raft log. Apply, Snapshot and Restore are
// called by raft; Read may be called from any goroutine at the same time.
type FSM struct {
	mu    sync.RWMutex
	state *State
}

var _ raft.FSM = (*FSM)(nil)

// NewFSM returns an FSM holding NewState().
func NewFSM() *FSM {
	return &FSM{state: NewState()}
}

// Apply decodes the Command in l and applies it, returning a Result. A log
// entry that does not decode is a failed command, not a crash: every replica
// fails it the same way.
func (f *FSM) Apply(l *raft.Log) any {
	var c Command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return Result{Err: fmt.Errorf("decode command at raft index %d: %w", l.Index, err)}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.state.Apply(c)
	return Result{Value: v, Err: err}
}

// Read calls fn with the current state under a read lock. fn must not modify
// the state or keep references to it after returning; copy what it needs
// (State.Clone copies everything).
func (f *FSM) Read(fn func(*State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// Snapshot captures the state as JSON.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(f.state)
	if err != nil {
		return nil, fmt.Errorf("snapshot state: %w", err)
	}
	return snapshot(b), nil
}

// Restore replaces the state with one read from a Snapshot.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s := &State{}
	if err := json.NewDecoder(rc).Decode(s); err != nil {
		return fmt.Errorf("restore state: %w", err)
	}
	s.init()
	f.mu.Lock()
	f.state = s
	f.mu.Unlock()
	return nil
}

// snapshot is a State encoded as JSON.
type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel() // the write error is the one worth reporting
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}
