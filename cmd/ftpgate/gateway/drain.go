package gateway

import "time"

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
