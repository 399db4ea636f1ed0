package telemetry

import (
	"cmp"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is the gateway's metrics on a registry of its own (never the
// global one, so that nothing a library registers there is served and
// tests can make many).
type Metrics struct {
	reg *prometheus.Registry
}

// MetricsOptions are NewMetrics' inputs.
type MetricsOptions struct {
	// Version is ftpgate_build_info's version label; "" reads the
	// main module's version from the build information.
	Version string
	// MaxTenantLabels is Config.MaxTenantLabels (0: the default).
	MaxTenantLabels int
}

// NewMetrics makes the registry with ftpgate_build_info and the Go and
// process collectors.
func NewMetrics(o MetricsOptions) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	if o.Version == "" {
		o.Version = buildVersion()
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "ftpgate_build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": o.Version, "goversion": runtime.Version()},
	})
	info.Set(1)
	m.reg.MustRegister(info,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// buildVersion is the main module's version, "(devel)" for a build
// from a work tree, "unknown" without build information.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return cmp.Or(info.Main.Version, "(devel)")
}

// Registry is the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
