//go:build race

package encap

// raceEnabled is set under -race, where sync.Pool drops items at random and
// allocation counts are meaningless.
const raceEnabled = true
