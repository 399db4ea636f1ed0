package ratelimit

import (
	"context"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"golang.org/x/time/rate"
)

// CheckCommand is the limiter's engine.CommandHook. A command over the
// session's rate, or over its tenant's shared rate, waits until the rate
// allows it, as long as that takes at most Config.CommandDelay. A client
// that persists, with more than Config.CommandStrikes commands in a row
// slowed or one that would have to wait longer, is refused with 421,
// which closes the session.
// ABOR and QUIT are never held back: they end work rather than make it.
// REIN gives back the session's login slots.
func (l *Limiter) CheckCommand(ctx context.Context, cmd *engine.Command) error {
	switch cmd.Verb {
	case "ABOR", "QUIT":
		return nil
	}
	cc := cmd.Session
	s := l.session(cc)
	if s == nil {
		return nil
	}
	c := l.cfg.Load()
	now := l.now()

	// One lock of the session for the whole check when the tenant's rate
	// is local (no Shared): its bucket is cached on the session, so no
	// table is locked either.
	s.mu.Lock()
	lg := s.login
	var rein *login // the login REIN ends, given back once s.mu is free
	if cmd.Verb == "REIN" {
		s.login = nil // the user's rate goes with the login
		s.gen = 0
		rein, lg = lg, nil
	}
	s.sync(c.gen)
	if !s.cmdTuned {
		// The first command, a new login or a new config: the session's
		// rate is the user's (the default user's before login).
		ul := c.User
		if cur := s.login; cur != nil {
			ul = c.loginLimits(cur, l.Overrides)
		}
		tune(&s.commands, ul.CommandRate, ul.CommandBurst, now)
		s.cmdTuned = true
	}
	var rs [2]*rate.Reservation
	n := 0
	if s.commands != nil {
		rs[n] = s.commands.ReserveN(now, 1)
		n++
	}
	var tr tenantRate
	if lg != nil && lg.tenant != "" {
		tr = l.tenantCommandRate(s, c, lg)
	}
	var sharedDelay time.Duration // the wait the shared tenant rate asks for
	if tr.rate > 0 && l.Shared != nil {
		s.mu.Unlock()
		d, ok, err := l.Shared.TakeCommand(ctx, lg.tenant, tr.rate, tr.burst, time.Duration(c.CommandDelay))
		switch {
		case err == nil:
			tr.rate = 0 // the shared rate answered
			if !ok {
				d = time.Duration(c.CommandDelay) + 1
			}
			sharedDelay = d
		case !l.Shared.FailOpen(FeatureRates):
			for _, r := range rs[:n] {
				r.CancelAt(now)
			}
			return l.refuseShared(ctx, FeatureRates, cc, s.ip, "verb", cmd.Verb, "tenant", lg.tenant, "user", lg.user)
		}
		s.mu.Lock()
	}
	if tr.rate > 0 {
		rs[n] = l.tenantCommandBucket(s, lg, tr, now).ReserveN(now, 1)
		n++
	}
	delay := sharedDelay
	for _, r := range rs[:n] {
		if !r.OK() {
			delay = time.Duration(c.CommandDelay) + 1
			break
		}
		delay = max(delay, r.DelayFrom(now))
	}
	if delay == 0 {
		s.slowed = 0
	} else {
		s.slowed++
	}
	slowed := s.slowed
	s.mu.Unlock()
	if rein != nil {
		l.logout(rein, now)
	}
	if delay == 0 {
		return nil
	}
	cancel := func() {
		for _, r := range rs[:n] {
			r.CancelAt(now)
		}
	}
	if delay > time.Duration(c.CommandDelay) || slowed > c.CommandStrikes {
		cancel()
		attrs := []any{"verb", cmd.Verb, "slowed", slowed - 1, "delay", delay}
		if lg != nil {
			attrs = append(attrs, "tenant", lg.tenant, "user", lg.user)
		}
		return l.refuse(ctx, ruleCommandRate, cc, s.ip, "Too many commands; closing control connection.", attrs...)
	}
	l.counters.add(ruleCommandDelayed)
	if !wait(ctx, delay) {
		cancel()
		return context.Cause(ctx)
	}
	return nil
}

// tenantRate is a tenant's shared command rate: per second, and the burst
// its bucket holds (burstOf); rate 0 is none.
type tenantRate struct {
	rate  float64
	burst int
}

// tenantCommandRate returns the command rate of lg's tenant, from the
// session's cache when it holds one; s.mu is held.
func (l *Limiter) tenantCommandRate(s *sessionState, c *compiled, lg *login) tenantRate {
	if s.tenantOK {
		return s.tenantCmd
	}
	tl := c.tenantLimits(lg.tenant, l.Overrides)
	var tr tenantRate
	if tl.CommandRate > 0 {
		tr = tenantRate{rate: tl.CommandRate, burst: burstOf(tl.CommandRate, tl.CommandBurst)}
	}
	if l.Overrides == nil {
		s.tenantCmd, s.tenantOK = tr, true
	}
	return tr
}

// tenantCommandBucket returns lg's tenant's local command bucket, tuned to tr
// (rate > 0), from the session's cache when it holds one; s.mu is held.
// It is cached only without Shared, where every command uses it: with
// Shared it is the fallback for an outage, looked up when one happens.
// The tenant's entry is pinned by the session's login, so the bucket
// stays the entry's until the cache is dropped (sessionState.sync).
func (l *Limiter) tenantCommandBucket(s *sessionState, lg *login, tr tenantRate, now time.Time) *rate.Limiter {
	if s.tenantBkt != nil {
		return s.tenantBkt
	}
	var b *rate.Limiter
	l.tenants.with(lg.tenant, now, idleTTL, func(t *accountState, _ bool) int {
		tune(&t.commands, tr.rate, tr.burst, now)
		b = t.commands
		return 0
	})
	if l.Shared == nil && l.Overrides == nil && lg.tenantPinned {
		s.tenantBkt = b
	}
	return b
}
