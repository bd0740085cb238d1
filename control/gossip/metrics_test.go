package gossip

import (
	"maps"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

func TestMemberCounts(t *testing.T) {
	c := newTestCluster(t, nil)
	agents, _ := c.startJoined("a", "b", "c")
	want := map[MemberState]int{StateAlive: 3, StateSuspect: 0, StateDead: 0, StateLeft: 0}
	if got := agents[0].MemberCounts(); !maps.Equal(got, want) {
		t.Fatalf("three alive: got %v; want %v", got, want)
	}
	if err := agents[2].Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	want = map[MemberState]int{StateAlive: 2, StateSuspect: 0, StateDead: 0, StateLeft: 1}
	var got map[MemberState]int
	if !poll.Wait(3*time.Second, func() bool { got = agents[0].MemberCounts(); return maps.Equal(got, want) }) {
		t.Fatalf("after c left: got %v; want %v", got, want)
	}
	if n := len(MemberStates()); n != 4 {
		t.Fatalf("MemberStates: got %d; want 4", n)
	}
}
