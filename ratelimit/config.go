package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// Config is the whole set of limits. Its zero value limits nothing (apart
// from the memory bounds, which always apply); a zero field means "no
// limit" or "the default" as its comment says. The toml tags let a program
// embed it in its configuration file:
//
//	[limits]
//	conn_rate = 5
//	conn_burst = 10
//	conn_per_ip = 20
//	login_failures = 5
//	ban = "15m"
//	safe = ["10.0.0.0/8"]
//	ipv6_prefix = 64
//	[limits.user]
//	max_sessions = 4
//	download_rate = "1M"
//	[limits.tenants.acme]
//	download_rate = 10485760
//
// Rates are conf.Rate (bytes per second: "512K", "10M", K = 1024, or a
// TOML integer of bytes) and durations conf.Duration ("15m"), the grammar
// of the --limit-* flags of `ftpgate serve`.
type Config struct {
	// ConnRate is how many new connections per second one IP address may
	// open, on average; 0 is no limit.
	ConnRate float64 `toml:"conn_rate"`
	// ConnBurst is how many connections an IP address may open at once
	// above ConnRate; 0 means max(1, ConnRate).
	ConnBurst int `toml:"conn_burst"`
	// MaxConnsPerIP bounds the connections one IP address holds at once.
	MaxConnsPerIP int `toml:"conn_per_ip"`
	// MaxConns bounds the connections the server holds at once.
	MaxConns int `toml:"max_conns"`

	// LoginFailures is how many failed logins within LoginWindow get
	// an IP address (prefix) banned: the one that reaches it bans. It
	// also bounds each account, counted on the account a login resolves
	// to (Limiter.ResolveLogin) from whatever addresses: once its
	// failures with its logins in flight reach it, further logins for it
	// are refused before any password check until the score refills
	// (one attempt per LoginWindow/LoginFailures), and the address of a
	// further failure is banned. Addresses on Safe are never refused or
	// banned. 0 never bans or refuses.
	LoginFailures int `toml:"login_failures"`
	// LoginWindow is the time over which failures are forgotten; 0 means
	// 10 minutes.
	LoginWindow conf.Duration `toml:"login_window"`
	// BanTime is how long the first ban of an address lasts; each repeat
	// offence doubles it, up to MaxBanTime. 0 means 15 minutes.
	BanTime conf.Duration `toml:"ban"`
	// MaxBanTime bounds a ban; 0 means 24 hours.
	MaxBanTime conf.Duration `toml:"max_ban"`
	// BanMemory is how long an address's offences are remembered after
	// its ban ends, for the doubling; 0 means 24 hours.
	BanMemory conf.Duration `toml:"ban_memory"`
	// FailedLoginDelay is how long a failed login waits before its
	// answer; 0 means 1 second, negative means no delay.
	FailedLoginDelay conf.Duration `toml:"failed_login_delay"`
	// Safe lists addresses and CIDR prefixes that are never banned (an
	// office, a monitoring probe).
	Safe []string `toml:"safe"`
	// IPv4Prefix and IPv6Prefix are how many leading bits of a client's
	// address name it for every per-address limit: bans, failure scores,
	// logins in flight, connections at once and per second, and
	// per-address bandwidth. A single IPv6 host is routinely given a /64,
	// so counting its addresses one by one would let it try passwords
	// without end. 0 means 32 (one IPv4 address) and 64 (one IPv6
	// subnet); IPv4Prefix may be 16 to 32, IPv6Prefix 32 to 128.
	IPv4Prefix int `toml:"ipv4_prefix"`
	IPv6Prefix int `toml:"ipv6_prefix"`

	// CommandDelay is the longest a command over its rate waits before
	// it runs; a command that would have to wait longer is refused with
	// 421 and the session closed. 0 means 1 second.
	CommandDelay conf.Duration `toml:"command_delay"`
	// CommandStrikes is how many commands in a row may be slowed down
	// to their rate before the session is refused with 421 and closed;
	// 0 means 10, negative means the first slowed command is refused.
	CommandStrikes int `toml:"command_strikes"`

	// IPDownloadRate and IPUploadRate bound the bytes per second of all
	// transfers from one IP address; 0 is no limit.
	IPDownloadRate conf.Rate `toml:"ip_download_rate"`
	IPUploadRate   conf.Rate `toml:"ip_upload_rate"`

	// User is every user's limits unless Users says otherwise.
	User Limits `toml:"user"`
	// Tenant is every tenant's limits unless Tenants says otherwise.
	Tenant Limits `toml:"tenant"`
	// Users overrides User for single users, by "tenant/user", or by the
	// user name alone for users without a tenant.
	Users map[string]Limits `toml:"users"`
	// Tenants overrides Tenant for single tenants, by name.
	Tenants map[string]Limits `toml:"tenants"`

	// MaxTrackedIPs bounds the idle per-address state kept (failure
	// scores, connection rates); the least recently seen are forgotten
	// first. 0 means 65536.
	MaxTrackedIPs int `toml:"max_tracked_ips"`
	// MaxTrackedUsers bounds the idle per-user and per-tenant state kept.
	// 0 means 65536.
	MaxTrackedUsers int `toml:"max_tracked_users"`
	// MaxBans bounds the ban list; when it is full the oldest entry goes.
	// 0 means 65536.
	MaxBans int `toml:"max_bans"`

	// Passive ports held at once (passive.go): a PASV or EPSV listener
	// open and not yet consumed by a data connection, kept listeners
	// included. Each bounds the ports of one client address (IPv6 by its
	// /64), one user, or one tenant. 0 means the default, which depends
	// on the size N of the passive port pool: min(32, N/2) per address,
	// min(16, N/4) per user, min(1024, N/2) per tenant, each at least 1;
	// a negative value means no limit.
	PassivePerIP     int `toml:"passive_per_ip"`
	PassivePerUser   int `toml:"passive_per_user"`
	PassivePerTenant int `toml:"passive_per_tenant"`
}

// Validate reports every setting of c that New or SetConfig would
// refuse, as a conf.Errors whose keys are relative to [limits]
// ("conn_per_ip", "users.bob.command_rate"), or nil.
func (c Config) Validate() error {
	_, err := compile(c)
	return err
}

// Limits are the limits that can differ per user and per tenant. In
// Config.User and Config.Tenant, 0 means no limit. In an override (Users,
// Tenants, Limiter.Overrides) 0 keeps the value it overrides and a
// negative number means no limit (for a rate in TOML, the integer -1: the
// text grammar of conf.Rate has no negatives).
type Limits struct {
	// MaxSessions bounds the logged-in sessions at once: of one user, or
	// of all the users of one tenant.
	MaxSessions int `toml:"max_sessions"`
	// CommandRate is the commands per second allowed: per session for a
	// user, shared by all of a tenant's sessions for a tenant.
	CommandRate float64 `toml:"command_rate"`
	// CommandBurst is how many commands may come at once above
	// CommandRate; 0 means max(1, CommandRate).
	CommandBurst int `toml:"command_burst"`
	// DownloadRate and UploadRate are bytes per second shared by all the
	// sessions of the user, or of the tenant.
	DownloadRate conf.Rate `toml:"download_rate"`
	UploadRate   conf.Rate `toml:"upload_rate"`
}

// over returns l with every non-zero field of o put in its place; a
// negative field of o clears it (no limit).
func (l Limits) over(o Limits) Limits {
	pick := func(base, o float64) float64 {
		switch {
		case o < 0:
			return 0
		case o > 0:
			return o
		}
		return base
	}
	l.MaxSessions = int(pick(float64(l.MaxSessions), float64(o.MaxSessions)))
	l.CommandRate = pick(l.CommandRate, o.CommandRate)
	l.CommandBurst = int(pick(float64(l.CommandBurst), float64(o.CommandBurst)))
	l.DownloadRate = conf.Rate(pick(float64(l.DownloadRate), float64(o.DownloadRate)))
	l.UploadRate = conf.Rate(pick(float64(l.UploadRate), float64(o.UploadRate)))
	return l
}

// validate reports the first field that makes no sense as a base limit.
func (l Limits) validate(name string) *conf.Error {
	switch {
	case math.IsNaN(l.CommandRate) || math.IsInf(l.CommandRate, 0):
		return &conf.Error{Key: name + ".command_rate", Msg: "not a number"}
	case l.MaxSessions < 0, l.CommandRate < 0, l.CommandBurst < 0, l.DownloadRate < 0, l.UploadRate < 0:
		return &conf.Error{Key: name, Msg: "limits must not be negative (0 is no limit)"}
	}
	return nil
}

// Defaults for the zero fields of Config.
const (
	defaultLoginWindow      = 10 * time.Minute
	defaultBanTime          = 15 * time.Minute
	defaultMaxBanTime       = 24 * time.Hour
	defaultBanMemory        = 24 * time.Hour
	defaultFailedLoginDelay = time.Second
	defaultCommandDelay     = time.Second
	defaultCommandStrikes   = 10
	defaultMaxTracked       = 1 << 16
	defaultIPv4Prefix       = 32
	defaultIPv6Prefix       = 64
	// idleTTL is how long the state of an address or user nobody uses
	// is kept; long enough for every rate above to have refilled.
	idleTTL = 30 * time.Minute
)

// compiled is a validated Config with its defaults filled in and its safe
// list parsed: what the limiter reads on every check.
type compiled struct {
	Config
	safe []netip.Prefix
	gen  uint64 // set by Limiter.store, from 1 up: which config this is
}

// compile validates c and fills in its defaults.
func compile(c Config) (*compiled, error) {
	var errs conf.Errors
	add := func(key, format string, args ...any) {
		errs = append(errs, &conf.Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	num := func(name string, v float64) {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			add(name, "want a number >= 0 (0: no limit)")
		}
	}
	num("conn_rate", c.ConnRate)
	num("conn_burst", float64(c.ConnBurst))
	num("conn_per_ip", float64(c.MaxConnsPerIP))
	num("max_conns", float64(c.MaxConns))
	num("login_failures", float64(c.LoginFailures))
	num("ip_download_rate", float64(c.IPDownloadRate))
	num("ip_upload_rate", float64(c.IPUploadRate))
	num("max_tracked_ips", float64(c.MaxTrackedIPs))
	num("max_tracked_users", float64(c.MaxTrackedUsers))
	num("max_bans", float64(c.MaxBans))
	for name, d := range map[string]conf.Duration{
		"login_window": c.LoginWindow, "ban": c.BanTime, "max_ban": c.MaxBanTime,
		"ban_memory": c.BanMemory, "command_delay": c.CommandDelay,
	} {
		if d < 0 {
			add(name, "must not be negative")
		}
	}
	if c.IPv4Prefix != 0 && (c.IPv4Prefix < 16 || c.IPv4Prefix > 32) {
		add("ipv4_prefix", "%d: want 16 to 32 (0: 32, one address)", c.IPv4Prefix)
	}
	if c.IPv6Prefix != 0 && (c.IPv6Prefix < 32 || c.IPv6Prefix > 128) {
		add("ipv6_prefix", "%d: want 32 to 128 (0: 64, one subnet)", c.IPv6Prefix)
	}
	for _, e := range []*conf.Error{c.User.validate("user"), c.Tenant.validate("tenant")} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	for name, l := range c.Users {
		if math.IsNaN(l.CommandRate) || math.IsInf(l.CommandRate, 0) {
			add("users."+name+".command_rate", "not a number")
		}
	}
	for name, l := range c.Tenants {
		if math.IsNaN(l.CommandRate) || math.IsInf(l.CommandRate, 0) {
			add("tenants."+name+".command_rate", "not a number")
		}
	}
	safe, err := ParseSafeList(c.Safe)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			add("safe", "%s", strings.TrimPrefix(line, "safe "))
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b *conf.Error) int { return strings.Compare(a.Key, b.Key) }) // maps above
		return nil, errs
	}

	def := func(d *conf.Duration, v time.Duration) {
		if *d == 0 {
			*d = conf.Duration(v)
		}
	}
	def(&c.LoginWindow, defaultLoginWindow)
	def(&c.BanTime, defaultBanTime)
	def(&c.MaxBanTime, defaultMaxBanTime)
	def(&c.BanMemory, defaultBanMemory)
	def(&c.FailedLoginDelay, defaultFailedLoginDelay)
	def(&c.CommandDelay, defaultCommandDelay)
	c.MaxBanTime = max(c.MaxBanTime, c.BanTime)
	switch {
	case c.CommandStrikes == 0:
		c.CommandStrikes = defaultCommandStrikes
	case c.CommandStrikes < 0:
		c.CommandStrikes = 0
	}
	if c.FailedLoginDelay < 0 {
		c.FailedLoginDelay = 0
	}
	for _, n := range []*int{&c.MaxTrackedIPs, &c.MaxTrackedUsers, &c.MaxBans} {
		if *n == 0 {
			*n = defaultMaxTracked
		}
	}
	if c.IPv4Prefix == 0 {
		c.IPv4Prefix = defaultIPv4Prefix
	}
	if c.IPv6Prefix == 0 {
		c.IPv6Prefix = defaultIPv6Prefix
	}
	return &compiled{Config: c, safe: safe}, nil
}

// ParseSafeList parses addresses ("192.0.2.7", "2001:db8::1") and CIDR
// prefixes ("10.0.0.0/8"). IPv4-mapped IPv6 forms are folded to IPv4, as
// the limiter folds client addresses.
func ParseSafeList(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, s := range entries {
		p, err := conf.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("safe %q: %w", strings.TrimSpace(s), err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// addrKey returns the key ip's per-address state is kept under: ip with
// all but its first IPv4Prefix or IPv6Prefix bits cleared, so that every
// address of one subnet is one client.
func (c *compiled) addrKey(ip netip.Addr) netip.Addr {
	bits := c.IPv6Prefix
	if ip.Is4() {
		bits = c.IPv4Prefix
	}
	p, err := ip.Prefix(bits)
	if err != nil { // the invalid address of a session without one
		return ip
	}
	return p.Addr()
}

// isSafe reports whether ip is on the safe list.
func (c *compiled) isSafe(ip netip.Addr) bool {
	for _, p := range c.safe {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// userLimits returns the limits of user of tenant: the base, the Users
// entry, then the caller's override.
func (c *compiled) userLimits(tenant, user string, extra func(tenant, user string) (Limits, Limits)) Limits {
	return c.keyedUserLimits(userKey(tenant, user), tenant, user, extra)
}

// loginLimits is userLimits for a login, by the key it made once.
func (c *compiled) loginLimits(lg *login, extra func(tenant, user string) (Limits, Limits)) Limits {
	return c.keyedUserLimits(lg.key, lg.tenant, lg.user, extra)
}

// keyedUserLimits is userLimits with the user's key, userKey(tenant, user).
func (c *compiled) keyedUserLimits(key, tenant, user string, extra func(tenant, user string) (Limits, Limits)) Limits {
	l := c.User
	if o, ok := c.Users[key]; ok {
		l = l.over(o)
	}
	if extra != nil {
		_, o := extra(tenant, user)
		l = l.over(o)
	}
	return l
}

// tenantLimits returns the limits of tenant: the base, the Tenants entry,
// then the caller's override.
func (c *compiled) tenantLimits(tenant string, extra func(tenant, user string) (Limits, Limits)) Limits {
	l := c.Tenant
	if o, ok := c.Tenants[tenant]; ok {
		l = l.over(o)
	}
	if extra != nil {
		o, _ := extra(tenant, "")
		l = l.over(o)
	}
	return l
}

// userKey is how Config.Users names a user.
func userKey(tenant, user string) string {
	if tenant == "" {
		return user
	}
	return tenant + "/" + user
}
