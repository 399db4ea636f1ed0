package console

import (
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
)

// TestStoreBounds checks the login sessions' bounds: at most max kept
// (a login past it ends the one used least lately), an idle session and
// one past its age end, and at most maxPending checked modules are kept
// over all sessions.
func TestStoreBounds(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := newStore(3, 10*time.Minute, time.Hour, func() time.Time { return now })
	a := s.create(admin.Identity{Operator: true})
	now = now.Add(time.Second)
	b := s.create(admin.Identity{Tenant: "acme"})
	now = now.Add(time.Second)
	c := s.create(admin.Identity{Tenant: "globex"})
	now = now.Add(time.Second)
	if !s.with(a, nil) { // a is now the most lately used
		t.Fatal("a is gone")
	}
	d := s.create(admin.Identity{Tenant: "initech"})
	if s.count() != 3 || s.with(b, nil) || !s.with(a, nil) || !s.with(c, nil) || !s.with(d, nil) {
		t.Fatalf("after a fourth login: %d kept; b should be the one ended", s.count())
	}
	now = now.Add(9 * time.Minute)
	s.with(a, nil)
	now = now.Add(2 * time.Minute)
	if !s.with(a, nil) || s.with(c, nil) {
		t.Fatal("idle expiry: a was used 2 minutes ago, c 11 minutes ago")
	}
	for range 6 {
		now = now.Add(9 * time.Minute)
		s.with(a, nil)
	}
	if s.with(a, nil) {
		t.Fatal("a outlived its maximum age")
	}
	s = newStore(10, time.Hour, time.Hour, func() time.Time { return now })
	var vals []string
	for range 6 {
		vals = append(vals, s.create(admin.Identity{Operator: true}))
	}
	big := make([]byte, 1<<20)
	for i := range 6 {
		now = now.Add(time.Second)
		s.setPending(vals[i], &pendingModule{tenant: "acme", hash: strings.Repeat("a", 64), wasm: big, at: now})
	}
	n := 0
	s.mu.Lock()
	for _, v := range s.sessions {
		if v.pending != nil {
			n++
		}
	}
	s.mu.Unlock()
	if n != maxPending {
		t.Fatalf("%d pending modules kept", n)
	}
	if tokenMatches("", "") || tokenMatches("x", "y") || !tokenMatches("abc", "abc") {
		t.Fatal("tokenMatches")
	}
}
