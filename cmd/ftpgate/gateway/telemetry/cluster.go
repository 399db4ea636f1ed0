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
