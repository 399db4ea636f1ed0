package telemetry

import (
	"cmp"
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/ratelimit"
)

// Metrics is the gateway's metrics on a registry of its own (never the
// global one, so that nothing a library registers there is served and
// tests can make many). The engine's hooks (Install) feed the connection,
// login, command and transfer families; the plugins' families are read
// from their plain statistics at each scrape (Watch).
//
// Series are bounded: labels are never a user, a path or a client
// address. tenant takes at most MaxTenantLabels values of tenants, plus
// "other" (every later tenant) and "none" (no tenant known yet); verb the
// engine's verbs (engine.Verbs) plus "other"; class 2xx to 5xx plus
// "other"; the other labels are fixed sets. So ftpgate_commands_total has
// at most (MaxTenantLabels+2) × (verbs+1) × 5 series, made only as they
// are first seen.
type Metrics struct {
	reg     *prometheus.Registry
	tenants *tenantLabels

	connsAccepted prometheus.Counter
	connsOpen     prometheus.Gauge
	logins        *prometheus.CounterVec
	commands      *prometheus.CounterVec
	xferBytes     *prometheus.CounterVec
	xferDuration  [2]prometheus.Observer // by engine.Direction
	reloads       [2]prometheus.Counter  // success, failure
	generation    prometheus.Gauge

	// verbs maps each verb of the engine's table to its index in
	// verbNames; any other verb is len(verbNames) ("other").
	verbs     map[string]int
	verbNames []string

	// tenantOf names a session's tenant ("" for none yet).
	tenantOf func(engine.ClientContext) string
	// cache is each session's tenant series, so that a command's metrics
	// cost no lookup by name.
	cache *engine.SessionKey[*sessionCache]

	plugins *pluginCollector
	// version is ftpgate_build_info's version label.
	version string
}

// MetricsOptions are NewMetrics' inputs.
type MetricsOptions struct {
	// Version is ftpgate_build_info's version label; "" reads the
	// main module's version from the build information.
	Version string
	// MaxTenantLabels is Config.MaxTenantLabels (0: the default).
	MaxTenantLabels int
	// TenantOf names a session's tenant, "" for none yet; nil: no
	// session has a tenant.
	TenantOf func(engine.ClientContext) string
	// Ready is what /readyz answers (Options.Ready); ftpgate_ready is 1
	// when it returns nil. Nil: ftpgate_ready is always 1.
	Ready func() error
}

// Label values.
const (
	otherLabel = "other" // a tenant past the cap, a verb outside the table, a reply class outside 2xx-5xx
	noTenant   = "none"  // a session whose tenant is not known (yet)
)

// classNames are the reply classes' label values by code/100-2, then
// "other".
var classNames = [...]string{"2xx", "3xx", "4xx", "5xx", otherLabel}

// transferBuckets are ftpgate_transfer_duration_seconds' buckets: from a
// small file on a LAN to an hour-long upload.
var transferBuckets = []float64{0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 60, 300, 900, 3600}

// NewMetrics makes the registry with ftpgate_build_info, the Go and
// process collectors and the gateway's families.
func NewMetrics(o MetricsOptions) *Metrics {
	if o.Version == "" {
		o.Version = buildVersion()
	}
	if o.TenantOf == nil {
		o.TenantOf = func(engine.ClientContext) string { return "" }
	}
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		tenants:  newTenantLabels(cmp.Or(o.MaxTenantLabels, DefaultMaxTenantLabels)),
		tenantOf: o.TenantOf,
		cache:    engine.NewSessionKey[*sessionCache]("telemetry"),
		verbs:    map[string]int{},
		version:  o.Version,
	}
	m.verbNames = engine.Verbs()
	for i, v := range m.verbNames {
		m.verbs[v] = i
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "ftpgate_build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": o.Version, "goversion": runtime.Version()},
	})
	info.Set(1)
	m.connsAccepted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ftpgate_connections_accepted_total",
		Help: "Control connections accepted (after any PROXY header), the ones the limits then refused included.",
	})
	m.connsOpen = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ftpgate_connections_open",
		Help: "Control connections open now.",
	})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ftpgate_logins_total",
		Help: "Login attempts by outcome (success, failure: a wrong password, an unknown user or a refusal by the limits).",
	}, []string{"tenant", "result"})
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ftpgate_commands_total",
		Help: "Commands by verb (the engine's verbs; any other: other) and final reply class.",
	}, []string{"tenant", "verb", "class"})
	m.xferBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ftpgate_transfer_bytes_total",
		Help: "Data bytes moved by transfers (files and listings), by direction.",
	}, []string{"tenant", "direction"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ftpgate_transfer_duration_seconds",
		Help:    "Transfers' time from the command to the final reply, by direction.",
		Buckets: transferBuckets,
	}, []string{"direction"})
	for _, d := range []engine.Direction{engine.Download, engine.Upload} {
		m.xferDuration[d] = dur.WithLabelValues(d.String())
	}
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ftpgate_config_reloads_total",
		Help: "Configuration reloads (SIGHUP, POST /v1/reload) by result.",
	}, []string{"result"})
	m.reloads = [2]prometheus.Counter{reloads.WithLabelValues("success"), reloads.WithLabelValues("failure")}
	m.generation = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ftpgate_config_generation",
		Help: "The running configuration's generation: 1 at start, one more for each reload taken.",
	})
	m.generation.Set(1)
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ftpgate_ready",
		Help: "1 when /readyz answers 200 (listeners up, policies restored, not draining), else 0.",
	}, func() float64 {
		if o.Ready != nil && o.Ready() != nil {
			return 0
		}
		return 1
	})
	m.plugins = newPluginCollector(m.tenants)
	m.reg.MustRegister(info, ready, m.connsAccepted, m.connsOpen, m.logins, m.commands, m.xferBytes, dur, reloads, m.generation, m.plugins,
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

// Install adds the metrics' hooks to srv: an admission hook (connections)
// and a login hook (logins) in front of those already there, so that
// they see every connection and every login's final outcome, refusals by
// the limits included (install it after the other plugins), and a result
// hook (commands, transfers). The transfers' bytes come from the
// engine's Result: the copy is not wrapped, so sendfile and splice stay.
func (m *Metrics) Install(srv *engine.Server) {
	srv.AdmissionHooks = append([]engine.AdmissionHook{m.admit}, srv.AdmissionHooks...)
	srv.LoginHooks = append([]engine.LoginHook{m.login}, srv.LoginHooks...)
	srv.ResultHooks = append(srv.ResultHooks, m.result)
}

// Watch publishes the plugins' statistics at each scrape: the limiter's
// refusals, bans and passive ports, and the policy runtime's decisions
// and call latencies. Either may be nil (not installed). Call it before
// serving.
func (m *Metrics) Watch(l *ratelimit.Limiter, rt *policy.Runtime) {
	m.plugins.limiter.Store(l)
	m.plugins.policy.Store(rt)
}

// Reloaded counts a configuration reload; a taken one is a new
// generation. A nil m does nothing (telemetry off).
func (m *Metrics) Reloaded(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.reloads[1].Inc()
		return
	}
	m.reloads[0].Inc()
	m.generation.Inc()
}

// sessionCache is one session's tenant and its series, replaced (never
// changed) when the session's tenant changes: a login, REIN.
type sessionCache struct {
	p atomic.Pointer[sessionTenant]
}

type sessionTenant struct {
	tenant string
	s      *tenantSeries
}

// series returns the series of cc's tenant now. With cc's cache (set at
// admission) and an unchanged tenant it allocates nothing.
func (m *Metrics) series(cc engine.ClientContext) *tenantSeries {
	tenant := m.tenantOf(cc)
	c, _ := m.cache.Get(cc)
	if c == nil {
		return m.seriesOf(tenant)
	}
	if st := c.p.Load(); st != nil && st.tenant == tenant {
		return st.s
	}
	s := m.seriesOf(tenant)
	c.p.Store(&sessionTenant{tenant: tenant, s: s})
	return s
}

// seriesOf returns tenant's series, made at its first sight.
func (m *Metrics) seriesOf(tenant string) *tenantSeries {
	label := noTenant
	if tenant != "" {
		label = m.tenants.label(tenant)
	}
	return m.tenants.seriesOf(label, m)
}

// admit is the admission hook: it counts the connection and keeps it
// open until done.
func (m *Metrics) admit(_ context.Context, cc engine.ClientContext) (func(), error) {
	m.connsAccepted.Inc()
	m.connsOpen.Inc()
	m.cache.Set(cc, &sessionCache{})
	return m.connsOpen.Dec, nil
}

// login is the login hook: it counts each attempt's final outcome. A
// certificate attempt the driver leaves undecided (the client is asked
// for a password) is no attempt of its own.
func (m *Metrics) login(ctx context.Context, l *engine.Login, next engine.LoginFunc) (engine.ClientDriver, error) {
	fs, err := next(ctx, l)
	if err == nil && fs == nil {
		return fs, err
	}
	s := m.series(l.Session)
	if err != nil {
		s.loginFailure.Inc()
	} else {
		s.loginSuccess.Inc()
	}
	return fs, err
}

// result is the result hook: the command's count, and a transfer's bytes
// and duration. It allocates only for a series' first use.
func (m *Metrics) result(r *engine.Result) {
	s := m.series(r.Session)
	verb, ok := m.verbs[r.Verb]
	if !ok {
		verb = len(m.verbNames)
	}
	class := r.Code/100 - 2
	if class < 0 || class > 3 {
		class = len(classNames) - 1
	}
	s.command(m, verb, class).Inc()
	if r.Transfer {
		d := r.Direction
		if d != engine.Upload {
			d = engine.Download
		}
		s.bytes[d].Add(float64(r.Bytes))
		m.xferDuration[d].Observe(r.Duration.Seconds())
	}
}

// tenantSeries are one tenant label's series: the logins' and bytes'
// made at once, the commands' at their first use.
type tenantSeries struct {
	label                      string
	loginSuccess, loginFailure prometheus.Counter
	bytes                      [2]prometheus.Counter // by engine.Direction
	// commands[verb*len(classNames)+class], nil until first used.
	commands []atomic.Pointer[prometheus.Counter]
}

func newTenantSeries(label string, m *Metrics) *tenantSeries {
	return &tenantSeries{
		label:        label,
		loginSuccess: m.logins.WithLabelValues(label, "success"),
		loginFailure: m.logins.WithLabelValues(label, "failure"),
		bytes: [2]prometheus.Counter{
			m.xferBytes.WithLabelValues(label, engine.Download.String()),
			m.xferBytes.WithLabelValues(label, engine.Upload.String()),
		},
		commands: make([]atomic.Pointer[prometheus.Counter], (len(m.verbNames)+1)*len(classNames)),
	}
}

// command returns the counter of verb (an index of m.verbNames, or its
// length for "other") and class (an index of classNames).
func (s *tenantSeries) command(m *Metrics, verb, class int) prometheus.Counter {
	p := &s.commands[verb*len(classNames)+class]
	if c := p.Load(); c != nil {
		return *c
	}
	name := otherLabel
	if verb < len(m.verbNames) {
		name = m.verbNames[verb]
	}
	c := m.commands.WithLabelValues(s.label, name, classNames[class])
	p.Store(&c)
	return c
}
