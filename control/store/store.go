package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Config configures a Store.
type Config struct {
	// NodeID is this manager's raft server ID; use the node ID.
	NodeID string
	// Dir holds the raft log and stable store (raft.db) and snapshots. It
	// is created if missing.
	Dir string
	// Transport carries raft RPCs between managers (a TLS stream layer on
	// 2377 in weftd, raft.NewInmemTransport in tests). Raft closes it on
	// Close if it has a Close method.
	Transport raft.Transport
	// Bootstrap makes this node the single voter of a new cluster if Dir
	// holds no raft state yet; it is ignored on a restart.
	Bootstrap bool
	// HeartbeatTimeout is how long a follower goes without hearing from
	// the leader before it calls an election (randomized up to twice this).
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for an election to
	// settle before trying again (randomized up to twice this).
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without
	// reaching a quorum; at most HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// Logger receives raft's logs; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns timings for managers on one LAN: a follower notices
// a lost leader after 0.5-1 s and a new one is usually elected within 2 s.
// NodeID, Dir and Transport must still be set.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		Logger:             slog.Default(),
	}
}

// configChangeTimeout bounds how long AddVoter and RemoveServer wait for the
// change to be enqueued on the leader.
const configChangeTimeout = 10 * time.Second

// snapshotsRetained is how many snapshots are kept in Dir.
const snapshotsRetained = 2

// Store is one manager's replica of the cluster state.
type Store struct {
	raft *raft.Raft
	fsm  *FSM
	db   *raftboltdb.BoltStore

	closeOnce sync.Once
	closeErr  error
}

// Open starts a raft node whose log, stable store and snapshots live in
// cfg.Dir, restoring any state found there.
func Open(cfg Config) (*Store, error) {
	rc, logw, err := raftConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Dir, err)
	}
	db, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("open store %s: raft database: %w", cfg.Dir, err)
	}
	s, err := start(cfg, rc, logw, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", cfg.Dir, err)
	}
	return s, nil
}

func raftConfig(cfg Config) (*raft.Config, logWriter, error) {
	if cfg.NodeID == "" || cfg.Dir == "" || cfg.Transport == nil {
		return nil, logWriter{}, fmt.Errorf("open store: NodeID (%q), Dir (%q) and Transport are all required", cfg.NodeID, cfg.Dir)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	logw := logWriter{log: log.With("component", "raft", "node", cfg.NodeID)}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.LogOutput, rc.LogLevel = logw, hclogLevel(logw.log)
	setIfNonZero(&rc.HeartbeatTimeout, cfg.HeartbeatTimeout)
	setIfNonZero(&rc.ElectionTimeout, cfg.ElectionTimeout)
	setIfNonZero(&rc.LeaderLeaseTimeout, cfg.LeaderLeaseTimeout)
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, logWriter{}, fmt.Errorf("open store: %w", err)
	}
	return rc, logw, nil
}

func setIfNonZero(dst *time.Duration, v time.Duration) {
	if v != 0 {
		*dst = v
	}
}

func start(cfg Config, rc *raft.Config, logw logWriter, db *raftboltdb.BoltStore) (*Store, error) {
	snaps, err := raft.NewFileSnapshotStore(cfg.Dir, snapshotsRetained, logw)
	if err != nil {
		return nil, err
	}
	logs, err := raft.NewLogCache(512, db)
	if err != nil {
		return nil, err
	}
	if cfg.Bootstrap {
		if err := bootstrap(rc, db, logs, snaps, cfg.Transport); err != nil {
			return nil, err
		}
	}
	fsm := NewFSM()
	r, err := raft.NewRaft(rc, fsm, logs, db, snaps, cfg.Transport)
	if err != nil {
		return nil, err
	}
	return &Store{raft: r, fsm: fsm, db: db}, nil
}

func bootstrap(rc *raft.Config, db *raftboltdb.BoltStore, logs raft.LogStore, snaps raft.SnapshotStore, t raft.Transport) error {
	has, err := raft.HasExistingState(logs, db, snaps)
	if err != nil || has {
		return err
	}
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: rc.LocalID, Address: t.LocalAddr()}}}
	if err := raft.BootstrapCluster(rc, logs, db, snaps, t, conf); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

// Apply replicates c through the raft log and returns what State.Apply
// returned for it once it is committed and applied here. It must be called on
// the leader: elsewhere it returns raft.ErrNotLeader, and the caller forwards
// the command to Leader(). timeout bounds the wait for the command to be
// accepted for replication.
func (s *Store) Apply(c Command, timeout time.Duration) (any, error) {
	if s.raft.State() != raft.Leader {
		return nil, raft.ErrNotLeader
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode %s command: %w", c.Op, err)
	}
	f := s.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		return nil, err
	}
	res, ok := f.Response().(Result)
	if !ok {
		return nil, fmt.Errorf("%s command: unexpected FSM response %T", c.Op, f.Response())
	}
	return res.Value, res.Err
}

// Read calls fn with this replica's state under a read lock; see FSM.Read.
// On a follower the state may lag the leader's by the entries in flight.
func (s *Store) Read(fn func(*State)) { s.fsm.Read(fn) }

// IsLeader reports whether this node is the raft leader.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the current leader's ID and address as this node knows
// them; both are empty when there is no known leader.
func (s *Store) Leader() (id string, addr raft.ServerAddress) {
	addr, sid := s.raft.LeaderWithID()
	return string(sid), addr
}

// AddVoter adds a manager to the raft configuration as a voter, or updates
// its address. Workers are never raft members. It must be called on the
// leader.
func (s *Store) AddVoter(id, addr string) error {
	if id == "" || addr == "" {
		return fmt.Errorf("add voter %q at %q: ID and address are required", id, addr)
	}
	if err := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, configChangeTimeout).Error(); err != nil {
		return fmt.Errorf("add voter %s at %s: %w", id, addr, err)
	}
	return nil
}

// RemoveServer removes a manager from the raft configuration. It must be
// called on the leader.
func (s *Store) RemoveServer(id string) error {
	if err := s.raft.RemoveServer(raft.ServerID(id), 0, configChangeTimeout).Error(); err != nil {
		return fmt.Errorf("remove server %s: %w", id, err)
	}
	return nil
}

// Servers returns the raft configuration: the managers and their addresses.
func (s *Store) Servers() ([]raft.Server, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	return f.Configuration().Servers, nil
}

// ErrNoLeader is returned by WaitLeader when no leader is known in time.
var ErrNoLeader = errors.New("no raft leader")

// leaderPoll is how often WaitLeader looks for a leader.
const leaderPoll = 10 * time.Millisecond

// WaitLeader waits until this node knows a leader (possibly itself), for at
// most timeout.
func (s *Store) WaitLeader(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if id, _ := s.Leader(); id != "" {
			return nil
		}
		if s.raft.State() == raft.Shutdown {
			return fmt.Errorf("wait for leader: %w", raft.ErrRaftShutdown)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for leader: %w after %v", ErrNoLeader, timeout)
		}
		time.Sleep(leaderPoll)
	}
}

// Close stops the raft node and closes its database. It does not hand
// leadership over first; the others elect a new leader. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		err := s.raft.Shutdown().Error()
		s.closeErr = errors.Join(err, s.db.Close())
	})
	return s.closeErr
}
