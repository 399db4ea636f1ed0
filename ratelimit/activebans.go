package ratelimit

// ActiveBans counts the addresses (prefixes of limits.ipv4_prefix and
// limits.ipv6_prefix bits) banned now, for an exporter. It visits the
// whole ban list, one shard under its lock at a time: O(entries of the
// ban list, at most limits.max_bans plus the pinned ones) per call, meant
// for a scrape, not a hot path.
func (l *Limiter) ActiveBans() int {
	l.setup()
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
