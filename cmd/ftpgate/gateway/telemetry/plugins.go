package telemetry

import (
	"math"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/ratelimit"
)

// pluginCollector turns the plugins' plain statistics (ratelimit.Stats,
// ratelimit.PassiveStats, Limiter.ActiveBans, policy.Runtime.AllFigures
// and LatencyCounts) into metrics at each scrape: the plugins import no
// Prometheus package and keep no second set of counters. A scrape costs
// one walk of the ban list and of the policy tenants.
type pluginCollector struct {
	tenants *tenantLabels
	limiter atomic.Pointer[ratelimit.Limiter]
	policy  atomic.Pointer[policy.Runtime]

	refusals, bans, passiveHeld, decisions, evalDuration *prometheus.Desc
}

func newPluginCollector(tenants *tenantLabels) *pluginCollector {
	return &pluginCollector{
		tenants: tenants,
		refusals: prometheus.NewDesc("ftpgate_ratelimit_refusals_total",
			"Connections, logins, commands and passive ports the limits refused, by rule.", []string{"rule"}, nil),
		bans: prometheus.NewDesc("ftpgate_bans_active",
			"Client addresses (prefixes) banned now.", nil, nil),
		passiveHeld: prometheus.NewDesc("ftpgate_passive_ports_held",
			"Passive ports held now by sessions (PASV, EPSV).", nil, nil),
		decisions: prometheus.NewDesc("ftpgate_policy_decisions_total",
			"Tenant policy calls by decision (allow, deny, rewrite; error: the call failed and on_error decided; breaker_skip: not called, the breaker was open; busy: every instance stayed busy, refused 451; cancelled: the caller went while waiting, refused 451).",
			[]string{"tenant", "decision"}, nil),
		evalDuration: prometheus.NewDesc("ftpgate_policy_eval_duration_seconds",
			"Time of one tenant policy call.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *pluginCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.refusals, c.bans, c.passiveHeld, c.decisions, c.evalDuration} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *pluginCollector) Collect(ch chan<- prometheus.Metric) {
	if l := c.limiter.Load(); l != nil {
		c.collectLimits(ch, l)
	}
	if rt := c.policy.Load(); rt != nil {
		c.collectPolicy(ch, rt)
	}
}

func (c *pluginCollector) collectLimits(ch chan<- prometheus.Metric, l *ratelimit.Limiter) {
	s, p := l.Stats(), l.PassiveStats()
	for _, r := range []struct {
		rule string
		n    uint64
	}{
		{"conn_rate", s.RefusedConnRate},
		{"conn_per_ip", s.RefusedConnPerIP},
		{"max_conns", s.RefusedMaxConns},
		{"banned", s.RefusedBanned},
		{"login_attempts", s.RefusedLoginAttempts},
		{"user_login_attempts", s.RefusedUserLoginAttempts},
		{"user_sessions", s.RefusedUserSessions},
		{"tenant_sessions", s.RefusedTenantSessions},
		{"command_rate", s.RefusedCommands},
		{"shared_unavailable", s.RefusedShared}, // [cluster] state unreachable, feature failing closed
		{"passive_per_ip", p.RefusedPerIP},
		{"passive_per_user", p.RefusedPerUser},
		{"passive_per_tenant", p.RefusedPerTenant},
	} {
		ch <- prometheus.MustNewConstMetric(c.refusals, prometheus.CounterValue, float64(r.n), r.rule)
	}
	ch <- prometheus.MustNewConstMetric(c.bans, prometheus.GaugeValue, float64(l.ActiveBans()))
	ch <- prometheus.MustNewConstMetric(c.passiveHeld, prometheus.GaugeValue, float64(p.Held))
}

// decisionNames are policy_decisions_total's decision values.
var decisionNames = [...]string{"allow", "deny", "rewrite", "error", "breaker_skip", "busy", "cancelled"}

// evalEdges are the policy latency buckets whose upper edges make
// ftpgate_policy_eval_duration_seconds' buckets: edge k is 2^k ns
// (bucket 4k-1's edge, policy.LatencyBucketEdge), from about 1µs to 4s.
var evalEdges = []int{10, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 30, 32}

func (c *pluginCollector) collectPolicy(ch chan<- prometheus.Metric, rt *policy.Runtime) {
	// Tenants past the label cap are summed into "other".
	sums := map[string]*[len(decisionNames)]uint64{}
	for _, f := range rt.AllFigures() {
		label := c.tenants.label(f.Tenant)
		s := sums[label]
		if s == nil {
			s = new([len(decisionNames)]uint64)
			sums[label] = s
		}
		s[0] += f.Allows
		s[1] += f.Denies
		s[2] += f.Rewrites
		s[3] += f.Errors
		s[4] += f.BreakerSkips
		s[5] += f.Busy
		s[6] += f.Cancelled
	}
	for label, s := range sums {
		for i, n := range s {
			ch <- prometheus.MustNewConstMetric(c.decisions, prometheus.CounterValue, float64(n), label, decisionNames[i])
		}
	}
	counts, sum := rt.LatencyCounts()
	var total uint64
	for _, n := range counts {
		total += n
	}
	buckets := make(map[float64]uint64, len(evalEdges))
	for _, k := range evalEdges {
		var below uint64
		for i := 0; i < 4*k && i < len(counts); i++ {
			below += counts[i]
		}
		buckets[math.Ldexp(1, k)/1e9] = below
	}
	ch <- prometheus.MustNewConstHistogram(c.evalDuration, total, sum.Seconds(), buckets)
}
