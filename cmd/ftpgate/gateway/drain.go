package gateway

import (
	"cmp"
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// DefaultDrainGrace is timeouts.drain_grace's default: a balancer that
// checks /readyz every second and takes a server out after two failures
// (examples/haproxy) stops sending it clients within about three seconds.
const DefaultDrainGrace = 5 * time.Second

// DrainGrace is how long the stop sequence keeps accepting after Drain:
// timeouts.drain_grace with a telemetry listener, 0 without one, since
// then no health check can see Ready fail and waiting would only delay
// the stop. A reload changes it: it is read when the stop begins.
func (g *Gateway) DrainGrace() time.Duration {
	if g.TelemetryURL() == "" {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Duration(g.cfg.Timeouts.DrainGrace)
}

// Serve runs g until ctx ends, the server fails, or stop delivers a
// signal, then stops it (Stop). A signal on hup reopens the audit logs
// (log rotation); any but SIGUSR1 then also calls reload (nil: Reread).
// Its error is the server's failure; a stop is nil.
func (g *Gateway) Serve(ctx context.Context, hup, stop <-chan os.Signal, reload func() error) error {
	if reload == nil {
		reload = func() error { _, err := g.Reread(); return err }
	}
	served := make(chan error, 1)
	go func() { served <- g.Run(context.Background()) }()
	for {
		select {
		case err := <-served:
			g.log.Error("server stopped", "err", err)
			return cmp.Or(err, errors.New("the server stopped by itself"))
		case sig := <-hup:
			_ = g.Reopen() // logged
			if sig != syscall.SIGUSR1 {
				_ = reload() // logged
			}
			continue
		case sig := <-stop:
			g.log.Info("shutting down", "signal", sig.String(), "drain_grace", g.DrainGrace(), "shutdown_timeout", g.shutdownTimeout())
		case <-ctx.Done():
			g.log.Info("shutting down", "reason", ctx.Err())
		}
		break
	}
	g.Stop(stop)
	if err := <-served; err != nil {
		g.log.Error("server stopped", "err", err)
		return err
	}
	g.log.Info("stopped")
	return nil
}

// Stop stops g gracefully, in two phases, so that a balancer moves new
// clients elsewhere before any is refused and nothing acknowledged is
// lost:
//
//  1. Drain: Ready fails at once (/readyz answers 503), and the listeners
//     still accept for DrainGrace (timeouts.drain_grace; 0 without a
//     telemetry listener), the time the balancer's health check needs to
//     take this instance out. A signal on stop ends the grace early.
//  2. Shutdown: the listeners close, idle sessions get 421, running
//     transfers finish (an upload's 226 comes once its file is in place
//     under its name) for up to timeouts.shutdown; then every session is
//     closed, and a new upload cut there is not visible under its name
//     (tenancy's uploads are atomic; a resumed one keeps what arrived). A
//     signal in this phase closes every session at once.
func (g *Gateway) Stop(stop <-chan os.Signal) {
	g.Drain()
	if grace := g.DrainGrace(); grace > 0 {
		g.log.Info("draining: not ready, still accepting until the grace ends", "drain_grace", grace)
		t := time.NewTimer(grace)
		select {
		case <-t.C:
		case sig := <-stop:
			t.Stop()
			g.log.Info("second signal: drain grace cut short", "signal", sig.String())
		}
	}
	shutdown := g.shutdownTimeout()
	g.log.Info("closing the listeners; running transfers may finish", "shutdown_timeout", shutdown)
	sctx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	go func() {
		select {
		case sig := <-stop:
			g.log.Warn("another signal: closing every session now", "signal", sig.String())
			cancel()
		case <-sctx.Done():
		}
	}()
	if err := g.Shutdown(sctx); err != nil {
		g.log.Warn("graceful shutdown cut short", "err", err)
	}
}

// shutdownTimeout is timeouts.shutdown, as Stop reads it.
func (g *Gateway) shutdownTimeout() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Duration(g.cfg.Timeouts.Shutdown)
}
