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

	// guardIdleSessions is how many idle sessions the memory guard opens:
	// enough that fixed costs (the runtime's, the listener's) weigh
	// little in the RSS per session, few enough for about 3 s in CI.
	guardIdleSessions = 2000
	// maxIdleHeap bounds the server's heap per idle logged-in session
	// (measured 1.6-1.7 KiB on 2026-12-06: the goroutine's g, the
	// session, its connection; a parked session holds no control reader).
	maxIdleHeap = 3 << 10
	// maxIdleHeapStack bounds heap plus goroutine stacks per idle session
	// (measured 3.7-3.8 KiB: one 2 KiB stack, that of the parked
	// session's fresh goroutine, engine's idleWait). A session that idles
	// in the command loop's read again (4 KiB, 5.9 KiB in all), or a
	// second goroutine per session, fails it.
	maxIdleHeapStack = 5 << 10
	// maxIdleRSS bounds the server's resident memory per idle session
	// (measured 5.3-5.5 KiB at 2000 sessions, 4.6-5.0 at 10,000; 7.0-7.1
	// before sessions were parked); RSS is noisier, so the bound is wider.
	maxIdleRSS = 6656
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
