package gateway

import (
	"context"
	"os"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/audit"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/console"
	"github.com/ftpgate/ftpgate/policy"
)

// consoleParts is what the web console of admin.console reads beyond the
// plugins: the ring of recent audit events, and when the gateway started.
type consoleParts struct {
	ring    *audit.Ring
	started time.Time
}

// consoleOn reports whether cfg serves the web console.
func consoleOn(cfg Config) bool { return cfg.Admin.Console && cfg.Admin.Listen != "" }

// consoleRing makes the ring of recent audit events the console shows, or
// returns nil without a console: the audit hooks then run only for the
// audit log's files.
func (g *Gateway) consoleRing(cfg Config) *audit.Ring {
	if !consoleOn(cfg) {
		return nil
	}
	g.console.ring = audit.NewRing(audit.RingOptions{})
	g.console.started = time.Now()
	return g.console.ring
}

// mountConsole mounts the web console on the admin server when
// admin.console is set, and samples its charts until Shutdown.
func (g *Gateway) mountConsole(srv *admin.Server, a AdminConfig, ph *policy.AdminHandler) {
	if !a.Console {
		return
	}
	o := console.Options{Logger: g.log, Sessions: g.sessions, Limiter: g.limiter, Policy: ph, Audit: g.console.ring,
		Metrics: g.health.metrics.Snapshot, Instances: g.Instances}
	if g.tenancy != nil {
		o.Tenants = g.tenancy
	}
	c := console.Mount(srv, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	g.stops = append(g.stops, func(context.Context) {
		cancel()
		<-done
	})
}

// Instances is the console's cluster view: the instances serving this
// configuration, for now this gateway alone (a cluster replaces it).
func (g *Gateway) Instances() []console.InstanceInfo {
	m := g.health.metrics.Snapshot()
	name, _ := os.Hostname()
	health, ready := "ready", true
	if err := g.Ready(); err != nil {
		health, ready = err.Error(), false
	}
	return []console.InstanceInfo{{Name: name + " (" + g.Addr().String() + ")", Version: m.Version, Generation: m.Generation,
		Health: health, Ready: ready, Connections: m.ConnectionsOpen, Started: g.console.started}}
}
