package gossip

// MemberStates lists every MemberState, in order.
func MemberStates() []MemberState {
	return []MemberState{StateAlive, StateSuspect, StateDead, StateLeft}
}

// MemberCounts returns how many members, this node included, this agent
// sees in each state, with every state of MemberStates present (zero if
// none). Dead and left members count until they are forgotten, as in
// Members. It is for metrics: it copies nothing but the counts.
func (a *Agent) MemberCounts() map[MemberState]int {
	out := make(map[MemberState]int, 4)
	for _, s := range MemberStates() {
		out[s] = 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.members {
		out[e.State]++
	}
	return out
}
