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
	gen := l.gen.Load() + 1 // 0 is left for "not tuned yet"

	s.mu.Lock()
	lg := s.login
	if cmd.Verb == "REIN" {
		s.login = nil // the user's rate goes with the login
		s.gen = 0
	}
	if s.gen != gen {
		// The first command, a new login or a new config: the session's
		// rate is the user's (the default user's before login).
		var ul Limits
		if cur := s.login; cur != nil {
			ul = c.userLimits(cur.tenant, cur.user, l.Overrides)
		} else {
			ul = c.User
		}
		tune(&s.commands, ul.CommandRate, ul.CommandBurst, now)
		s.gen = gen
	}
	var rs [2]*rate.Reservation
	n := 0
	var sharedDelay time.Duration // the wait the shared tenant rate asks for
	if s.commands != nil {
		rs[n] = s.commands.ReserveN(now, 1)
		n++
	}
	s.mu.Unlock()
	if cmd.Verb == "REIN" {
		l.logout(lg, now)
		lg = nil
	}

	if lg != nil && lg.tenant != "" {
		tl := c.tenantLimits(lg.tenant, l.Overrides)
		if tl.CommandRate > 0 && l.Shared != nil {
			d, ok, err := l.Shared.TakeCommand(ctx, lg.tenant, tl.CommandRate, burstOf(tl.CommandRate, tl.CommandBurst), time.Duration(c.CommandDelay))
			switch {
			case err == nil:
				tl.CommandRate = 0 // the shared rate answered
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
		}
		if tl.CommandRate > 0 {
			l.tenants.with(lg.tenant, now, idleTTL, func(t *accountState, _ bool) int {
				tune(&t.commands, tl.CommandRate, tl.CommandBurst, now)
				rs[n] = t.commands.ReserveN(now, 1)
				n++
				return 0
			})
		}
	}
	delay := sharedDelay
	for _, r := range rs[:n] {
		if !r.OK() {
			delay = time.Duration(c.CommandDelay) + 1
			break
		}
		delay = max(delay, r.DelayFrom(now))
	}
	s.mu.Lock()
	if delay == 0 {
		s.slowed = 0
	} else {
		s.slowed++
	}
	slowed := s.slowed
	s.mu.Unlock()
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
