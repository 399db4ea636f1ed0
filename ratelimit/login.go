package ratelimit

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"golang.org/x/time/rate"
)

// CheckLogin is the limiter's engine.LoginHook, which Install adds first
// to Server.LoginHooks. It adds the login limits: a banned address cannot
// try passwords; an address or an account whose failures (with the
// logins of it still being checked) reach the threshold cannot start
// another attempt; failed logins count towards a ban and are answered
// late; a user or tenant at its number of sessions cannot log in again.
// Failures count against the account the login resolves to
// (Limiter.ResolveLogin, or the server's driver's ResolveLogin when it is
// a LoginResolver), not the text as typed.
//
// An error from the driver that is a *engine.ReplyError with code 421 is
// not a failure: it declined to judge the credentials (it is overloaded,
// say), so nothing is scored and the reply is not delayed. A certificate
// login on a server whose driver checks no certificates is passed on
// untouched: the engine asks for a password, and the PASS that follows
// is limited.
func (l *Limiter) CheckLogin(ctx context.Context, lg *engine.Login, next engine.LoginFunc) (engine.ClientDriver, error) {
	l.setup()
	if lg.Method == engine.LoginCertificate && !l.drv.certificates {
		return next(ctx, lg)
	}
	cc := lg.Session
	a, err := l.beginLogin(cc, lg.User, l.drv.resolve, l.loginBudget(cc))
	if err != nil {
		return nil, err
	}
	fs, err := next(ctx, lg)
	if err != nil {
		if notJudged(err) {
			l.endLogin(a)
		} else {
			l.loginFailed(cc, a)
		}
		return nil, err
	}
	if fs == nil {
		l.endLogin(a)
		return nil, nil // a certificate the driver left undecided
	}
	// The session cap first: it decides the reply, so it draws on the
	// login's Budget before the release of the attempt's slots does.
	err = l.loginSucceeded(cc, lg.User, a.budget)
	l.endLogin(a)
	if err != nil {
		return nil, err
	}
	return fs, nil
}

// loginBudget returns the Budget of a login's Shared calls: what the
// session's admission left of its own, for the session's first login,
// else a new one. Nil without Shared.
func (l *Limiter) loginBudget(cc engine.ClientContext) *Budget {
	if l.Shared == nil {
		return nil
	}
	if s := l.session(cc); s != nil {
		s.mu.Lock()
		b := s.budget
		s.budget = nil
		s.mu.Unlock()
		if b != nil {
			return b
		}
	}
	return &Budget{}
}

// driverInfo is what CheckLogin learns of the server's driver at Install.
type driverInfo struct {
	resolve      ResolveFunc // the driver's, when it is a LoginResolver
	certificates bool        // the driver checks client certificates
}

// maxUnwrap bounds the walk through driver wrappers, as the engine's.
const maxUnwrap = 16

// inspectDriver finds d's ResolveLogin through its Unwrap() chain, and
// whether d (the outermost driver, as the engine asks) verifies TLS
// clients.
func inspectDriver(d engine.MainDriver) driverInfo {
	var info driverInfo
	_, info.certificates = d.(engine.MainDriverExtensionTLSVerifier)
	for range maxUnwrap {
		if d == nil {
			break
		}
		if r, ok := d.(LoginResolver); ok {
			info.resolve = r.ResolveLogin
			break
		}
		u, ok := d.(interface{ Unwrap() engine.MainDriver })
		if !ok {
			break
		}
		d = u.Unwrap()
	}
	return info
}

// notJudged reports whether a driver's error says it did not check the
// credentials at all (421: not available now).
func notJudged(err error) bool {
	var re *engine.ReplyError
	return errors.As(err, &re) && re.Code == 421
}

// attempt is one login being checked: the address and account it counts
// against, and the slots it holds among their logins in flight.
type attempt struct {
	ip, key          netip.Addr // the client's address and its prefix
	tenant, user     string     // the account the login resolved to
	ipSlot, userSlot bool
	shared           bool    // Limiter.Shared checked it and holds its slots
	budget           *Budget // bounds its Shared calls' wait in all
}

// resolve names the account a login means: Limiter.ResolveLogin, else
// the wrapped driver's, else the login as typed.
func (l *Limiter) resolve(cc engine.ClientContext, login string, fallback ResolveFunc) (tenant, user string) {
	f := l.ResolveLogin
	if f == nil {
		f = fallback
	}
	if f == nil {
		return "", login
	}
	tenant, user = f(cc, login)
	if user == "" {
		return "", login
	}
	return tenant, user
}

// beginLogin refuses a login from a banned address (the engine closes the
// session on a 421); one that would bring the address's failures with
// its logins in flight past the threshold; and, likewise, one that would
// bring the account's past it, so that parallel connections, from one
// address or from many, cannot try more passwords on an account than the
// threshold allows. endLogin gives the attempt's slots back.
func (l *Limiter) beginLogin(cc engine.ClientContext, login string, fallback ResolveFunc, budget *Budget) (*attempt, error) {
	c := l.cfg.Load()
	a := &attempt{budget: budget}
	a.ip, a.key = l.sessionAddr(cc, c)
	a.tenant, a.user = l.resolve(cc, login, fallback)
	if c.isSafe(a.ip) {
		return a, nil
	}
	now := l.now()
	ctx := l.sessionCtx(cc)
	if sh := l.Shared; sh != nil && c.LoginFailures > 0 {
		chk, err := sh.BeginLogin(WithBudget(ctx, a.budget), keyPrefix(c, a.key), a.tenant, a.user, c.banRules())
		switch {
		case err != nil:
			if !sh.FailOpen(FeatureBans) {
				return nil, l.refuseShared(ctx, FeatureBans, cc, a.ip, "login", login, "tenant", a.tenant, "user", a.user)
			}
			// Fail open: the local tables decide, as without Shared.
		case !chk.BannedUntil.IsZero():
			return nil, l.refuse(ctx, ruleBanned, cc, a.ip,
				"Too many failed logins from your address; try again later.",
				"login", login, "tenant", a.tenant, "user", a.user, "until", chk.BannedUntil.UTC().Format(time.RFC3339))
		case chk.Refused == 1:
			return nil, l.refuse(ctx, ruleLoginAttempts, cc, a.ip,
				"Too many login attempts from your address; try again later.", "login", login, "tenant", a.tenant, "user", a.user)
		case chk.Refused == 2:
			return nil, l.refuse(ctx, ruleUserLoginAttempts, cc, a.ip,
				"Too many failed logins for this account; try again later.",
				"login", login, "tenant", a.tenant, "user", a.user)
		default:
			a.shared = true
			return a, nil
		}
	}
	if until, banned := l.bannedUntil(a.key, now); banned {
		return nil, l.refuse(ctx, ruleBanned, cc, a.ip,
			"Too many failed logins from your address; try again later.",
			"login", login, "tenant", a.tenant, "user", a.user, "until", until.UTC().Format(time.RFC3339))
	}
	if c.LoginFailures == 0 {
		return a, nil
	}
	busy := false
	l.ips.with(a.key, now, idleTTL, func(s *ipState, _ bool) int {
		tuneScore(&s.failures, c, now)
		if s.failures.TokensAt(now)-float64(s.attempts) < 1 {
			busy = true
			return 0
		}
		s.attempts++
		a.ipSlot = true
		return 1 // pinned while the password is checked
	})
	if busy {
		return nil, l.refuse(ctx, ruleLoginAttempts, cc, a.ip,
			"Too many login attempts from your address; try again later.", "login", login, "tenant", a.tenant, "user", a.user)
	}
	l.users.with(userKey(a.tenant, a.user), now, idleTTL, func(s *accountState, _ bool) int {
		tuneScore(&s.failures, c, now)
		if s.failures.TokensAt(now)-float64(s.attempts) < 1 {
			busy = true
			return 0
		}
		s.attempts++
		a.userSlot = true
		return 1
	})
	if busy {
		l.endLogin(a)
		// Unknown accounts are counted the same way, so this reply says
		// nothing about whether the account exists.
		return nil, l.refuse(ctx, ruleUserLoginAttempts, cc, a.ip,
			"Too many failed logins for this account; try again later.",
			"login", login, "tenant", a.tenant, "user", a.user)
	}
	return a, nil
}

// endLogin gives back the slots an attempt holds among the logins in
// flight of its address and its account.
func (l *Limiter) endLogin(a *attempt) {
	now := l.now()
	if a.shared {
		a.shared = false
		c := l.cfg.Load()
		p := keyPrefix(c, a.key)
		// Within the login's Budget. When the call was not made (the
		// budget is spent) or not answered in time, it is made again
		// beside the login with a deadline of its own: slots left taken
		// would cost their address and account an attempt each until
		// they expire (redisstate: a minute after the key's last use).
		// Releasing twice, when the first call did run, frees a slot of
		// a login still in flight early, which that login's own release
		// makes good (the counter is deleted at zero).
		if err := l.Shared.EndLogin(WithBudget(context.Background(), a.budget), p, a.tenant, a.user); err != nil {
			l.endShared(p, a.tenant, a.user)
		}
	}
	if a.ipSlot {
		a.ipSlot = false
		l.ips.with(a.key, now, idleTTL, func(s *ipState, _ bool) int {
			s.attempts = max(s.attempts-1, 0)
			return -1
		})
	}
	if a.userSlot {
		a.userSlot = false
		l.users.with(userKey(a.tenant, a.user), now, idleTTL, func(s *accountState, _ bool) int {
			s.attempts = max(s.attempts-1, 0)
			return -1
		})
	}
}

// maxReleases bounds the Shared releases running beside logins
// (endShared) at once; each ends within the Shared's deadline. Past it,
// a release is not retried: its slots expire.
const maxReleases = 256

// endShared gives back the slots of a login in Limiter.Shared (EndLogin)
// without the login waiting for it: the login's Budget could not cover
// it, but its slots should not stay taken until they expire. Its error
// is the Shared's to report.
func (l *Limiter) endShared(p netip.Prefix, tenant, user string) {
	select {
	case l.releases <- struct{}{}:
		go func() {
			defer func() { <-l.releases }()
			_ = l.Shared.EndLogin(context.Background(), p, tenant, user)
		}()
	default:
	}
}

// Suspect reports whether a login for tenant's user from cc's address
// should count as suspect: its address prefix or the account had a
// failed login within LoginWindow. A password checker with more logins
// than workers serves suspect ones from a smaller, separate share
// (tenancy.Driver.LoginSuspect), so that a flood of failing logins does
// not queue the others. Addresses on the safe list are never suspect.
// It changes nothing and creates no state.
func (l *Limiter) Suspect(cc engine.ClientContext, tenant, user string) bool {
	l.setup()
	c := l.cfg.Load()
	ip, key := l.sessionAddr(cc, c)
	if c.isSafe(ip) {
		return false
	}
	now := l.now()
	since := now.Add(-time.Duration(c.LoginWindow)).UnixNano()
	suspect := false
	l.ips.peek(key, now, func(s *ipState) { suspect = s.lastFailure > since })
	if !suspect {
		l.users.peek(userKey(tenant, user), now, func(s *accountState) { suspect = s.lastFailure > since })
	}
	return suspect
}

// tuneScore makes *lim a failure score: LoginFailures tokens, refilled
// over LoginWindow. A score made under another config keeps its count of
// failures (the tokens it lacks), so that a reload neither forgives nor
// inflates what an address has done.
func tuneScore(lim **rate.Limiter, c *compiled, now time.Time) {
	r := rate.Limit(float64(c.LoginFailures) / time.Duration(c.LoginWindow).Seconds())
	old := *lim
	if old != nil && old.Limit() == r && old.Burst() == c.LoginFailures {
		return
	}
	*lim = rate.NewLimiter(r, c.LoginFailures)
	if old != nil {
		failures := math.Round(float64(old.Burst()) - old.TokensAt(now))
		if n := min(int(failures), c.LoginFailures); n > 0 {
			(*lim).ReserveN(now, n)
		}
	}
}

// loginFailed adds a failure to the address's and the account's scores,
// bans the address when either is past the threshold, and then waits
// until the failed-login delay has passed since the failure (the shared
// state's call is part of it). The wait holds no lock: it only delays this
// session's answer, and ends early when the connection does.
//
// The attempt's slots are given back once the failure is scored, so that
// no other attempt sees a slot free while the score still has the token
// this failure takes.
func (l *Limiter) loginFailed(cc engine.ClientContext, a *attempt) {
	c := l.cfg.Load()
	now, start := l.now(), time.Now()
	ctx := l.sessionCtx(cc)
	l.counters.add(ruleLoginFailures)
	over := false
	// The failure that takes the last token is the one that bans.
	score := func(lim **rate.Limiter) {
		if c.LoginFailures == 0 {
			return
		}
		tuneScore(lim, c, now)
		if !(*lim).AllowN(now, 1) || (*lim).TokensAt(now) < 1 {
			over = true
		}
	}
	l.ips.with(a.key, now, idleTTL, func(s *ipState, _ bool) int {
		s.lastFailure = now.UnixNano()
		score(&s.failures)
		return 0
	})
	l.users.with(userKey(a.tenant, a.user), now, idleTTL, func(s *accountState, _ bool) int {
		s.lastFailure = now.UnixNano()
		score(&s.failures)
		return 0
	})
	// Debug: the driver logs the failure with the whole identity (tenancy:
	// one line per login); this line is for tracing the score.
	l.logger().DebugContext(ctx, "ratelimit: login failed", l.withTenant(cc, []any{"rule", ruleLoginFailures.String(),
		"remote", a.ip.String(), "session", cc.ID(), "tenant", a.tenant, "user", a.user})...)
	sharedDone := false
	if a.shared && c.LoginFailures > 0 {
		a.shared = false // LoginFailed gives the slots back
		// Not within the login's Budget: the reply is the same whatever
		// Redis says, and the call's wait is part of the failed-login
		// delay, which counts from now.
		b, err := l.Shared.LoginFailed(ctx, keyPrefix(c, a.key), a.tenant, a.user, !c.isSafe(a.ip), c.banRules())
		if err == nil {
			// The shared score decides and the shared ban is the one, so
			// that a lift through any instance lifts it; the local
			// scores above stay for Suspect and for an outage.
			sharedDone = true
			if !b.Until.IsZero() {
				l.logBan(ctx, c, cc, a.ip, b.Until, b.Offences)
			}
		}
	}
	if over && !sharedDone && !c.isSafe(a.ip) {
		l.ban(ctx, c, cc, a.ip, a.key, now)
		// The ban is the penalty; once it ends the address starts
		// with a full score, and a new offence doubles the next ban.
		l.ips.with(a.key, now, idleTTL, func(s *ipState, _ bool) int {
			s.failures = nil
			return 0
		})
	}
	l.endLogin(a)
	wait(ctx, time.Duration(c.FailedLoginDelay)-time.Since(start))
}

// ban bans key, ip's prefix, for BanTime doubled for every earlier
// offence it is remembered for, at most MaxBanTime.
func (l *Limiter) ban(ctx context.Context, c *compiled, cc engine.ClientContext, ip, key netip.Addr, now time.Time) {
	var until time.Time
	var offences int
	l.bans.with(key, now, time.Duration(c.MaxBanTime+c.BanMemory), func(b *banState, _ bool) int {
		if b.until > now.UnixNano() {
			until, offences = time.Unix(0, b.until), b.offences // already banned
			return 0
		}
		b.offences++
		d := time.Duration(c.BanTime)
		for i := 1; i < b.offences && d < time.Duration(c.MaxBanTime); i++ {
			d *= 2
		}
		d = min(d, time.Duration(c.MaxBanTime))
		until, offences = now.Add(d), b.offences
		b.until = until.UnixNano()
		return 0
	})
	if offences == 0 || until.Sub(now) <= 0 {
		return
	}
	l.logBan(ctx, c, cc, ip, until, offences)
}

// logBan counts and logs a ban of ip's prefix until until.
func (l *Limiter) logBan(ctx context.Context, c *compiled, cc engine.ClientContext, ip netip.Addr, until time.Time, offences int) {
	l.counters.add(ruleBan)
	l.logger().WarnContext(ctx, "ratelimit: address banned", "rule", ruleBan.String(),
		"remote", ip.String(), "prefix", prefixString(c, ip), "session", cc.ID(),
		"until", until.UTC().Format(time.RFC3339), "offences", offences)
}

// bannedUntil reports whether key, an address prefix, is banned at now,
// and until when.
func (l *Limiter) bannedUntil(key netip.Addr, now time.Time) (time.Time, bool) {
	var until int64
	l.bans.peek(key, now, func(b *banState) { until = b.until })
	return time.Unix(0, until), until > now.UnixNano()
}

// Banned reports whether ip is banned now, and until when. A ban covers
// ip's whole prefix (Config.IPv6Prefix, Config.IPv4Prefix).
//
// With Limiter.Shared, the shared ban list answers (the local one when it
// cannot be asked).
func (l *Limiter) Banned(ip netip.Addr) (until time.Time, banned bool) {
	l.setup()
	c := l.cfg.Load()
	key := c.addrKey(ip.Unmap().WithZone(""))
	now := l.now()
	if sh := l.Shared; sh != nil {
		if until, err := sh.Banned(context.Background(), keyPrefix(c, key)); err == nil {
			return until, !until.IsZero()
		}
	}
	return l.bannedUntil(key, now)
}

// Unban lifts the ban of ip's prefix and forgets its offences (in
// Limiter.Shared too: everywhere).
func (l *Limiter) Unban(ip netip.Addr) {
	l.setup()
	c := l.cfg.Load()
	key := c.addrKey(ip.Unmap().WithZone(""))
	if sh := l.Shared; sh != nil {
		_, _ = sh.Lift(context.Background(), keyPrefix(c, key), c.IPv4Prefix, c.IPv6Prefix)
	}
	l.bans.with(key, l.now(), 0, func(b *banState, _ bool) int {
		*b = banState{}
		return 0
	})
}

// loginSucceeded takes a session slot of the user and of the tenant, or
// refuses the login when either has none left.
func (l *Limiter) loginSucceeded(cc engine.ClientContext, user string, budget *Budget) error {
	c := l.cfg.Load()
	now := l.now()
	tenant, user := l.identity(cc, user)
	ul := c.userLimits(tenant, user, l.Overrides)
	tl := c.tenantLimits(tenant, l.Overrides)
	lg := &login{tenant: tenant, user: user, key: userKey(tenant, user)}

	full := false
	l.users.with(lg.key, now, idleTTL, func(s *accountState, _ bool) int {
		if ul.MaxSessions > 0 && s.sessions >= ul.MaxSessions {
			full = true
			return 0
		}
		s.sessions++
		lg.userPinned = true
		return 1
	})
	ip, _ := l.sessionAddr(cc, c)
	ctx := l.sessionCtx(cc)
	if full {
		return l.refuse(ctx, ruleUserSessions, cc, ip, "Too many sessions for this user; try again later.",
			"tenant", tenant, "user", user, "limit", ul.MaxSessions)
	}
	if tenant != "" {
		l.tenants.with(tenant, now, idleTTL, func(s *accountState, _ bool) int {
			if tl.MaxSessions > 0 && s.sessions >= tl.MaxSessions {
				full = true
				return 0
			}
			s.sessions++
			lg.tenantPinned = true
			return 1
		})
		if full {
			l.logout(lg, now)
			return l.refuse(ctx, ruleTenantSessions, cc, ip, "Too many sessions for this tenant; try again later.",
				"tenant", tenant, "user", user, "limit", tl.MaxSessions)
		}
	}
	if sh := l.Shared; sh != nil && l.session(cc) != nil {
		if err := l.holdShared(ctx, WithBudget(ctx, budget), sh, cc, ip, lg, ul.MaxSessions, tl.MaxSessions); err != nil {
			l.logout(lg, now)
			return err
		}
	}
	if s := l.session(cc); s != nil {
		s.mu.Lock()
		old := s.login
		s.login = lg
		s.gen = 0 // drop what was cached for the login before (sync)
		s.mu.Unlock()
		l.logout(old, now)
	} else {
		// Without the admission hook nothing would ever give the slots
		// back: do not count them.
		l.logout(lg, now)
	}
	return nil
}

// holdShared takes lg's session slots in the shared state, when the user
// or its tenant has a cap, or refuses the login. The call runs in sctx
// (ctx with the login's Budget).
func (l *Limiter) holdShared(ctx, sctx context.Context, sh Shared, cc engine.ClientContext, ip netip.Addr, lg *login, userMax, tenantMax int) error {
	if lg.tenant == "" {
		tenantMax = 0
	}
	if userMax <= 0 && tenantMax <= 0 {
		return nil
	}
	h, full, err := sh.HoldSessions(sctx, lg.tenant, lg.user, userMax, tenantMax)
	switch {
	case err != nil:
		if sh.FailOpen(FeatureSessions) {
			return nil // the local counts decided
		}
		return l.refuseShared(ctx, FeatureSessions, cc, ip, "tenant", lg.tenant, "user", lg.user)
	case full == 1:
		return l.refuse(ctx, ruleUserSessions, cc, ip, "Too many sessions for this user; try again later.",
			"tenant", lg.tenant, "user", lg.user, "limit", userMax, "scope", "cluster")
	case full == 2:
		return l.refuse(ctx, ruleTenantSessions, cc, ip, "Too many sessions for this tenant; try again later.",
			"tenant", lg.tenant, "user", lg.user, "limit", tenantMax, "scope", "cluster")
	}
	lg.hold = h
	return nil
}

// logout gives back the session slots a login holds.
func (l *Limiter) logout(lg *login, now time.Time) {
	if lg == nil {
		return
	}
	if lg.hold != nil {
		// An error leaves the lease to expire, no longer renewed; the
		// Shared reports it.
		_ = l.Shared.ReleaseSessions(context.Background(), lg.hold)
		lg.hold = nil
	}
	if lg.userPinned {
		l.users.with(lg.key, now, idleTTL, func(s *accountState, _ bool) int {
			s.sessions = max(s.sessions-1, 0)
			return -1
		})
	}
	if lg.tenantPinned {
		l.tenants.with(lg.tenant, now, idleTTL, func(s *accountState, _ bool) int {
			s.sessions = max(s.sessions-1, 0)
			return -1
		})
	}
}

// sessionAddr returns the address a session was admitted from and the
// prefix it was admitted under, or the connection's when the admission
// hook did not see it.
func (l *Limiter) sessionAddr(cc engine.ClientContext, c *compiled) (ip, key netip.Addr) {
	if s := l.session(cc); s != nil {
		return s.ip, s.key
	}
	ip = clientIP(cc.RemoteAddr())
	return ip, c.addrKey(ip)
}

// prefixString names the prefix an address is counted under, for logs.
func prefixString(c *compiled, ip netip.Addr) string {
	bits := c.IPv6Prefix
	if ip.Is4() {
		bits = c.IPv4Prefix
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip.String()
	}
	return p.String()
}

// sessionCtx returns the context that ends with a session's connection.
func (l *Limiter) sessionCtx(cc engine.ClientContext) context.Context {
	if s := l.session(cc); s != nil {
		return s.ctx
	}
	return context.Background()
}
