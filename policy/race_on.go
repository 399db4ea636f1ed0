//go:build race

package policy

// Race builds (tests only) are slower and bigger: a compile child's
// address space bound is widened by raceAddressFactor, because the race
// detector maps shadow memory for every heap arena (about three times the
// heap), and the default CPU and wall-clock bounds are stretched by
// raceTimeFactor, because wazero compiles about 30 times slower under the
// detector; so is the default instantiation deadline (InitTimeout). Bounds set explicitly in Config are kept.
const (
	raceAddressFactor = 4
	raceTimeFactor    = 30
)
