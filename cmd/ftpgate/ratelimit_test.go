package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// TestLimitFlags: the --limit-* flags become the ratelimit.Config they
// describe.
func TestLimitFlags(t *testing.T) {
	cfg, err := parseServeFlags([]string{
		"--limit-conn-rate", "2.5", "--limit-conn-burst", "4", "--limit-conn-per-ip", "8", "--limit-conns", "100",
		"--limit-login-failures", "5", "--limit-ban", "10m", "--limit-max-ban", "2h", "--limit-login-delay", "0",
		"--limit-user-sessions", "3", "--limit-command-rate", "20",
		"--limit-bandwidth-down", "1.5M", "--limit-bandwidth-up", "512K", "--limit-bandwidth-down-ip", "10MiB",
		"--limit-safe", "10.0.0.0/8", "--limit-safe", "192.0.2.7", "--limit-ipv6-prefix", "56",
		"--limit-passive-per-ip", "6", "--limit-passive-per-user", "-1",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.limits.config()
	switch {
	case c.ConnRate != 2.5 || c.ConnBurst != 4 || c.MaxConnsPerIP != 8 || c.MaxConns != 100:
		t.Errorf("admission limits: %+v", c)
	case c.LoginFailures != 5 || time.Duration(c.BanTime) != 10*time.Minute || time.Duration(c.MaxBanTime) != 2*time.Hour:
		t.Errorf("login limits: %+v", c)
	case c.FailedLoginDelay >= 0:
		t.Errorf("--limit-login-delay 0 gave %v, want none (negative)", c.FailedLoginDelay)
	case c.User.MaxSessions != 3 || c.User.CommandRate != 20:
		t.Errorf("user limits: %+v", c.User)
	case c.User.DownloadRate != 3<<19 || c.User.UploadRate != 512<<10 || c.IPDownloadRate != 10<<20 || c.IPUploadRate != 0:
		t.Errorf("bandwidth: %+v, ip %d/%d", c.User, c.IPDownloadRate, c.IPUploadRate)
	case strings.Join(c.Safe, ",") != "10.0.0.0/8,192.0.2.7":
		t.Errorf("safe list %v", c.Safe)
	case c.IPv4Prefix != 32 || c.IPv6Prefix != 56:
		t.Errorf("prefixes: /%d and /%d, want /32 and /56", c.IPv4Prefix, c.IPv6Prefix)
	case c.PassivePerIP != 6 || c.PassivePerUser != -1 || c.PassivePerTenant != 0:
		t.Errorf("passive caps: %d/%d/%d", c.PassivePerIP, c.PassivePerUser, c.PassivePerTenant)
	}
}

// TestLimitFlagErrors: bad --limit-* values exit 2 with a reason.
func TestLimitFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--limit-bandwidth-down", "fast"}, "want bytes per second"},
		{[]string{"--limit-bandwidth-up", "-1M"}, "want a rate from 0"},
		{[]string{"--limit-safe", "10.0.0.0/99"}, "CIDR"},
		{[]string{"--limit-conn-rate", "-3"}, "conn_rate"},
		{[]string{"--limit-ban", "0s"}, "--limit-ban"},
		{[]string{"--limit-ipv6-prefix", "8"}, "ipv6_prefix"},
		{[]string{"--limit-passive-per-user", "-2"}, "--limit-passive-per-user"},
	} {
		var stderr bytes.Buffer
		_, err := parseServeFlags(tc.args, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.msg) {
			t.Errorf("%v: error %v, stderr %q; want %q", tc.args, err, stderr.String(), tc.msg)
		}
	}
}

func TestParseByteRate(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "512K": 512 << 10, "512k": 512 << 10, "1.5M": 3 << 19,
		"10MiB": 10 << 20, "2G": 2 << 30, "1T": 1 << 40, " 64KB/s ": 64 << 10,
	} {
		if got, err := parseByteRate(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "K", "fast", "1e6", "0x10", "NaN", "Inf", "-1", "1_000", "9999999T"} {
		if got, err := parseByteRate(in); err == nil {
			t.Errorf("%q: accepted as %d", in, got)
		}
	}
}

// FuzzParseByteRate: any text is a rate from 0 up, or an error.
func FuzzParseByteRate(f *testing.F) {
	for _, s := range []string{"0", "512K", "1.5M", "10MiB", "2G/s", "-1", "1e9", "NaN", "9999999T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseByteRate(s)
		if err == nil && v < 0 {
			t.Fatalf("%q → %d", s, v)
		}
	})
}
