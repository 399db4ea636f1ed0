package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// ClusterStats are the cluster runtime's plain counters ([cluster]), as
// the gateway hands them over at each scrape.
type ClusterStats struct {
	// Up reports whether the last Redis call succeeded.
	Up bool
	// Features are each feature's counters.
	Features []ClusterFeature
}

// ClusterFeature are one shared feature's counters since start.
type ClusterFeature struct {
	// Feature is its name: bans, sessions, rates, quota, policies,
	// instances (a fixed set: bounded labels).
	Feature string
	// OK, Errors and Timeouts count its Redis calls by result.
	OK, Errors, Timeouts uint64
	// Fallbacks counts the times it applied its fail mode.
	Fallbacks uint64
}

// clusterCollector turns ClusterStats into metrics at each scrape.
type clusterCollector struct {
	stats                func() ClusterStats
	up, calls, fallbacks *prometheus.Desc
}

// WatchCluster publishes the cluster's counters at each scrape:
// ftpgate_cluster_redis_up, ftpgate_cluster_calls_total{feature,result}
// and ftpgate_cluster_fallbacks_total{feature}. Call it once, before
// serving; a nil m does nothing (telemetry off).
func (m *Metrics) WatchCluster(stats func() ClusterStats) {
	if m == nil || stats == nil {
		return
	}
	m.reg.MustRegister(&clusterCollector{
		stats: stats,
		up:    prometheus.NewDesc("ftpgate_cluster_redis_up", "1 while the last Redis call of the cluster succeeded.", nil, nil),
		calls: prometheus.NewDesc("ftpgate_cluster_calls_total",
			"Redis calls of the cluster by feature and result (ok, error, timeout: the deadline passed).", []string{"feature", "result"}, nil),
		fallbacks: prometheus.NewDesc("ftpgate_cluster_fallbacks_total",
			"Times a feature could not use Redis and applied its fail mode (open: local state, closed: refusal).", []string{"feature"}, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.calls
	ch <- c.fallbacks
}

// Collect implements prometheus.Collector.
func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	up := 0.0
	if s.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	for _, f := range s.Features {
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(f.OK), f.Feature, "ok")
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(f.Errors), f.Feature, "error")
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(f.Timeouts), f.Feature, "timeout")
		ch <- prometheus.MustNewConstMetric(c.fallbacks, prometheus.CounterValue, float64(f.Fallbacks), f.Feature)
	}
}

// AdminAuthStats are the admin plane's failed-token counters
// (admin.Server.AuthStats), as the gateway hands them over at each
// scrape.
type AdminAuthStats struct {
	// Failed counts the tokens that failed their check.
	Failed int64
	// Refused counts the checks refused unmade (429): the client's
	// address was throttled.
	Refused int64
	// Throttled counts the times an address reached the limit.
	Throttled int64
	// Clients is the number of addresses counted now.
	Clients int
}

// adminAuthCollector turns AdminAuthStats into metrics at each scrape.
type adminAuthCollector struct {
	stats                               func() AdminAuthStats
	failed, refused, throttled, clients *prometheus.Desc
}

// WatchAdminAuth publishes the admin plane's token throttle at each
// scrape: ftpgate_admin_auth_failures_total,
// ftpgate_admin_auth_refusals_total, ftpgate_admin_auth_throttled_total
// and ftpgate_admin_auth_clients (no labels: an address is never one).
// Call it once, before serving; a nil m does nothing (telemetry off).
func (m *Metrics) WatchAdminAuth(stats func() AdminAuthStats) {
	if m == nil || stats == nil {
		return
	}
	m.reg.MustRegister(&adminAuthCollector{
		stats: stats,
		failed: prometheus.NewDesc("ftpgate_admin_auth_failures_total",
			"Admin API and console tokens that failed their check (empty ones not counted).", nil, nil),
		refused: prometheus.NewDesc("ftpgate_admin_auth_refusals_total",
			"Admin API and console requests refused with 429 unchecked: their address failed too often.", nil, nil),
		throttled: prometheus.NewDesc("ftpgate_admin_auth_throttled_total",
			"Times a client address reached the admin plane's failed-token limit.", nil, nil),
		clients: prometheus.NewDesc("ftpgate_admin_auth_clients",
			"Client addresses with failed tokens counted now (bounded by the throttle's table).", nil, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *adminAuthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.failed
	ch <- c.refused
	ch <- c.throttled
	ch <- c.clients
}

// Collect implements prometheus.Collector.
func (c *adminAuthCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(s.Failed))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(s.Refused))
	ch <- prometheus.MustNewConstMetric(c.throttled, prometheus.CounterValue, float64(s.Throttled))
	ch <- prometheus.MustNewConstMetric(c.clients, prometheus.GaugeValue, float64(s.Clients))
}
