package gossip

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestWrongKeyCannotJoin(t *testing.T) {
	tests := []struct {
		name string
		keys [][]byte
	}{
		{"other key", [][]byte{key(9)}},
		{"other key of another size", [][]byte{key(9)[:16]}},
		{"no encryption", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster(t, nil)
			agents, _ := c.startJoined("a", "b")
			intruder, _ := c.start("x", func(cfg *Config) { cfg.Keys = tt.keys })
			if n, err := intruder.Join([]string{c.addr("a")}); err == nil {
				t.Errorf("Join = %d, nil; want an error", n)
			}
			// A node with the key that joins after the intruder's attempt
			// is a marker: once every member knows it, they have heard what
			// they would have of the intruder.
			marker, _ := c.start("y")
			if _, err := marker.Join([]string{c.addr("a")}); err != nil {
				t.Fatal(err)
			}
			waitAlive(t, append(agents, marker), len(agents)+1)
			for _, a := range agents {
				for _, m := range a.Members() {
					if m.ID == "x" {
						t.Errorf("%s admitted x: %+v", a.cfg.NodeID, m)
					}
				}
			}
			if got := len(intruder.Members()); got != 1 {
				t.Errorf("intruder sees %d members; want 1 (itself)", got)
			}
		})
	}
}

// TestKeyRotation rotates the gossip key on every node, one node at a time,
// in the three steps SetKeys documents, while records keep being published:
// no node may be declared dead, and gossip must flow at the end.
func TestKeyRotation(t *testing.T) {
	k0, k1, k2 := key(0), key(1), key(2)
	c := newTestCluster(t, func(cfg *Config) { cfg.Keys = [][]byte{k1, k0} })
	agents, recs := c.startJoined("a", "b", "c")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // gossip keeps flowing during the rotation
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			agents[i%len(agents)].Publish(testRecord("n1", "e"+strconv.Itoa(i%10), i))
		}
	}()
	steps := []struct {
		name string
		keys [][]byte
	}{
		{"install", [][]byte{k1, k0, k2}},
		{"promote", [][]byte{k2, k1, k0}},
		{"retire", [][]byte{k2, k1}},
	}
	for _, step := range steps {
		for i, a := range agents {
			if err := a.SetKeys(step.keys); err != nil {
				t.Fatalf("%s on %s: %v", step.name, a.cfg.NodeID, err)
			}
			// Between nodes, wait longer than the failure detector needs
			// (about 1 s), so that a node unable to read another would be
			// declared dead. This pause is not a wait for a condition: it is
			// the time the rotation must hold up under the failure
			// detector, and no event marks that a probe of every pair
			// went through.
			pause := time.Duration(1200+rand.IntN(300)) * time.Millisecond
			if i == len(agents)-1 {
				pause = 300 * time.Millisecond
			}
			time.Sleep(pause)
		}
		if got := agents[0].keyring.GetKeys(); !keysEqual(got, step.keys) {
			t.Errorf("%s: ring = %x; want %x", step.name, got, step.keys)
		}
	}
	close(stop)
	wg.Wait()

	final := agents[2].Publish(testRecord("n1", "final", 1))
	for i, a := range agents {
		poll.Until(t, 3*time.Second, "final record on "+a.cfg.NodeID, func() bool { return hasVisible(a, "n1", "final", final.Version) })
		if n := countState(a, StateAlive); n != 3 {
			t.Errorf("%s sees %d members alive; want 3", a.cfg.NodeID, n)
		}
		for _, m := range recs[i].memberCalls() {
			if m.State != StateAlive {
				t.Errorf("%s saw %s %v during the rotation", a.cfg.NodeID, m.ID, m.State)
			}
		}
	}
	old, _ := c.start("old", func(cfg *Config) { cfg.Keys = [][]byte{k0} })
	if _, err := old.Join([]string{c.addr("a")}); err == nil {
		t.Errorf("node with the retired key joined; want refused")
	}
}

func keysEqual(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

func TestSetKeysErrors(t *testing.T) {
	c := newTestCluster(t, nil)
	enc, _ := c.start("enc")
	plain, _ := c.start("plain", func(cfg *Config) { cfg.Keys = nil })
	tests := []struct {
		name string
		a    *Agent
		keys [][]byte
	}{
		{"no keys", enc, nil},
		{"bad key size", enc, [][]byte{key(1), []byte("short")}},
		{"encryption off", plain, [][]byte{key(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.a.SetKeys(tt.keys); err == nil {
				t.Errorf("SetKeys: got nil error; want one")
			}
		})
	}
	if got := enc.keyring.GetKeys(); !keysEqual(got, [][]byte{testKey}) {
		t.Errorf("ring after failed SetKeys = %x; want unchanged", got)
	}
}
