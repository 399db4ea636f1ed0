package ratelimit

import (
	"testing"
	"time"
)

// TestTableEvictsIdleNotPinned: over its limit a table forgets the least
// recently used idle entries, never a pinned one, and stale entries come
// back fresh.
func TestTableEvictsIdleNotPinned(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	tb := newTable[int, int](tableShards, nil) // one idle entry per shard
	// Every key lands in some shard; with one idle slot per shard, a
	// pinned key must survive any number of other keys.
	tb.with(-1, now, time.Hour, func(v *int, fresh bool) int {
		if !fresh {
			t.Error("new entry not fresh")
		}
		*v = 42
		return 1
	})
	for k := range 10_000 {
		tb.with(k, now, time.Hour, func(v *int, _ bool) int { *v = k; return 0 })
	}
	if n := tb.len(); n > tableShards+1 {
		t.Fatalf("table holds %d entries, want at most %d", n, tableShards+1)
	}
	var got int
	if !tb.peek(-1, now, func(v *int) { got = *v }) || got != 42 {
		t.Fatalf("pinned entry lost: found %v", got)
	}
	// Unpinned, it becomes idle and can go like any other.
	tb.with(-1, now, time.Hour, func(*int, bool) int { return -1 })
	for k := 10_000; k < 20_000; k++ {
		tb.with(k, now, time.Hour, func(*int, bool) int { return 0 })
	}
	if tb.peek(-1, now, func(*int) {}) {
		t.Fatal("an unpinned entry was never evicted")
	}

	// Expiry: an idle entry past its ttl is gone for peek and fresh for with.
	tb.with(7, now, time.Minute, func(v *int, _ bool) int { *v = 7; return 0 })
	later := now.Add(2 * time.Minute)
	if tb.peek(7, later, func(*int) {}) {
		t.Fatal("expired entry still visible")
	}
	tb.with(7, later, time.Minute, func(v *int, fresh bool) int {
		if !fresh || *v != 0 {
			t.Errorf("expired entry came back with %d (fresh %v)", *v, fresh)
		}
		return 0
	})
}

// TestTableMostRecentlyUsedSurvives: touching an entry keeps it while
// newer keys push others out of its shard.
func TestTableMostRecentlyUsedSurvives(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	tb := newTable[int, int](4*tableShards, nil)
	tb.with(0, now, time.Hour, func(*int, bool) int { return 0 })
	for k := 1; k < 5000; k++ {
		tb.with(k, now, time.Hour, func(*int, bool) int { return 0 })
		tb.with(0, now, time.Hour, func(*int, bool) int { return 0 }) // keep 0 recent
	}
	if !tb.peek(0, now, func(*int) {}) {
		t.Fatal("the most recently used entry was evicted")
	}
	if n := tb.len(); n > 4*tableShards {
		t.Fatalf("table holds %d entries, want at most %d", n, 4*tableShards)
	}
}

// TestTableSpareEntryComesBackFresh: an evicted entry that the table
// keeps for the next new key (shard.spare) carries nothing of the key it
// held: the new key's value is fresh and zero, and the old key is gone.
func TestTableSpareEntryComesBackFresh(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	tb := newTable[string, []int](tableShards, nil)
	// With no time to live, an entry is dropped as soon as it is idle.
	for i := range 1000 {
		k := string(rune('a'+i%26)) + string(rune('A'+i/26))
		tb.with(k, now, 0, func(v *[]int, fresh bool) int {
			if !fresh || *v != nil {
				t.Fatalf("key %q: fresh %v, value %v; want a fresh, empty value", k, fresh, *v)
			}
			*v = []int{i}
			return 0
		})
		if n := tb.len(); n != 0 {
			t.Fatalf("%d entries after dropping every one", n)
		}
	}
	if tb.peek("aA", now, func(*[]int) {}) {
		t.Fatal("a dropped key is still found")
	}
}
