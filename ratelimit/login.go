package ratelimit

import (
	"context"
	"crypto/tls"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"golang.org/x/time/rate"
)

// WrapDriver returns a MainDriver that passes everything to next and adds
// the login limits: a banned address cannot try passwords; failed logins
// count towards a ban and are answered late; a user or tenant at its
// number of sessions cannot log in again. The wrapper implements every
// MainDriver extension of the engine and, where next does not, behaves as
// the engine does without it, so wrapping changes nothing else.
func (l *Limiter) WrapDriver(next engine.MainDriver) engine.MainDriver {
	l.setup()
	return &limitedDriver{MainDriver: next, l: l}
}

// limitedDriver is the MainDriver WrapDriver returns.
type limitedDriver struct {
	engine.MainDriver
	l *Limiter
}

var (
	_ engine.MainDriverExtensionHost           = (*limitedDriver)(nil)
	_ engine.MainDriverExtensionPassiveWrapper = (*limitedDriver)(nil)
	_ engine.MainDriverExtensionTLSVerifier    = (*limitedDriver)(nil)
)

// Unwrap returns the wrapped driver, for callers that look for their own
// driver type through wrappers.
func (d *limitedDriver) Unwrap() engine.MainDriver { return d.MainDriver }

// AuthUser refuses a banned address before next sees the password, and
// accounts for the outcome.
func (d *limitedDriver) AuthUser(cc engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	end, err := d.l.beginLogin(cc)
	if err != nil {
		return nil, err
	}
	fs, err := d.MainDriver.AuthUser(cc, user, pass)
	if err != nil {
		d.l.loginFailed(cc, user, end)
		return nil, err
	}
	end()
	if err := d.l.loginSucceeded(cc, user); err != nil {
		return nil, err
	}
	return fs, nil
}

// VerifyTLSClient passes certificate logins to next, with the same
// accounting as AuthUser; without the extension in next it asks for a
// password, as the engine does.
func (d *limitedDriver) VerifyTLSClient(cc engine.ClientContext, user string, state tls.ConnectionState) (engine.ClientDriver, error) {
	v, ok := d.MainDriver.(engine.MainDriverExtensionTLSVerifier)
	if !ok {
		return nil, nil
	}
	end, err := d.l.beginLogin(cc)
	if err != nil {
		return nil, err
	}
	fs, err := v.VerifyTLSClient(cc, user, state)
	if err != nil {
		d.l.loginFailed(cc, user, end)
		return nil, err
	}
	end()
	if fs == nil {
		return nil, nil
	}
	if err := d.l.loginSucceeded(cc, user); err != nil {
		return nil, err
	}
	return fs, nil
}

// CheckHost passes HOST to next; without the extension in next every
// name is accepted, as the engine does.
func (d *limitedDriver) CheckHost(cc engine.ClientContext, host string) error {
	if h, ok := d.MainDriver.(engine.MainDriverExtensionHost); ok {
		return h.CheckHost(cc, host)
	}
	return nil
}

// WrapPassiveListener passes to next; without the extension in next the
// listener is used as it is.
func (d *limitedDriver) WrapPassiveListener(ln net.Listener) (net.Listener, error) {
	if w, ok := d.MainDriver.(engine.MainDriverExtensionPassiveWrapper); ok {
		return w.WrapPassiveListener(ln)
	}
	return ln, nil
}

// beginLogin refuses a login from a banned address (the engine closes the
// session on a 421), and one that would bring the address's failures in
// flight past the threshold, so that parallel connections cannot
// try more passwords than the threshold allows. end gives the attempt's
// slot back.
func (l *Limiter) beginLogin(cc engine.ClientContext) (end func(), err error) {
	c := l.cfg.Load()
	ip := l.sessionIP(cc)
	if c.isSafe(ip) {
		return func() {}, nil
	}
	now := l.now()
	ctx := l.sessionCtx(cc)
	if until, banned := l.bannedUntil(ip, now); banned {
		return nil, l.refuse(ctx, ruleBanned, cc, ip,
			"Too many failed logins from your address; try again later.",
			"user", cc.User(), "until", until.UTC().Format(time.RFC3339))
	}
	if c.LoginFailures == 0 {
		return func() {}, nil
	}
	busy := false
	l.ips.with(ip, now, idleTTL, func(s *ipState, _ bool) int {
		tuneScore(&s.failures, c, now)
		if s.failures.TokensAt(now)-float64(s.attempts) < 1 {
			busy = true
			return 0
		}
		s.attempts++
		return 1 // pinned while the password is checked
	})
	if busy {
		return nil, l.refuse(ctx, ruleLoginAttempts, cc, ip,
			"Too many login attempts from your address; try again later.", "user", cc.User())
	}
	return func() {
		l.ips.with(ip, l.now(), idleTTL, func(s *ipState, _ bool) int {
			s.attempts = max(s.attempts-1, 0)
			return -1
		})
	}, nil
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

// loginFailed adds a failure to the address's and the user's scores, bans
// the address when either is past the threshold, and then waits the
// failed-login delay. The wait holds no lock: it only delays this
// session's answer, and ends early when the connection does.
//
// end gives the attempt's slot back once the failure is scored, so that
// no other attempt sees the slot free while the score still has the token
// this failure takes.
func (l *Limiter) loginFailed(cc engine.ClientContext, user string, end func()) {
	c := l.cfg.Load()
	now := l.now()
	ip := l.sessionIP(cc)
	ctx := l.sessionCtx(cc)
	l.counters.add(ruleLoginFailures)
	tenant, user := l.identity(cc, user)
	over := false
	if c.LoginFailures > 0 {
		// The failure that takes the last token is the one that bans.
		score := func(lim **rate.Limiter) {
			tuneScore(lim, c, now)
			if !(*lim).AllowN(now, 1) || (*lim).TokensAt(now) < 1 {
				over = true
			}
		}
		l.ips.with(ip, now, idleTTL, func(s *ipState, _ bool) int {
			score(&s.failures)
			return 0
		})
		if user != "" {
			l.users.with(userKey(tenant, user), now, idleTTL, func(s *accountState, _ bool) int {
				score(&s.failures)
				return 0
			})
		}
	}
	l.logger().InfoContext(ctx, "ratelimit: login failed", "rule", ruleLoginFailures.String(),
		"remote", ip.String(), "session", cc.ID(), "tenant", tenant, "user", user)
	if over && !c.isSafe(ip) {
		l.ban(ctx, c, cc, ip, now)
		// The ban is the penalty; once it ends the address starts
		// with a full score, and a new offence doubles the next ban.
		l.ips.with(ip, now, idleTTL, func(s *ipState, _ bool) int {
			s.failures = nil
			return 0
		})
	}
	end()
	wait(ctx, time.Duration(c.FailedLoginDelay))
}

// ban bans ip for BanTime doubled for every earlier offence it is
// remembered for, at most MaxBanTime.
func (l *Limiter) ban(ctx context.Context, c *compiled, cc engine.ClientContext, ip netip.Addr, now time.Time) {
	var until time.Time
	var offences int
	l.bans.with(ip, now, time.Duration(c.MaxBanTime+c.BanMemory), func(b *banState, _ bool) int {
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
	l.counters.add(ruleBan)
	l.logger().WarnContext(ctx, "ratelimit: address banned", "rule", ruleBan.String(),
		"remote", ip.String(), "session", cc.ID(), "until", until.UTC().Format(time.RFC3339),
		"offences", offences)
}

// bannedUntil reports whether ip is banned at now, and until when.
func (l *Limiter) bannedUntil(ip netip.Addr, now time.Time) (time.Time, bool) {
	var until int64
	l.bans.peek(ip, now, func(b *banState) { until = b.until })
	return time.Unix(0, until), until > now.UnixNano()
}

// Banned reports whether ip is banned now, and until when.
func (l *Limiter) Banned(ip netip.Addr) (until time.Time, banned bool) {
	l.setup()
	return l.bannedUntil(ip.Unmap().WithZone(""), l.now())
}

// Unban lifts ip's ban and forgets its offences.
func (l *Limiter) Unban(ip netip.Addr) {
	l.setup()
	l.bans.with(ip.Unmap().WithZone(""), l.now(), 0, func(b *banState, _ bool) int {
		*b = banState{}
		return 0
	})
}

// loginSucceeded takes a session slot of the user and of the tenant, or
// refuses the login when either has none left.
func (l *Limiter) loginSucceeded(cc engine.ClientContext, user string) error {
	c := l.cfg.Load()
	now := l.now()
	tenant, user := l.identity(cc, user)
	ul := c.userLimits(tenant, user, l.Overrides)
	tl := c.tenantLimits(tenant, l.Overrides)
	lg := &login{tenant: tenant, user: user}

	full := false
	l.users.with(userKey(tenant, user), now, idleTTL, func(s *accountState, _ bool) int {
		if ul.MaxSessions > 0 && s.sessions >= ul.MaxSessions {
			full = true
			return 0
		}
		s.sessions++
		lg.userPinned = true
		return 1
	})
	ip := l.sessionIP(cc)
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
	if s := l.session(cc); s != nil {
		s.mu.Lock()
		old := s.login
		s.login = lg
		s.gen = 0 // re-read the command rate for the user
		s.mu.Unlock()
		l.logout(old, now)
	} else {
		// Without the admission hook nothing would ever give the slots
		// back: do not count them.
		l.logout(lg, now)
	}
	return nil
}

// logout gives back the session slots a login holds.
func (l *Limiter) logout(lg *login, now time.Time) {
	if lg == nil {
		return
	}
	if lg.userPinned {
		l.users.with(userKey(lg.tenant, lg.user), now, idleTTL, func(s *accountState, _ bool) int {
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

// sessionIP returns the address a session was admitted from, or the
// connection's address when the admission hook did not see it.
func (l *Limiter) sessionIP(cc engine.ClientContext) netip.Addr {
	if s := l.session(cc); s != nil {
		return s.ip
	}
	return clientIP(cc.RemoteAddr())
}

// sessionCtx returns the context that ends with a session's connection.
func (l *Limiter) sessionCtx(cc engine.ClientContext) context.Context {
	if s := l.session(cc); s != nil {
		return s.ctx
	}
	return context.Background()
}
