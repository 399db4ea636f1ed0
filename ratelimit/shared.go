package ratelimit

import (
	"context"
	"net/netip"
	"time"

	"github.com/ftpgate/ftpgate/engine"
)

// Shared is the state that the instances of one gateway behind a load
// balancer share, so that N instances do not give an attacker N times the
// guesses nor a user N times the session cap: failed-login scores and
// bans, the sessions of a user and of a tenant, a tenant's command rate
// and an address's rate of new connections. ratelimit/redisstate keeps it
// in Redis.
//
// Limiter.Shared is nil by default: the limiter's own tables are then the
// whole state (the in-memory implementation, as before Shared existed,
// with no cost added). When it is set, the limiter keeps its tables as
// well (so that they are warm when the shared state is unreachable) and
// asks Shared first; when a call fails, FailOpen of the call's feature
// says whether the local tables decide (true) or the login, connection
// or command is refused with 421 (false). While Shared answers, its bans
// are the only ones consulted, so that a lift through any instance lifts
// a ban everywhere. What stays per instance: connections at once (total
// and per address), Suspect, bandwidth (each instance meters its own
// transfers) and passive ports.
//
// Addresses are passed as the prefix the limiter keys them on
// (Config.IPv4Prefix, Config.IPv6Prefix, masked); accounts as the
// (tenant, user) pair a login resolved to. Implementations bound each
// call by a deadline, and by what is left of the Budget its context
// carries (BudgetOf: the calls of one login wait one deadline in all),
// and report their errors themselves.
type Shared interface {
	// Admit returns until when prefix is banned (the zero time: not
	// banned; not asked when checkBan is false), and takes one new
	// connection from prefix's connection rate (rate per second, burst;
	// rate 0: no rate), allowed false when it is spent.
	Admit(ctx context.Context, prefix netip.Prefix, checkBan bool, rate float64, burst int) (until time.Time, allowed bool, err error)
	// BeginLogin returns until when prefix is banned; when it is not,
	// and r.Failures > 0, it refuses (Refused) a login that would bring
	// the address's or the account's failures with their logins in
	// flight past r.Failures, or takes one login-in-flight slot of each.
	BeginLogin(ctx context.Context, prefix netip.Prefix, tenant, user string, r BanRules) (LoginCheck, error)
	// EndLogin gives back the slots BeginLogin took.
	EndLogin(ctx context.Context, prefix netip.Prefix, tenant, user string) error
	// LoginFailed scores a failure against prefix and the account, gives
	// back the slots, and bans prefix (when ban is true and a score is
	// spent) for BanTime doubled per offence remembered, at most
	// MaxBanTime. It returns the ban issued, if any (Until zero: none).
	LoginFailed(ctx context.Context, prefix netip.Prefix, tenant, user string, ban bool, r BanRules) (Ban, error)
	// Banned returns until when prefix is banned (zero: not banned).
	Banned(ctx context.Context, prefix netip.Prefix) (time.Time, error)
	// Bans lists the bans in force as Limiter.Bans does.
	Bans(ctx context.Context, limit int) (bans []Ban, total int, err error)
	// CountBans returns the number of bans in force.
	CountBans(ctx context.Context) (int, error)
	// Lift lifts the bans in force whose prefix overlaps p (already
	// masked and unmapped) and forgets their offences; v4Bits and
	// v6Bits are the bits of ban prefixes (Config.IPv4Prefix,
	// IPv6Prefix). It returns how many bans in force it lifted.
	Lift(ctx context.Context, p netip.Prefix, v4Bits, v6Bits int) (int, error)
	// HoldSessions takes a session slot of the user (when userMax > 0)
	// and of the tenant (when tenant != "" and tenantMax > 0), both or
	// neither, held until ReleaseSessions or until the holder stops
	// renewing it. full is 0 when taken, 1 when the user is at userMax,
	// 2 when the tenant is at tenantMax.
	HoldSessions(ctx context.Context, tenant, user string, userMax, tenantMax int) (h *SessionHold, full int, err error)
	// ReleaseSessions gives back what HoldSessions took.
	ReleaseSessions(ctx context.Context, h *SessionHold) error
	// TakeCommand takes one command from tenant's shared command rate
	// (rate per second, burst), returning how long the command must wait
	// for it; ok is false (and nothing is taken) when that would be
	// longer than maxWait.
	TakeCommand(ctx context.Context, tenant string, rate float64, burst int, maxWait time.Duration) (wait time.Duration, ok bool, err error)
	// FailOpen reports, for a feature (FeatureBans, FeatureSessions,
	// FeatureRates), whether the local tables decide when a call fails.
	FailOpen(feature string) bool
}

// The features of Shared, each with its own failure mode (the [cluster]
// keys fail.bans, fail.sessions, fail.rates).
const (
	FeatureBans     = "bans"     // failed-login scores and bans
	FeatureSessions = "sessions" // sessions per user and per tenant
	FeatureRates    = "rates"    // a tenant's command rate, an address's connection rate
)

// BanRules are the settings of the failure scores and bans a Shared
// applies, from Config with its defaults filled in.
type BanRules struct {
	Failures   int           // Config.LoginFailures
	Window     time.Duration // Config.LoginWindow
	BanTime    time.Duration // Config.BanTime
	MaxBanTime time.Duration // Config.MaxBanTime
	BanMemory  time.Duration // Config.BanMemory
	MaxBans    int           // Config.MaxBans: the most bans listed at once
	// MaxAccounts is Config.MaxTrackedUsers: the most account failure
	// scores a Shared keeps per tenant (the ones idle longest go first),
	// so that a spray of made-up user names cannot grow the shared state
	// without bound. 0: the Shared's default.
	MaxAccounts int
}

// LoginCheck is BeginLogin's answer.
type LoginCheck struct {
	BannedUntil time.Time // not zero: the address is banned
	Refused     int       // 0: slots taken; 1: the address has no attempt left; 2: the account has none
}

// SessionHold is the session slots one login holds in a Shared.
type SessionHold struct {
	Tenant, User string
	// ID names the hold in the shared state; the Shared chooses it.
	ID string
	// Keys is the Shared's own record of where the hold is.
	Keys []string
}

// banRules returns c's ban settings for a Shared.
func (c *compiled) banRules() BanRules {
	return BanRules{Failures: c.LoginFailures, Window: time.Duration(c.LoginWindow), BanTime: time.Duration(c.BanTime),
		MaxBanTime: time.Duration(c.MaxBanTime), BanMemory: time.Duration(c.BanMemory), MaxBans: c.MaxBans,
		MaxAccounts: c.MaxTrackedUsers}
}

// keyPrefix is the prefix a per-address key (compiled.addrKey) stands
// for, as a Shared receives it.
func keyPrefix(c *compiled, key netip.Addr) netip.Prefix { return banPrefix(c, key) }

// refuseShared counts and logs a refusal because the shared state could
// not be asked and feature fails closed. The reply says only that the
// service is unavailable.
func (l *Limiter) refuseShared(ctx context.Context, feature string, cc engine.ClientContext, ip netip.Addr, attrs ...any) error {
	return l.refuse(ctx, ruleShared, cc, ip, "Service not available, try again later.", append([]any{"feature", feature}, attrs...)...)
}
