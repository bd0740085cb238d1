//go:build race

package vtep

// raceEnabled is set under -race, where allocation counts are unreliable.
const raceEnabled = true
