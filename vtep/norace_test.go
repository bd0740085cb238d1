//go:build !race

package vtep

const raceEnabled = false
