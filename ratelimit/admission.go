package ratelimit

import (
	"context"
	"net/netip"
	"time"

	"github.com/ftpgate/ftpgate/engine"
)

// Admit is the limiter's engine.AdmissionHook. It refuses, with 421 and a
// reason, a connection from a banned address, one over the server's or
// the address's number of connections, and one over the address's rate of
// new connections. "The address" is the client's prefix
// (Config.IPv6Prefix, Config.IPv4Prefix). An admitted connection is tracked until the returned
// done runs, which the engine does when the connection ends.
func (l *Limiter) Admit(ctx context.Context, cc engine.ClientContext) (func(), error) {
	l.setup()
	c := l.cfg.Load()
	now := l.now()
	ip := clientIP(cc.RemoteAddr())
	key := c.addrKey(ip)

	localBans, localRate := true, true
	var budget *Budget
	if sh := l.Shared; sh != nil {
		// Admission and the first login wait on the shared state for one
		// deadline in all (Budget).
		budget = &Budget{}
		var err error
		if localBans, localRate, err = l.admitShared(WithBudget(ctx, budget), sh, c, cc, ip, key, now); err != nil {
			return nil, err
		}
	}
	if localBans && !c.isSafe(ip) {
		if until, banned := l.bannedUntil(key, now); banned {
			return nil, l.refuse(ctx, ruleBanned, cc, ip,
				"Too many failed logins from your address; try again later.",
				"until", until.UTC().Format("2006-01-02T15:04:05Z"))
		}
	}
	if n := l.conns.Add(1); c.MaxConns > 0 && n > int64(c.MaxConns) {
		l.conns.Add(-1)
		return nil, l.refuse(ctx, ruleMaxConns, cc, ip, "Too many connections; try again later.", "limit", c.MaxConns)
	}
	refused := numRules
	l.ips.with(key, now, idleTTL, func(s *ipState, _ bool) int {
		if c.MaxConnsPerIP > 0 && s.conns >= c.MaxConnsPerIP {
			refused = ruleConnPerIP
			return 0
		}
		tune(&s.connRate, c.ConnRate, c.ConnBurst, now)
		if localRate && s.connRate != nil && !s.connRate.AllowN(now, 1) {
			refused = ruleConnRate
			return 0
		}
		s.conns++
		return 1
	})
	if refused != numRules {
		l.conns.Add(-1)
		if refused == ruleConnPerIP {
			return nil, l.refuse(ctx, refused, cc, ip, "Too many connections from your address.", "limit", c.MaxConnsPerIP)
		}
		return nil, l.refuse(ctx, refused, cc, ip, "Too many new connections from your address; slow down.", "rate", c.ConnRate)
	}
	s := &sessionState{ctx: ctx, ip: ip, key: key, budget: budget}
	l.sessions.Set(cc, s)
	return func() { l.release(s, key) }, nil
}

// release forgets an ended connection: its slot on its address (key, the
// prefix it was admitted under, whatever the config says now), and the
// session slots of its login.
func (l *Limiter) release(s *sessionState, key netip.Addr) {
	now := l.now()
	s.mu.Lock()
	lg := s.login
	s.login, s.gen = nil, 0 // nothing cached outlives the login's pins
	s.mu.Unlock()
	l.logout(lg, now)
	l.ips.with(key, now, idleTTL, func(s *ipState, _ bool) int {
		s.conns = max(s.conns-1, 0)
		return -1
	})
	l.conns.Add(-1)
}

// admitShared asks l.Shared whether key is banned (when bans can happen
// and ip is not safe) and takes a connection from its shared rate (when
// one is set). It returns which checks the local tables must still make:
// those Shared could not answer, when their feature fails open. A refusal
// is returned as err.
func (l *Limiter) admitShared(ctx context.Context, sh Shared, c *compiled, cc engine.ClientContext, ip, key netip.Addr, now time.Time) (localBans, localRate bool, err error) {
	checkBan := c.LoginFailures > 0 && !c.isSafe(ip)
	if !checkBan && c.ConnRate <= 0 {
		return true, true, nil
	}
	until, allowed, serr := sh.Admit(ctx, keyPrefix(c, key), checkBan, c.ConnRate, burstOf(c.ConnRate, c.ConnBurst))
	switch {
	case serr != nil:
		if checkBan && !sh.FailOpen(FeatureBans) {
			return false, false, l.refuseShared(ctx, FeatureBans, cc, ip)
		}
		if c.ConnRate > 0 && !sh.FailOpen(FeatureRates) {
			return false, false, l.refuseShared(ctx, FeatureRates, cc, ip)
		}
		return true, true, nil
	case !until.IsZero():
		return false, false, l.refuse(ctx, ruleBanned, cc, ip,
			"Too many failed logins from your address; try again later.",
			"until", until.UTC().Format("2006-01-02T15:04:05Z"))
	case !allowed:
		return false, false, l.refuse(ctx, ruleConnRate, cc, ip, "Too many new connections from your address; slow down.", "rate", c.ConnRate)
	}
	// The shared state answered: the local ban list is only the
	// fallback (a ban lifted through another instance is lifted).
	return !checkBan, c.ConnRate <= 0, nil
}
