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
	o := console.Options{Logger: g.log, Sessions: g.sessionRegistry(), Limiter: g.limiter, Policy: ph, Audit: g.console.ring,
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

// Instances is the console's cluster view: with [cluster] the live
// instances of the registry (this one with its readiness and
// connections, the others with their last heartbeat), else this gateway
// alone.
func (g *Gateway) Instances() []console.InstanceInfo {
	m := g.health.metrics.Snapshot()
	health, ready := "ready", true
	if err := g.Ready(); err != nil {
		health, ready = err.Error(), false
	}
	if c := g.cluster; c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), instancesTimeout)
		defer cancel()
		list, err := c.reg.Instances(ctx)
		out := make([]console.InstanceInfo, 0, len(list)+1)
		self := false
		for _, in := range list {
			info := console.InstanceInfo{Name: in.ID + " (" + in.Addresses.Control + ")", Version: in.Version, Generation: in.Generation,
				Health: "heartbeat " + in.Heartbeat.UTC().Format(time.TimeOnly), Ready: true, Connections: -1, Started: in.Started}
			if in.ID == c.rt.ID() {
				info.Health, info.Ready, info.Connections, self = health, ready, m.ConnectionsOpen, true
			}
			out = append(out, info)
		}
		if !self {
			out = append(out, console.InstanceInfo{Name: c.rt.ID() + " (" + g.Addr().String() + ")", Version: m.Version, Generation: m.Generation,
				Health: health, Ready: ready, Connections: m.ConnectionsOpen, Started: c.started})
		}
		if err != nil {
			out[len(out)-1].Health += "; the cluster registry cannot be read now"
		}
		return out
	}
	name, _ := os.Hostname()
	return []console.InstanceInfo{{Name: name + " (" + g.Addr().String() + ")", Version: m.Version, Generation: m.Generation,
		Health: health, Ready: ready, Connections: m.ConnectionsOpen, Started: g.console.started}}
}

// instancesTimeout bounds the console's read of the cluster registry.
const instancesTimeout = 2 * time.Second
