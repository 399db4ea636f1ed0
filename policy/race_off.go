//go:build !race

package policy

// The factors race builds apply to compile bounds (see race_on.go).
const (
	raceAddressFactor = 1
	raceTimeFactor    = 1
)
