//go:build race

package bench

// raceEnabled says the race detector is on: it distorts throughput, so the
// throughput guard skips.
const raceEnabled = true
