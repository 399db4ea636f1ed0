package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/ratelimit"
)

// limitFlags are the --limit-* flags of `ftpgate serve`: the main limits
// of the ratelimit package. A configuration file can say more
// (ratelimit.Config); the flags cover what a single-directory server
// needs.
type limitFlags struct {
	connRate      float64
	connBurst     int
	connPerIP     int
	conns         int
	loginFailures int
	loginWindow   conf.Duration
	ban           conf.Duration
	maxBan        conf.Duration
	loginDelay    conf.Duration
	userSessions  int
	commandRate   float64
	down, up      conf.Rate
	ipDown, ipUp  conf.Rate
	safe          safeList
	ipv4Prefix    int
	ipv6Prefix    int
	passiveIP     int
	passiveUser   int
}

// addLimitFlags defines the --limit-* flags on fs.
func addLimitFlags(fs *flag.FlagSet) *limitFlags {
	f := &limitFlags{}
	fs.Float64Var(&f.connRate, "limit-conn-rate", 0, "new connections per `second` one IP address may open (0: no limit)")
	fs.IntVar(&f.connBurst, "limit-conn-burst", 0, "connections one IP address may open at once above --limit-conn-rate (0: the rate, at least 1)")
	fs.IntVar(&f.connPerIP, "limit-conn-per-ip", 0, "connections one IP address may hold at once (0: no limit)")
	fs.IntVar(&f.conns, "limit-conns", 0, "connections the server holds at once (0: no limit)")
	fs.IntVar(&f.loginFailures, "limit-login-failures", 0, "failed logins within --limit-login-window that get an IP address banned (0: never ban)")
	fs.TextVar(&f.loginWindow, "limit-login-window", conf.Duration(10*time.Minute), "`duration` over which failed logins are forgotten")
	fs.TextVar(&f.ban, "limit-ban", conf.Duration(15*time.Minute), "`duration` of an address's first ban; each repeat doubles it")
	fs.TextVar(&f.maxBan, "limit-max-ban", conf.Duration(24*time.Hour), "longest ban (a `duration`)")
	fs.TextVar(&f.loginDelay, "limit-login-delay", conf.Duration(time.Second), "delay (a `duration`) before a failed login is answered (0: none)")
	fs.IntVar(&f.userSessions, "limit-user-sessions", 0, "logged-in sessions one user may hold at once (0: no limit)")
	fs.Float64Var(&f.commandRate, "limit-command-rate", 0, "commands per `second` one session may send; faster clients are slowed, then disconnected (0: no limit)")
	fs.TextVar(&f.down, "limit-bandwidth-down", conf.Rate(0), "download `rate` per user, shared by the user's sessions, e.g. 512K or 10M bytes/s, K = 1024 (0: no limit)")
	fs.TextVar(&f.up, "limit-bandwidth-up", conf.Rate(0), "upload `rate` per user, shared by the user's sessions (0: no limit)")
	fs.TextVar(&f.ipDown, "limit-bandwidth-down-ip", conf.Rate(0), "download `rate` per IP address (0: no limit)")
	fs.TextVar(&f.ipUp, "limit-bandwidth-up-ip", conf.Rate(0), "upload `rate` per IP address (0: no limit)")
	fs.Var(&f.safe, "limit-safe", "`CIDR` or address never banned; repeatable")
	fs.IntVar(&f.ipv4Prefix, "limit-ipv4-prefix", 32, "leading `bits` of an IPv4 address that make one client for the per-address limits (16 to 32)")
	fs.IntVar(&f.ipv6Prefix, "limit-ipv6-prefix", 64, "leading `bits` of an IPv6 address that make one client for the per-address limits (32 to 128)")
	fs.IntVar(&f.passiveIP, "limit-passive-per-ip", 0, "passive ports one IP address (IPv6: one /64) may hold at once (0: min(32, half the passive ports), -1: no limit)")
	fs.IntVar(&f.passiveUser, "limit-passive-per-user", 0, "passive ports one user may hold at once (0: min(16, a quarter of the passive ports), -1: no limit)")
	return f
}

// config returns the ratelimit.Config the flags ask for.
func (f *limitFlags) config() ratelimit.Config {
	delay := f.loginDelay
	if f.loginDelay == 0 {
		delay = -1 // the flag's 0 means none; the Config's 0 means the default
	}
	return ratelimit.Config{
		ConnRate:         f.connRate,
		ConnBurst:        f.connBurst,
		MaxConnsPerIP:    f.connPerIP,
		MaxConns:         f.conns,
		LoginFailures:    f.loginFailures,
		LoginWindow:      f.loginWindow,
		BanTime:          f.ban,
		MaxBanTime:       f.maxBan,
		FailedLoginDelay: delay,
		Safe:             f.safe,
		IPv4Prefix:       f.ipv4Prefix,
		IPv6Prefix:       f.ipv6Prefix,
		IPDownloadRate:   f.ipDown,
		IPUploadRate:     f.ipUp,
		PassivePerIP:     f.passiveIP,
		PassivePerUser:   f.passiveUser,
		User: ratelimit.Limits{
			MaxSessions:  f.userSessions,
			CommandRate:  f.commandRate,
			DownloadRate: f.down,
			UploadRate:   f.up,
		},
	}
}

// validate checks the flags as the limiter would.
func (f *limitFlags) validate() error {
	if f.loginWindow <= 0 || f.ban <= 0 || f.maxBan <= 0 || f.loginDelay < 0 {
		return errors.New("--limit-login-window, --limit-ban and --limit-max-ban must be > 0, --limit-login-delay >= 0")
	}
	if f.passiveIP < -1 || f.passiveUser < -1 {
		return errors.New("--limit-passive-per-ip and --limit-passive-per-user: want a number of ports, 0 (the default) or -1 (no limit)")
	}
	if _, err := ratelimit.New(f.config()); err != nil {
		return fmt.Errorf("--limit-*: %w", err)
	}
	return nil
}

// install puts a limiter with the flags' limits into srv, after its
// driver is set.
func (f *limitFlags) install(srv *engine.Server, log *slog.Logger) (*ratelimit.Limiter, error) {
	if f == nil {
		return nil, nil
	}
	l, err := ratelimit.New(f.config())
	if err != nil {
		return nil, err
	}
	l.Logger = log
	l.Install(srv)
	return l, nil
}

// safeList collects repeated --limit-safe flags.
type safeList []string

func (s *safeList) String() string { return strings.Join(*s, ",") }

func (s *safeList) Set(v string) error {
	if _, err := ratelimit.ParseSafeList([]string{v}); err != nil {
		return err
	}
	*s = append(*s, v)
	return nil
}
