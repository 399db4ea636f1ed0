package admin

import (
	"net/netip"
	"testing"
	"time"
)

// TestClientKey: IPv4 addresses count one by one (an IPv4-mapped IPv6
// one as itself), IPv6 addresses by their /64, whatever their zone; an
// address that does not parse shares the zero key.
func TestClientKey(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"192.0.2.1:1000", "192.0.2.1:2000"},
		{"[::ffff:192.0.2.1]:1", "192.0.2.1:2"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:2"},
		{"[fe80::1%eth0]:1", "[fe80::2%eth1]:1"},
		{"not an address", "@"},
	} {
		if clientKey(c.a) != clientKey(c.b) {
			t.Errorf("%s and %s: keys %v and %v, want one", c.a, c.b, clientKey(c.a), clientKey(c.b))
		}
	}
	for _, c := range []struct{ a, b string }{
		{"192.0.2.1:1", "192.0.2.2:1"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1"},
		{"[::1]:1", "127.0.0.1:1"},
	} {
		if clientKey(c.a) == clientKey(c.b) {
			t.Errorf("%s and %s share key %v", c.a, c.b, clientKey(c.a))
		}
	}
	if k := clientKey("[2001:db8:1:2:3:4:5:6]:21"); k != netip.MustParsePrefix("2001:db8:1:2::/64") {
		t.Errorf("IPv6 key %v", k)
	}
}

// TestThrottleBounded: however many addresses fail, at most capacity are
// kept, and the entries of a window that has passed leave.
func TestThrottleBounded(t *testing.T) {
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	th := newThrottle(3, time.Minute, 100)
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		th.fail(netip.PrefixFrom(a, 32), now)
		if i%1000 == 0 {
			now = now.Add(time.Second)
		}
		if n := th.stats().Clients; n > 100 {
			t.Fatalf("%d kept after %d addresses", n, i+1)
		}
	}
	if th.counting.Len()+th.blocked.Len() != len(th.m) {
		t.Fatalf("lists %d+%d, map %d", th.counting.Len(), th.blocked.Len(), len(th.m))
	}
	th.fail(netip.MustParsePrefix("10.255.0.1/32"), now.Add(2*time.Minute))
	if n := th.stats().Clients; n != 1 {
		t.Fatalf("%d kept after the window passed, want 1", n)
	}
}
