//go:build race

package ratelimit

// raceEnabled says the race detector is on: it makes every operation many
// times slower, so the flood test sends fewer addresses.
const raceEnabled = true
