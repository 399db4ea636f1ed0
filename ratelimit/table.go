package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"
)

// tableShards is how many independently locked parts a table has. A power
// of two, so that picking a shard is a mask; 64 keeps lock contention low
// on any machine this runs on while costing little per table.
const tableShards = 64

// table is a bounded map from keys (client addresses, user names) to the
// state kept for them. Its memory is bounded: each shard holds at most its
// share of the table's limit of idle entries, and evicts the least recently
// used one, or any that expired, to make room. Entries that are in use
// (pinned by a live connection or session) are not counted against the
// limit and never evicted, because forgetting them would lose counts that
// a later release must find; they are bounded by the connections the
// server holds. Every operation is O(1).
type table[K comparable, V any] struct {
	seed   maphash.Seed
	shards [tableShards]shard[K, V]
	reset  func(*V) // makes a fresh value, for new and expired entries
}

// shard is one locked part of a table.
type shard[K comparable, V any] struct {
	mu    sync.Mutex
	m     map[K]*entry[K, V]
	lru   entry[K, V] // sentinel of the idle list: lru.next is the most recently used
	idle  int         // entries on the idle list
	limit int         // most idle entries kept
	// spare is the last entry evicted, zeroed, for the next new key: a
	// table whose entries come and go (the passive counts, made and
	// dropped for every port) then allocates none. At most one per shard.
	spare *entry[K, V]
}

// entry is one key's state. Pinned entries are off the idle list.
type entry[K comparable, V any] struct {
	key        K
	val        V
	pins       int
	expires    int64 // unix nanoseconds; an idle entry past it is stale
	prev, next *entry[K, V]
}

// newTable returns a table keeping at most limit idle entries (at least
// one per shard), each for ttl after its last use. reset, when not nil,
// initialises a new entry's value.
func newTable[K comparable, V any](limit int, reset func(*V)) *table[K, V] {
	t := &table[K, V]{seed: maphash.MakeSeed(), reset: reset}
	for i := range t.shards {
		s := &t.shards[i]
		s.m = make(map[K]*entry[K, V])
		s.lru.next, s.lru.prev = &s.lru, &s.lru
	}
	t.setLimit(limit)
	return t
}

// setLimit changes the bound on idle entries; shards shrink as they are
// next used.
func (t *table[K, V]) setLimit(limit int) {
	per := max(limit/tableShards, 1)
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.limit = per
		s.mu.Unlock()
	}
}

func (t *table[K, V]) shard(k K) *shard[K, V] {
	return &t.shards[maphash.Comparable(t.seed, k)&(tableShards-1)]
}

// with runs fn on k's value under the shard's lock, creating the entry when
// missing or stale, and marks it used: an idle entry moves to the front of
// the idle list and lives for ttl more. fresh tells fn the value is new.
// fn returns how to change the entry's pins: 1 pins it (it is then kept
// until unpinned as often), -1 unpins it, 0 leaves it. fn must be quick
// and must not call back into the table.
func (t *table[K, V]) with(k K, now time.Time, ttl time.Duration, fn func(v *V, fresh bool) (pin int)) {
	s := t.shard(k)
	nowNanos := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, fresh := s.m[k], false
	switch {
	case e == nil:
		if e = s.spare; e != nil {
			s.spare = nil
			e.key = k
		} else {
			e = &entry[K, V]{key: k}
		}
		if t.reset != nil {
			t.reset(&e.val)
		}
		s.m[k] = e
		fresh = true
	case e.pins == 0:
		s.unlink(e)
		if e.expires <= nowNanos {
			var zero V
			e.val = zero
			if t.reset != nil {
				t.reset(&e.val)
			}
			fresh = true
		}
	}
	e.pins = max(e.pins+fn(&e.val, fresh), 0)
	if e.pins == 0 {
		e.expires = nowNanos + int64(ttl)
		s.pushFront(e)
	}
	s.evict(nowNanos)
}

// peek runs fn on k's value under the shard's lock without creating,
// refreshing or reordering the entry; it reports whether a live entry was
// found.
func (t *table[K, V]) peek(k K, now time.Time, fn func(v *V)) bool {
	s := t.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	if e == nil || e.pins == 0 && e.expires <= now.UnixNano() {
		return false
	}
	fn(&e.val)
	return true
}

// len returns the number of entries, pinned or idle, stale ones included.
func (t *table[K, V]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// evict drops stale entries from the back of the idle list, and the least
// recently used ones while the shard is over its limit. Looking only at
// the back keeps it O(1) amortised: every entry is dropped at most once.
func (s *shard[K, V]) evict(nowNanos int64) {
	for s.idle > 0 {
		last := s.lru.prev
		if s.idle <= s.limit && last.expires > nowNanos {
			return
		}
		s.unlink(last)
		delete(s.m, last.key)
		if s.spare == nil {
			*last = entry[K, V]{} // holds on to no key or value
			s.spare = last
		}
	}
}

func (s *shard[K, V]) unlink(e *entry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	s.idle--
}

func (s *shard[K, V]) pushFront(e *entry[K, V]) {
	e.prev, e.next = &s.lru, s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
	s.idle++
}

// each runs fn on every live entry (pinned, or idle and not stale), one
// shard at a time under its lock, without refreshing or reordering any.
// fn must be quick and must not call back into the table. It visits at
// most the table's entries: its idle limit plus the pinned ones.
func (t *table[K, V]) each(now time.Time, fn func(k K, v *V)) {
	nowNanos := now.UnixNano()
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.pins == 0 && e.expires <= nowNanos {
				continue
			}
			fn(k, &e.val)
		}
		s.mu.Unlock()
	}
}
