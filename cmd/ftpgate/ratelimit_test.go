package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
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
	c := cfg.Limits
	switch {
	case c.ConnRate != 2.5 || c.ConnBurst != 4 || c.MaxConnsPerIP != 8 || c.MaxConns != 100:
		t.Errorf("admission limits: %+v", c)
	case c.LoginFailures != 5 || time.Duration(c.BanTime) != 10*time.Minute || time.Duration(c.MaxBanTime) != 2*time.Hour:
		t.Errorf("login limits: %+v", c)
	case cfg.Timeouts.LoginFailureDelay != 0:
		t.Errorf("--limit-login-delay 0 gave %v, want none", cfg.Timeouts.LoginFailureDelay)
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
		{[]string{"--limit-bandwidth-up", "-1M"}, "must not be negative"},
		{[]string{"--limit-bandwidth-up", "9999999T"}, "too large"},
		{[]string{"--limit-ban", "15"}, "with a unit"},
		{[]string{"--limit-safe", "10.0.0.0/99"}, "CIDR"},
		{[]string{"--limit-conn-rate", "-3"}, "--limit-conn-rate"},
		{[]string{"--limit-ban", "-1m"}, "--limit-ban"},
		{[]string{"--limit-ipv6-prefix", "8"}, "--limit-ipv6-prefix"},
	} {
		var stderr bytes.Buffer
		_, err := parseServeFlags(tc.args, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.msg) {
			t.Errorf("%v: error %v, stderr %q; want %q", tc.args, err, stderr.String(), tc.msg)
		}
	}
}

// TestLimitsFileMatchesFlags: a server file's [limits] spelled as the
// --limit-* flags are ("10M", "512K", "10m") reads to the same limits as
// the flags, through tenancy's server-file parser; a bad rate is an error
// on its line.
func TestLimitsFileMatchesFlags(t *testing.T) {
	cfg, err := parseServeFlags([]string{
		"--limit-bandwidth-down", "10M", "--limit-bandwidth-up", "512K",
		"--limit-bandwidth-down-ip", "1.5G", "--limit-bandwidth-up-ip", "64KiB/s",
		"--limit-ban", "10m", "--limit-max-ban", "2h", "--limit-login-window", "5m",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	flags := cfg.Limits
	const file = `[tenants]
dir = "tenants.d"
[limits]
ip_download_rate = "1.5G"
ip_upload_rate = "64KiB/s"
ban = "10m"
max_ban = "2h"
login_window = "5m"
[limits.user]
download_rate = "10M"
upload_rate = "512K"
`
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tenants.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	sc, err := gateway.Parse(filepath.Join(dir, "server.toml"), []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	got := sc.Limits
	if got.User != flags.User || got.IPDownloadRate != flags.IPDownloadRate || got.IPUploadRate != flags.IPUploadRate ||
		got.BanTime != flags.BanTime || got.MaxBanTime != flags.MaxBanTime || got.LoginWindow != flags.LoginWindow {
		t.Fatalf("server file limits %+v\nflags' limits %+v", got, flags)
	}
	if flags.User.DownloadRate != 10<<20 || flags.User.UploadRate != 512<<10 || flags.IPDownloadRate != 3<<29 {
		t.Fatalf("rates %+v, ip %d: want K = 1024", flags.User, flags.IPDownloadRate)
	}

	if _, err := gateway.Parse(filepath.Join(dir, "server.toml"), []byte("[tenants]\ndir = \"tenants.d\"\n[limits.user]\ndownload_rate = \"10 M\"\n")); err == nil ||
		!strings.Contains(err.Error(), "server.toml:4") || !strings.Contains(err.Error(), "want bytes per second") {
		t.Fatalf("a bad rate: %v", err)
	}
}

// TestMaxDecompressedUploadFlag: --max-decompressed-upload takes a size
// ("64M", K = 1024) or -1 for no limit, and nothing below -1.
func TestMaxDecompressedUploadFlag(t *testing.T) {
	for in, want := range map[string]int64{"64M": 64 << 20, "1048576": 1 << 20, "-1": -1, "0": 0} {
		cfg, err := flagConfig([]string{"--max-decompressed-upload", in})
		if err != nil || cfg.Commands.MaxDecompressedUpload != want {
			t.Errorf("%q: %v; want %d", in, err, want)
		}
	}
	for _, in := range []string{"-2", "lots", "-64M"} {
		if _, err := parseServeFlags([]string{"--max-decompressed-upload", in}, io.Discard); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
