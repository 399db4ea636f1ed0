package audit

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRingBounds checks the console's ring of recent events: one
// tenant's flood keeps within its count and byte bounds and leaves the
// other tenant's events alone; tenants past the bound evict the one
// written to least lately; filters and newest-first order.
func TestRingBounds(t *testing.T) {
	r := NewRing(RingOptions{Entries: 10, Bytes: 4000, Tenants: 3})
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	add := func(tenant, user, verb, path string) {
		at = at.Add(time.Second)
		r.Add(Event{Time: Time(at), Tenant: tenant, User: user, Verb: verb, Path: path, Event: "command", Status: "ok"})
	}
	add("acme", "alice", "STOR", "/a.txt")
	add("acme", "bob", "DELE", "/b.txt")
	for i := range 1000 {
		add("globex", "mallory", "STOR", "/"+strconv.Itoa(i))
	}
	if got := r.Recent("globex", Filter{}, 100); len(got) != 10 || got[0].Path != "/999" {
		t.Fatalf("globex kept %d, newest %q; want 10, /999", len(got), got[0].Path)
	}
	if got := r.Recent("acme", Filter{}, 100); len(got) != 2 || got[0].User != "bob" {
		t.Fatalf("acme after globex's flood: %+v", got)
	}
	// The byte bound: long paths keep fewer events.
	for range 5 {
		add("globex", "mallory", "STOR", strings.Repeat("x", 1500))
	}
	if got := r.Recent("globex", Filter{}, 100); len(got) > 2 {
		t.Fatalf("globex kept %d events of 1.7 KB under a 4000 byte bound", len(got))
	}
	if got := r.Recent("acme", Filter{Verb: "dele"}, 10); len(got) != 1 || got[0].User != "bob" {
		t.Fatalf("verb filter: %+v", got)
	}
	if got := r.Recent("acme", Filter{User: "alice", Path: "a.t"}, 10); len(got) != 1 {
		t.Fatalf("user and path filter: %+v", got)
	}
	if got := r.Recent("acme", Filter{User: "alic"}, 10); len(got) != 0 {
		t.Fatalf("user is matched exactly: %+v", got)
	}
	add("initech", "x", "STOR", "/i")
	add("umbrella", "y", "STOR", "/u") // evicts acme, written to least lately
	if got := r.Recent("acme", Filter{}, 10); len(got) != 0 {
		t.Fatalf("acme not evicted: %+v", got)
	}
	if all := r.RecentAll(Filter{}, 3); len(all) != 3 || all[0].Tenant != "umbrella" || all[1].Tenant != "initech" {
		t.Fatalf("RecentAll: %+v", all)
	}
}
