package gateway

import (
	"context"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/audit"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy"
)

// installAudit is install's audit step: the audit log and xferlog of
// [audit], fed by the engine's result hooks and a login hook. It comes
// before the limiter so that its login hook is outside the limiter's
// and sees every attempt's outcome, refusals of banned clients included;
// it only observes.
func (g *Gateway) installAudit(cfg Config, env Env) error {
	ring := g.consoleRing(cfg)
	if !cfg.Audit.On() && ring == nil {
		return nil
	}
	o := audit.Options{Logger: g.log, Identity: env.Identity, TenantOf: env.TenantOf, TenantPath: env.TenantPath,
		Ruling: func(cc engine.ClientContext, verb string) (string, string, bool) {
			r, ok := policy.TakeRuling(cc, verb)
			return r.Decision, r.Rule, ok
		}, Ring: ring}
	if g.tenancy != nil {
		o.Resolve = g.tenancy.ResolveLogin
	}
	l, err := audit.New(cfg.Audit, o)
	if err != nil {
		return err
	}
	l.Install(g.srv)
	g.audit = l
	g.stops = append(g.stops, func(ctx context.Context) {
		// Flushed within auditFlushGrace even when the stop's context is
		// spent (a shutdown cut short): the events queued are what
		// happened, and the process exits right after.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditFlushGrace)
		defer cancel()
		l.Close(fctx)
	})
	return nil
}

// auditFlushGrace bounds how long stopping waits for the audit log's
// queue to be written (at most audit.DefaultQueueBytes: well under a
// second to a local disk).
const auditFlushGrace = 2 * time.Second

// Reopen opens the audit log and the xferlog again by their paths, for
// log rotation (SIGUSR1 and SIGHUP): lines from then on go to the files
// now at those paths. Without them it does nothing.
func (g *Gateway) Reopen() error {
	if g.audit == nil {
		return nil
	}
	return g.audit.Reopen()
}

// AuditDropped returns how many audit and xferlog lines were dropped
// because their writer was behind or failing.
func (g *Gateway) AuditDropped() uint64 {
	if g.audit == nil {
		return 0
	}
	return g.audit.Dropped()
}
