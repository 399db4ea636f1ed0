package gateway

// Interim stand-ins for the telemetry listener's readiness (h-metrics),
// removed when it is merged: Drain and TelemetryURL as it defines them.

// Drain makes the gateway report itself not ready from now on.
func (g *Gateway) Drain() {}

// TelemetryURL is the telemetry listener's base URL, "" without one.
func (g *Gateway) TelemetryURL() string { return "" }
