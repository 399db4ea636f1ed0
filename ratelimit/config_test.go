package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestConfigFromTOML: the documented TOML reads into Config, durations as
// text, overrides per user and per tenant merge over the defaults.
func TestConfigFromTOML(t *testing.T) {
	t.Parallel()
	const doc = `
conn_rate = 5
conn_burst = 10
conn_per_ip = 20
login_failures = 5
ban = "15m"
max_ban = "6h"
safe = ["10.0.0.0/8", "192.0.2.7"]
ipv4_prefix = 24
ipv6_prefix = 56
[user]
max_sessions = 4
download_rate = 1048576
command_rate = 50
[users."acme/alice"]
download_rate = -1
max_sessions = 8
[tenants.acme]
download_rate = 10485760
`
	var cfg Config
	md, err := toml.Decode(doc, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("keys not in Config: %v", u)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := l.cfg.Load()
	if time.Duration(c.BanTime) != 15*time.Minute || time.Duration(c.MaxBanTime) != 6*time.Hour {
		t.Fatalf("durations: ban %v, max_ban %v", c.BanTime, c.MaxBanTime)
	}
	if c.IPv4Prefix != 24 || c.IPv6Prefix != 56 ||
		c.addrKey(netip.MustParseAddr("2001:db8:1:ff::1")) != netip.MustParseAddr("2001:db8:1::") ||
		c.addrKey(netip.MustParseAddr("192.0.2.77")) != netip.MustParseAddr("192.0.2.0") {
		t.Fatalf("prefixes: %d and %d", c.IPv4Prefix, c.IPv6Prefix)
	}
	if !c.isSafe(netip.MustParseAddr("10.1.2.3")) || !c.isSafe(netip.MustParseAddr("192.0.2.7")) || c.isSafe(netip.MustParseAddr("192.0.2.8")) {
		t.Fatal("safe list not as written")
	}
	alice := c.userLimits("acme", "alice", nil)
	if alice.DownloadRate != 0 || alice.MaxSessions != 8 || alice.CommandRate != 50 {
		t.Fatalf("alice's limits %+v: want no download rate, 8 sessions, 50 commands/s", alice)
	}
	if bob := c.userLimits("acme", "bob", nil); bob.DownloadRate != 1<<20 || bob.MaxSessions != 4 {
		t.Fatalf("bob's limits %+v: want the defaults", bob)
	}
	if acme := c.tenantLimits("acme", nil); acme.DownloadRate != 10<<20 {
		t.Fatalf("acme's limits %+v", acme)
	}
	// The caller's override comes last.
	l.Overrides = func(tenant, user string) (Limits, Limits) {
		if user == "bob" {
			return Limits{}, Limits{DownloadRate: 42}
		}
		return Limits{MaxSessions: 7}, Limits{}
	}
	if bob := c.userLimits("acme", "bob", l.Overrides); bob.DownloadRate != 42 {
		t.Fatalf("bob with an override: %+v", bob)
	}
	if acme := c.tenantLimits("acme", l.Overrides); acme.MaxSessions != 7 || acme.DownloadRate != 10<<20 {
		t.Fatalf("acme with an override: %+v", acme)
	}
}

// TestConfigRejectsNonsense: a bad value names its key; nothing is
// half-applied.
func TestConfigRejectsNonsense(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{ConnRate: -1}, "conn_rate"},
		{Config{MaxConnsPerIP: -2}, "conn_per_ip"},
		{Config{BanTime: -1}, "ban"},
		{Config{Safe: []string{"10.0.0.0/33"}}, "safe"},
		{Config{Safe: []string{"example.com"}}, "safe"},
		{Config{User: Limits{DownloadRate: -5}}, "user"},
		{Config{IPv4Prefix: 8}, "ipv4_prefix"},
		{Config{IPv4Prefix: 33}, "ipv4_prefix"},
		{Config{IPv6Prefix: 16}, "ipv6_prefix"},
		{Config{IPv6Prefix: 129}, "ipv6_prefix"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one about %s", tc.cfg, err, tc.want)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Error("duration \"soon\" accepted")
	}
}

// FuzzParseSafeList: any text gives prefixes or an error, and every prefix
// given contains its own address.
func FuzzParseSafeList(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.7", "::ffff:10.0.0.0/104", "2001:db8::/32", "fe80::1%eth0", "::ffff:1.2.3.4/64", "", " 1.2.3.4 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseSafeList([]string{s})
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || !p.Contains(p.Addr()) || p.Addr().Is4In6() {
				t.Fatalf("%q gave %v", s, p)
			}
		}
	})
}

// FuzzDuration: any text parses as a duration or is an error, and what
// parses writes back to the same duration.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"15m", "1h30m", "-1s", "0", "soon", "9999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d Duration
		if d.UnmarshalText([]byte(s)) != nil {
			return
		}
		b, _ := d.MarshalText()
		var again Duration
		if err := again.UnmarshalText(b); err != nil || again != d {
			t.Fatalf("%q → %v → %q → %v (%v)", s, time.Duration(d), b, time.Duration(again), err)
		}
	})
}
