package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
)

// stopGateway stops g gracefully, in two phases, so that a balancer moves
// new clients elsewhere before any is refused and nothing acknowledged is
// lost:
//
//  1. Drain: Ready fails at once (/readyz answers 503), and the listeners
//     still accept for g.DrainGrace() (timeouts.drain_grace; 0 without a
//     telemetry listener), the time the balancer's health check needs to
//     take this instance out. A signal ends the grace early.
//  2. Shutdown: the listeners close, idle sessions get 421, running
//     transfers finish (an upload's 226 comes once its file is in place
//     under its name) for up to shutdown; then every session is closed,
//     and a new upload cut there is not visible under its name (tenancy's
//     uploads are atomic; a resumed one keeps what arrived). A signal in
//     this phase closes every session at once.
func stopGateway(g *gateway.Gateway, signals <-chan os.Signal, shutdown time.Duration, log *slog.Logger) {
	g.Drain()
	if grace := g.DrainGrace(); grace > 0 {
		log.Info("draining: not ready, still accepting until the grace ends", "drain_grace", grace)
		t := time.NewTimer(grace)
		select {
		case <-t.C:
		case sig := <-signals:
			t.Stop()
			log.Info("second signal: drain grace cut short", "signal", sig.String())
		}
	}
	log.Info("closing the listeners; running transfers may finish", "shutdown_timeout", shutdown)
	sctx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	go func() {
		select {
		case sig := <-signals:
			log.Warn("another signal: closing every session now", "signal", sig.String())
			cancel()
		case <-sctx.Done():
		}
	}()
	if err := g.Shutdown(sctx); err != nil {
		log.Warn("graceful shutdown cut short", "err", err)
	}
}
