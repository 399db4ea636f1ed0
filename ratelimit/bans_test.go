package ratelimit

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// TestBansListAndLift: bans made by failed logins are listed with their
// prefix, end and offences, in prefix order and within the limit asked;
// Lift of an address lifts its prefix's ban only, Lift of a wider prefix
// every ban inside it, and the lifted address logs in again.
func TestBansListAndLift(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l, err := New(Config{LoginFailures: 2, BanTime: conf.Duration(time.Minute), FailedLoginDelay: -1, IPv6Prefix: 64})
	if err != nil {
		t.Fatal(err)
	}
	l.Now = clock.Now
	l.Logger = discardLogger()
	drv := loginVia(l, &passwordDriver{users: map[string]string{"alice": "secret"}})
	// Each address fails on an account of its own, so that no account's
	// score runs out first.
	ban := func(id uint32, ip net.IP) *fakeSession {
		cc := &fakeSession{id: id, remote: &net.TCPAddr{IP: ip, Port: 1}}
		done, err := l.Admit(context.Background(), cc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(done)
		for range 2 {
			_, _ = drv.AuthUser(cc, "user"+string(rune('0'+id)), "wrong")
		}
		return cc
	}
	if b, n := l.Bans(0); n != 0 || len(b) != 0 {
		t.Fatalf("Bans before any failure: %v, %d", b, n)
	}
	// Three bans; the first one ends before the others are made.
	ban(1, net.IPv4(198, 51, 100, 1))
	clock.Add(2 * time.Minute) // 198.51.100.1's ban (1 min) is over
	a := ban(2, net.IPv4(192, 0, 2, 9))
	ban(3, net.IPv4(192, 0, 2, 200))
	ban(4, net.ParseIP("2001:db8::1"))

	bans, total := l.Bans(0)
	want := []string{"192.0.2.9/32", "192.0.2.200/32", "2001:db8::/64"}
	if total != len(want) || len(bans) != len(want) {
		t.Fatalf("Bans: %v (total %d), want %v", bans, total, want)
	}
	for i, b := range bans {
		if b.Prefix.String() != want[i] || b.Offences != 1 || !b.Until.After(clock.Now()) {
			t.Fatalf("ban %d: %+v, want %s, one offence, in force", i, b, want[i])
		}
	}
	if bans, total := l.Bans(2); len(bans) != 2 || total != 3 || bans[1].Prefix.String() != "192.0.2.200/32" {
		t.Fatalf("Bans(2): %v, %d", bans, total)
	}

	if n := l.Lift(netip.MustParsePrefix("192.0.2.9/32")); n != 1 {
		t.Fatalf("Lift of one address lifted %d", n)
	}
	if n := l.Lift(netip.MustParsePrefix("192.0.2.9/32")); n != 0 {
		t.Fatalf("Lift again lifted %d, want 0", n)
	}
	if _, err := drv.AuthUser(a, "alice", "secret"); err != nil {
		t.Fatalf("login after the lift: %v", err)
	}
	// A mapped prefix shorter than /96 names no IPv4 network.
	if n := l.Lift(netip.MustParsePrefix("::ffff:0.0.0.0/90")); n != 0 {
		t.Fatalf("Lift of a short mapped prefix lifted %d", n)
	}
	// An address inside the /64 lifts the /64's ban; a /16 the rest.
	if n := l.Lift(netip.MustParsePrefix("2001:db8::ffff/128")); n != 1 {
		t.Fatalf("Lift inside the /64 lifted %d", n)
	}
	if n := l.Lift(netip.MustParsePrefix("::ffff:192.0.0.0/112")); n != 1 {
		t.Fatalf("Lift of the mapped /16 lifted %d", n)
	}
	if bans, total := l.Bans(0); total != 0 {
		t.Fatalf("after the lifts: %v", bans)
	}
}
