package policy

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// latencyBuckets is a log-scale histogram: bucket i holds calls that took
// about 2^(i/4) ns, so a percentile read from it is within 19 %.
const latencyBuckets = 128

// stats are one tenant's counters, updated without locks.
type stats struct {
	calls, allows, denies, rewrites atomic.Uint64
	errors, timeouts, skipped       atomic.Uint64
	breakerOpens                    atomic.Uint64
	cancelled                       atomic.Uint64 // callers gone before an instance was free; not errors
	busy                            atomic.Uint64 // calls that found every instance busy for InitTimeout; not errors
	latency                         [latencyBuckets]atomic.Uint64
	latencySum                      atomic.Int64 // nanoseconds of every call, for LatencyCounts
}

// quarterSteps are 2^63 × 2^(j/4) for j = 1, 2, 3, rounded up: a
// duration whose leading bit is shifted to bit 63 reaches quarter step j
// of its octave when it is at least quarterSteps[j-1].
var quarterSteps = [3]uint64{10968499650544839024, 13043817825332782213, 15511800964685064949}

// bucketOf is floor(4 × log2(d)), capped at the last bucket, in integer
// arithmetic: every call is counted, and math.Log2 cost about a tenth of
// the host's side of a call. It is exact, where the float logarithm could
// round a duration near an edge into the next bucket.
func bucketOf(d time.Duration) int {
	if d <= 1 {
		return 0
	}
	u := uint64(d)
	k := bits.Len64(u) - 1 // the octave: 2^k <= d < 2^(k+1)
	m := u << (63 - k)
	q := 4 * k
	for _, t := range quarterSteps {
		if m >= t {
			q++
		}
	}
	return min(latencyBuckets-1, q)
}

func (s *stats) observe(d time.Duration) {
	s.latency[bucketOf(d)].Add(1)
	s.latencySum.Add(int64(d))
}

// percentile returns the upper edge of the bucket holding quantile q.
func (s *stats) percentile(q float64) time.Duration {
	var counts [latencyBuckets]uint64
	var total uint64
	for i := range s.latency {
		counts[i] = s.latency[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= want {
			return time.Duration(math.Pow(2, float64(i+1)/4))
		}
	}
	return 0
}

// Figures are one tenant's policy figures, as an operator reads them.
type Figures struct {
	Tenant        string        `json:"tenant"`
	Module        string        `json:"module,omitempty"` // hash of the installed module
	Calls         uint64        `json:"calls"`            // calls into the module
	Allows        uint64        `json:"allows"`
	Denies        uint64        `json:"denies"` // by the module, not by on_error
	Rewrites      uint64        `json:"rewrites"`
	Errors        uint64        `json:"errors"`    // failed calls, timeouts included
	Timeouts      uint64        `json:"timeouts"`  // calls stopped by the deadline
	Cancelled     uint64        `json:"cancelled"` // callers gone while waiting for an instance: 451, not errors, not seen by the breaker
	Busy          uint64        `json:"busy"`      // calls that found every instance busy for InitTimeout: 451 whatever on_error, not errors
	BreakerSkips  uint64        `json:"breaker_skips"`
	BreakerOpens  uint64        `json:"breaker_opens"`
	BreakerOpen   bool          `json:"breaker_open"`
	P50           time.Duration `json:"p50_ns"`
	P99           time.Duration `json:"p99_ns"`
	LiveInstances int           `json:"live_instances"`
	IdleInstances int           `json:"idle_instances"`
}
