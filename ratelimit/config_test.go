package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/ftpgate/ftpgate/engine/conf"
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
	for _, doc := range []string{`ban = "soon"`, `ban = 900`, `ip_download_rate = "fast"`, `ip_download_rate = "-1"`, `[user]
download_rate = 1.5`} {
		var cfg Config
		if _, err := toml.Decode(doc, &cfg); err == nil {
			t.Errorf("%s: decoded to %+v, want an error", doc, cfg)
		}
	}
}

// TestConfigRatesAsText: TOML rates take the --limit-bandwidth-* grammar
// (K = 1024) as well as the integers of older files, and an override's -1
// still means no limit.
func TestConfigRatesAsText(t *testing.T) {
	t.Parallel()
	const doc = `
ip_download_rate = "10M"
ip_upload_rate = "512K/s"
failed_login_delay = "-1s"
[user]
download_rate = "1.5M"
upload_rate = 1048576
[users."acme/alice"]
download_rate = -1
`
	var cfg Config
	if _, err := toml.Decode(doc, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.IPDownloadRate != 10<<20 || cfg.IPUploadRate != 512<<10 || cfg.User.DownloadRate != 3<<19 ||
		cfg.User.UploadRate != 1<<20 || cfg.FailedLoginDelay != conf.Duration(-time.Second) {
		t.Fatalf("decoded %+v", cfg)
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := l.cfg.Load()
	if alice := c.userLimits("acme", "alice", nil); alice.DownloadRate != 0 || alice.UploadRate != 1<<20 {
		t.Fatalf("alice's limits %+v: want no download rate", alice)
	}
	if c.FailedLoginDelay != 0 {
		t.Fatalf("failed_login_delay %v: want none", c.FailedLoginDelay)
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
