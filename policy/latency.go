package policy

import (
	"math"
	"time"
)

// LatencyBuckets is how many buckets LatencyCounts has.
const LatencyBuckets = latencyBuckets

// LatencyBucketEdge is the upper edge of latency bucket i: a call counted
// in bucket i took less than LatencyBucketEdge(i) and at least the edge
// of bucket i-1 (bucket 0: less than its edge, 1ns). Edges grow by 2^(1/4);
// the edge of bucket 4k-1 is 2^k ns exactly.
func LatencyBucketEdge(i int) time.Duration {
	return time.Duration(math.Round(math.Pow(2, float64(i+1)/4)))
}

// LatencyCounts returns the module calls of every tenant together by
// latency bucket (see LatencyBucketEdge), and the sum of their
// durations, for an exporter's histogram. It reads each tenant's
// counters without locks, so a call counted meanwhile may be in the sum
// and not in the counts: close, not exact, as any scrape of live
// counters. O(tenants × LatencyBuckets).
func (r *Runtime) LatencyCounts() (counts [LatencyBuckets]uint64, sum time.Duration) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, ts := range r.tenants {
		for i := range ts.stats.latency {
			counts[i] += ts.stats.latency[i].Load()
		}
		sum += time.Duration(ts.stats.latencySum.Load())
	}
	return counts, sum
}
