package bench

import (
	"testing"
)

// Guard bounds. They are ratios to a ceiling measured in the same run, or
// sizes; never absolute times. README.md explains how they were chosen.
const (
	// minRatio is the lowest acceptable fraction of the ceiling for a
	// plain RETR or STOR over the OS filesystem.
	minRatio = 0.6
	// guardSize is the transfer size of the throughput guard.
	guardSize = 64 << 20
	// guardRuns is how many times each of the ceiling and the server
	// transfers; the best of each is compared.
	guardRuns = 3
	// guardAttempts is how many times the whole comparison may be taken
	// before the guard fails, so that a burst of load from elsewhere on
	// the machine does not fail CI.
	guardAttempts = 3

	// guardIdleSessions is how many idle sessions the memory guard opens.
	guardIdleSessions = 500
	// maxIdleHeap bounds the server's heap per idle logged-in session
	// (measured 2.2-2.3 KiB on 2026-12-03: the goroutine's g, the
	// session, its connection, its 128-byte control reader).
	maxIdleHeap = 4 << 10
	// maxIdleHeapStack bounds heap plus goroutine stacks per idle session
	// (measured 6.3-6.5 KiB: one 4 KiB stack, the GC having shrunk it).
	// It is issue 5's goal of 10 KiB: a second goroutine per session, or
	// an idle stack that stays at 8 KiB because the frames under the
	// command loop's read grew past a quarter of it (the GC then no longer
	// halves it), fails it.
	maxIdleHeapStack = 10 << 10
	// maxIdleRSS bounds the server's resident memory per idle session
	// (measured 8.1-9.3 KiB); RSS is noisier, so the bound is wider.
	maxIdleRSS = 16 << 10
)

// TestThroughputGuard fails when a plain RETR or STOR over the OS
// filesystem falls below minRatio of its ceiling (sendfile for RETR,
// splice for STOR) measured in the same run.
func TestThroughputGuard(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector distorts throughput; CI runs this guard without -race too")
	}
	fx := getFixture(t, guardSize)
	r := newRig(t, xferCase{OSFS, false}, fx)
	for _, tc := range []struct {
		name            string
		ceiling, server func() (Measurement, error)
	}{
		{"RETR", r.ceilingRetr, r.retr},
		{"STOR", r.ceilingStor, r.stor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ratio float64
			for attempt := 1; attempt <= guardAttempts; attempt++ {
				var ceil, srv []Measurement
				for range guardRuns {
					c, err := tc.ceiling()
					if err != nil {
						t.Fatalf("ceiling: %v", err)
					}
					s, err := tc.server()
					if err != nil {
						t.Fatalf("server: %v", err)
					}
					ceil, srv = append(ceil, c), append(srv, s)
				}
				bc, bs := Best(ceil), Best(srv)
				ratio = bs.MBps() / bc.MBps()
				t.Logf("attempt %d: %s %.0f MB/s, ceiling %.0f MB/s, ratio %.2f; CPU %.2f s/GB, ceiling %.2f s/GB",
					attempt, tc.name, bs.MBps(), bc.MBps(), ratio, bs.CPUPerGB(), bc.CPUPerGB())
				if ratio >= minRatio {
					return
				}
			}
			t.Errorf("%s reaches %.2f of its ceiling, below the guard's %.2f", tc.name, ratio, minRatio)
		})
	}
}

// TestIdleMemoryGuard fails when an idle logged-in session costs the
// server more memory than the bounds above.
func TestIdleMemoryGuard(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector inflates memory; CI runs this guard without -race too")
	}
	r := measureIdle(t, guardIdleSessions)
	t.Logf("%d idle sessions: %.0f B heap, %.0f B stack, %.0f B RSS per session", r.sessions, r.heap, r.stack, r.rss)
	if r.heap > maxIdleHeap {
		t.Errorf("heap per idle session %.0f B exceeds %d B", r.heap, maxIdleHeap)
	}
	if r.heap+r.stack > maxIdleHeapStack {
		t.Errorf("heap+stack per idle session %.0f B exceeds %d B", r.heap+r.stack, maxIdleHeapStack)
	}
	if r.rss > maxIdleRSS {
		t.Errorf("RSS per idle session %.0f B exceeds %d B", r.rss, maxIdleRSS)
	}
}
