package gateway

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/telemetry"
)

// ErrDraining is Ready's answer once Drain or Shutdown was called.
var ErrDraining = errors.New("draining")

// health is what Ready reads: set by Run, installPolicy, Drain and
// Shutdown; read from the telemetry listener's goroutines.
type health struct {
	serving  atomic.Bool
	draining atomic.Bool
	// restoring is closed when the stored policies are restored; nil:
	// nothing to restore. Set in New, before anything reads it.
	restoring <-chan struct{}
	// telemetry is the telemetry listener, nil without [telemetry].
	telemetry *telemetry.Server
	metrics   *telemetry.Metrics
}

// Ready reports whether the gateway should get new clients: nil once its
// listeners accept (Run), its configuration is loaded (it is, once New
// returned) and the stored policies are restored; otherwise the reason,
// ErrDraining once Drain or Shutdown was called. /readyz answers it.
func (g *Gateway) Ready() error {
	switch {
	case g.health.draining.Load():
		return ErrDraining
	case !g.health.serving.Load():
		return errors.New("not serving yet: the listeners do not accept")
	}
	if ch := g.health.restoring; ch != nil {
		select {
		case <-ch:
		default:
			return errors.New("restoring the stored policies")
		}
	}
	return nil
}

// Drain makes Ready fail with ErrDraining from now on, so that a balancer
// stops sending clients; nothing else changes (the listeners still
// accept, sessions go on). It cannot be undone.
func (g *Gateway) Drain() { g.health.draining.Store(true) }

// TelemetryURL is the telemetry listener's base URL (scheme, host and
// port), or "" without [telemetry].
func (g *Gateway) TelemetryURL() string {
	if g.health.telemetry == nil {
		return ""
	}
	return g.health.telemetry.URL()
}

// newMetrics makes the metrics of [telemetry]; nothing without a
// telemetry listener.
func (g *Gateway) newMetrics(cfg Config, env Env) {
	if cfg.Telemetry.On() || consoleOn(cfg) {
		g.health.metrics = telemetry.NewMetrics(telemetry.MetricsOptions{MaxTenantLabels: cfg.Telemetry.MaxTenantLabels, TenantOf: env.TenantOf, Ready: g.Ready})
	}
}

// startTelemetry installs the metrics' hooks, once every plugin is in
// (they go first, so that they see every connection and each login's
// final outcome, the limiter's refusals included), and serves
// [telemetry] on its own listener, bound here so that TelemetryURL
// answers at once. The listener stops at Shutdown, after the engine, so
// that /readyz says "draining" until the end.
func (g *Gateway) startTelemetry(cfg Config) error {
	if g.health.metrics == nil {
		return nil
	}
	g.health.metrics.Install(g.srv)
	g.health.metrics.Watch(g.limiter, g.policy)
	if !cfg.Telemetry.On() {
		return nil // the console's figures only
	}
	ts, err := telemetry.Start(cfg.Telemetry, telemetry.Options{Logger: g.log, Ready: g.Ready, Metrics: g.health.metrics})
	if err != nil {
		return err
	}
	g.health.telemetry = ts
	g.stops = append(g.stops, func(ctx context.Context) { _ = ts.Shutdown(ctx) })
	return nil
}
