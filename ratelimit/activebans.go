package ratelimit

import "context"

// ActiveBans counts the addresses (prefixes of limits.ipv4_prefix and
// limits.ipv6_prefix bits) banned now, for an exporter. It visits the
// whole ban list, one shard under its lock at a time: O(entries of the
// ban list, at most limits.max_bans plus the pinned ones) per call, meant
// for a scrape, not a hot path.
//
// With Limiter.Shared it counts the cluster's bans (every instance
// reports the same number), or the local ones when the shared state
// cannot be asked.
func (l *Limiter) ActiveBans() int {
	l.setup()
	if sh := l.Shared; sh != nil {
		if n, err := sh.CountBans(context.Background()); err == nil {
			return n
		}
	}
	now := l.now().UnixNano()
	n := 0
	t := l.bans
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for _, e := range s.m {
			if e.val.until > now {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}
