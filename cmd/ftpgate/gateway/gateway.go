// Package gateway builds an ftpgate server from one configuration,
// whatever its source (the server file, the serve flags, a benchmark): it
// owns the server file's schema and its validation (Config, Load, Parse),
// declares once the order in which the plugins plug into the engine
// (install), and runs, reloads and stops the result (New, Run, Reload,
// Shutdown).
package gateway

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/audit"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/tenancy"
)

// Options are New's inputs that are not configuration.
type Options struct {
	// Logger receives every log; slog.Default() when nil (the command
	// makes it with Config.Logger).
	Logger *slog.Logger
	// Driver, when set, is served instead of a tenancy.Driver built from
	// Config.Tenancy, with Settings as its engine settings (which the
	// gateway adjusts as Config says): for programs and benchmarks with
	// a driver of their own. Identity then names a session's tenant and
	// user for the limiter and the policy (nil: none).
	Driver   engine.MainDriver
	Settings *engine.Settings
	Identity func(engine.ClientContext) (tenant, user string)
	// Tenant is the tenant of a session that nothing else names (flag
	// mode's one tenant: every session belongs to it, even before login,
	// so that its policy rules on USER too); "" for none. With
	// Options.Driver it is also the one tenant the admin API knows.
	Tenant string
	// Policy, when set, installs the policy plugin at its place in the
	// order (after the limiter) instead of the runtime the gateway builds
	// from [policy]: PolicyHooks for a runtime made by the caller. Its
	// stop runs at Shutdown. [admin] is then not served.
	Policy Installer
	// WithoutPolicy installs no policy plugin and serves no admin API:
	// for benchmarks that measure the other plugins alone.
	WithoutPolicy bool
	// Policies are installed at start, for their tenants, on the runtime
	// the gateway builds; they are not stored.
	Policies []StartPolicy
	// Reread, when set, reads the configuration again for a reload
	// (Gateway.Reread: SIGHUP, the admin API's POST /v1/reload), e.g. the
	// server file with the flags over it. Nil: there is nothing to reread
	// (the admin API answers 404).
	Reread func() (Config, error)
	// WithoutLimits installs no rate limiter (Config.Limits is then
	// ignored): for benchmarks that measure the other plugins alone.
	// ftpgate itself always installs one, whose zero Config still bounds
	// its own memory.
	WithoutLimits bool
}

// Installer installs a plugin the gateway does not configure itself onto
// srv; env says how to find a session's tenant. stop, when not nil, runs
// at Shutdown, after the server has stopped.
type Installer func(srv *engine.Server, env Env) (stop func(context.Context), err error)

// Env is what an Installer may use of the plugins installed before it.
type Env struct {
	// Logger is the gateway's logger.
	Logger *slog.Logger
	// Tenancy is the tenancy driver, or nil with Options.Driver.
	Tenancy *tenancy.Driver
	// TenantOf is a session's tenant ("" for none yet); Identity its
	// tenant and user after login (nil: the login name is the user);
	// TenantPath maps a session path into the tenant's storage (nil:
	// unknown).
	TenantOf   func(engine.ClientContext) string
	Identity   func(engine.ClientContext) (tenant, user string)
	TenantPath func(cc engine.ClientContext, name string) (string, error)
}

// PolicyHooks returns the Installer of policy.Hooks over rt: the usual
// policy plugin without an admin plane. rt stays the caller's to close.
func PolicyHooks(rt *policy.Runtime) Installer {
	return func(srv *engine.Server, env Env) (func(context.Context), error) {
		h := policy.NewHooks(rt, env.TenantOf)
		h.Identity, h.TenantPath = env.Identity, env.TenantPath
		h.Install(srv)
		return nil, nil
	}
}

// Gateway is a server built from a Config: the engine.Server and its
// plugins. Make one with New, serve with Run, change it with Reload, stop
// it with Shutdown.
type Gateway struct {
	log     *slog.Logger
	srv     *engine.Server
	tenancy *tenancy.Driver
	limiter *ratelimit.Limiter
	policy  *policy.Runtime
	audit   *audit.Logger
	reread  func() (Config, error)
	// adminURL is the admin API's base URL, "" without one.
	adminURL string
	stops    []func(context.Context)
	health   health // readiness, the telemetry listener and metrics (health.go)
	// sessions lists and ends live sessions for the admin API.
	sessions *sessions.Local
	cluster  *clusterState // [cluster], nil for a single instance (cluster.go)
	// console is what the web console of admin.console reads (console.go).
	console consoleParts

	mu  sync.Mutex // serialises Reload; guards cfg
	cfg Config
}

// New builds the gateway cfg describes and binds its listeners, so that
// Addr answers at once (port 0 picks a free port). cfg must have passed
// Load, Parse or Validate, and, unless opts.Driver is set, carry its
// tenants (Config.Tenancy).
func New(cfg Config, opts Options) (_ *Gateway, err error) {
	g := &Gateway{log: opts.Logger, cfg: cfg, reread: opts.Reread}
	if g.log == nil {
		g.log = slog.Default()
	}
	defer func() {
		if err != nil {
			g.release(context.Background())
		}
	}()
	if err := g.install(cfg, opts); err != nil {
		return nil, err
	}
	if err := g.srv.Listen(); err != nil {
		return nil, err
	}
	if err := g.startTelemetry(cfg); err != nil {
		return nil, err
	}
	g.startCluster()
	return g, nil
}

// install builds the server and plugs the plugins in. The order is
// declared here and nowhere else; each later step's hooks run after the
// earlier ones' (hooks run in the order they were added):
//
//  1. tenancy: the driver (logins, tenants, jailed storage), or
//     Options.Driver; its engine settings, adjusted by [tls], [passive]
//     and [commands].
//  2. proxyproto: wraps the control, implicit-TLS and passive listeners,
//     so the client's address is known before any hook looks at it.
//  3. audit: the audit log of [audit] (installAudit): a login hook
//     outside every other, and result hooks; it only observes.
//  4. ratelimit: admission (bans, connections), the login hook around
//     the driver's password check, command rates, bandwidth, passive
//     ports. First of the hooks, so that a banned or flooding client costs
//     no policy call.
//  5. policy: admission, command and transfer hooks, on the runtime
//     [policy] describes (or Options.Policy); then the admin API of
//     [admin], whose policy routes manage that runtime.
//
// Then New installs the metrics of [telemetry] (startTelemetry): their
// admission and login hooks in front of all these, so that they count
// what the limiter refuses too.
func (g *Gateway) install(cfg Config, opts Options) error {
	var driver engine.MainDriver
	var st *engine.Settings
	env := Env{Logger: g.log, Identity: opts.Identity}
	if err := g.installCluster(cfg); err != nil { // [cluster]: the stores below take g.clusterOptions
		return err
	}
	if opts.Driver != nil {
		if opts.Settings == nil {
			return errors.New("gateway: Options.Driver needs Options.Settings")
		}
		driver, st = opts.Driver, opts.Settings
		env.TenantOf = tenantOf(opts)
	} else {
		if cfg.Tenancy == nil {
			return errors.New("gateway: the configuration has no tenants (Load reads them)")
		}
		var defaultCert *tls.Certificate
		if cfg.TLS.Cert == "" {
			c, err := conf.SelfSigned(time.Now(), "ftpgate self-signed", 365*24*time.Hour)
			if err != nil {
				return fmt.Errorf("making a self-signed certificate: %w", err)
			}
			defaultCert = &c
		}
		d, err := tenancy.New(cfg.Tenancy, tenancy.Options{Logger: g.log, DefaultCertificate: defaultCert})
		if err != nil {
			return err
		}
		g.tenancy = d
		g.shareQuota(d) // [cluster]: quota usage shared through Redis
		g.stops = append(g.stops, func(context.Context) { _ = d.Close() })
		if tc, _ := d.GetTLSConfig(); tc != nil {
			if err := CiphersFitKey(tc.CipherSuites, tc.Certificates); err != nil {
				return fmt.Errorf("tls.ciphers: %w", err)
			}
		}
		driver, st = d, d.Settings
		env.Tenancy, env.TenantOf, env.Identity, env.TenantPath = d, d.TenantOf, tenancy.Identity, d.TenantPath
		if t := opts.Tenant; t != "" {
			env.TenantOf = func(cc engine.ClientContext) string { return cmp.Or(d.TenantOf(cc), t) }
		}
	}
	applySettings(st, cfg)
	g.srv = &engine.Server{Driver: driver, Logger: g.log}
	g.installSessions(env)
	g.newMetrics(cfg, env) // their hooks go in last, outermost (startTelemetry)

	if err := cfg.ProxyProtocol.Install(g.srv, st, g.log); err != nil {
		return err
	}
	if st.Listener != nil {
		ln := st.Listener
		g.stops = append(g.stops, func(context.Context) { _ = ln.Close() }) // harmless after the server's own Close
	}
	if err := g.installAudit(cfg, env); err != nil {
		return err
	}

	if opts.WithoutLimits {
		return g.installPolicy(cfg, opts, env)
	}
	limiter, err := ratelimit.New(limitsOf(cfg))
	if err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	limiter.Logger, limiter.Identity = g.log, env.Identity
	limiter.TenantOf = env.TenantOf // refusal lines name the tenant whenever it is known
	if g.tenancy != nil {
		// Failures count on the account a login resolves to, and logins
		// from addresses or for accounts that failed lately get the
		// smaller share of the password-hash workers.
		limiter.ResolveLogin = g.tenancy.ResolveLogin
		g.tenancy.LoginSuspect = limiter.Suspect
	}
	if err := g.shareLimits(limiter, cfg); err != nil { // [cluster]: bans, session caps and rates shared (limitscluster.go)
		return err
	}
	limiter.Install(g.srv)
	g.limiter = limiter
	return g.installPolicy(cfg, opts, env)
}

// applySettings sets what Config says of the engine settings beyond what
// tenancy set from it (or what a caller's own settings say).
func applySettings(st *engine.Settings, cfg Config) {
	st.EnableHASH, st.EnableCOMB = cfg.Commands.HASH, cfg.Commands.COMB
	st.ModeZLevel, st.MaxDecompressedUploadSize = cfg.Commands.ModeZLevel, cfg.Commands.MaxDecompressedUpload
	st.RequireTLSSessionReuse = cfg.TLS.SessionReuse
	st.PassiveTransferPortMultiplexing = cfg.Passive.Multiplex
}

// limitsOf is the configuration's rate limits: [limits] with the tenant
// files' limits folded in. tenancy delays failed logins itself
// (timeouts.login_failure_delay), so the limiter adds no delay of its own
// unless [limits] asks for one.
func limitsOf(cfg Config) ratelimit.Config {
	rl := cfg.Limits
	if cfg.Tenancy != nil {
		t := *cfg.Tenancy
		t.Server.Limits = cfg.Limits
		rl = t.RateLimits()
		if rl.FailedLoginDelay == 0 {
			rl.FailedLoginDelay = -1
		}
	}
	return rl
}

// Server is the engine server, for what the gateway does not cover.
func (g *Gateway) Server() *engine.Server { return g.srv }

// Tenancy is the tenancy driver, nil with Options.Driver.
func (g *Gateway) Tenancy() *tenancy.Driver { return g.tenancy }

// Limiter is the rate limiter, nil with Options.WithoutLimits.
func (g *Gateway) Limiter() *ratelimit.Limiter { return g.limiter }

// Addr is the control listener's address.
func (g *Gateway) Addr() net.Addr { return g.srv.Addr() }

// ImplicitTLSAddr is the implicit-TLS listener's address, or nil.
func (g *Gateway) ImplicitTLSAddr() net.Addr { return g.srv.ImplicitTLSAddr() }

// Run serves until the server stops: nil after Shutdown, the error
// otherwise. When ctx ends first, every session is closed at once (Close);
// for a graceful stop call Shutdown instead.
func (g *Gateway) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- g.srv.ListenAndServe() }()
	g.health.serving.Store(true)
	defer g.health.serving.Store(false)
	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
		_ = g.srv.Close()
		err = <-served
	}
	if errors.Is(err, engine.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets running sessions end until ctx ends,
// then closes the rest, and stops the plugins. Its error says that ctx
// ended first.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.Drain()
	err := g.srv.Shutdown(ctx)
	if err != nil {
		_ = g.srv.Close()
		// The sessions just closed still report as their goroutines end
		// (a cut transfer's 426, the logout): wait for them, within
		// closedSessionsGrace, so that the plugins (the audit log) are
		// released after and keep those events.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closedSessionsGrace)
		_ = g.srv.Shutdown(wctx)
		cancel()
	}
	g.release(ctx)
	return err
}

// closedSessionsGrace bounds Shutdown's wait, once its context ended and
// every session was closed, for those sessions' goroutines to end: they
// only run their last hooks by then, which takes milliseconds.
const closedSessionsGrace = 2 * time.Second

// release stops the plugins, last installed first.
func (g *Gateway) release(ctx context.Context) {
	for i := len(g.stops) - 1; i >= 0; i-- {
		g.stops[i](ctx)
	}
	g.stops = nil
}

// Reload swaps in next where it can change live: the tenants and their
// users, TLS certificates and ciphers, timeouts.login_failure_delay and
// the limits. An invalid next is refused whole and the running
// configuration stays. What only changes on restart (RestartNeeded) is
// logged as such and keeps its running value.
func (g *Gateway) Reload(next Config) error {
	_, err := g.reload(next)
	return err
}

// reload is Reload; it returns the keys that need a restart.
func (g *Gateway) reload(next Config) (_ []string, err error) {
	defer func() { g.health.metrics.Reloaded(err) }()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tenancy != nil {
		if next.Tenancy == nil {
			return nil, errors.New("gateway: the new configuration has no tenants")
		}
		if err := g.tenancy.Reload(next.Tenancy); err != nil {
			g.log.Error("reload rejected; the running configuration stays", "err", err)
			return nil, err
		}
	}
	if g.limiter != nil {
		if err := g.limiter.SetConfig(limitsOf(next)); err != nil {
			g.log.Error("reload: the new limits were refused; the running limits stay", "err", err)
		}
	}
	keys := RestartNeeded(g.cfg, next)
	if len(keys) > 0 {
		g.log.Warn("reload: these keys only change on restart; their running values stay", "keys", keys)
	}
	g.cfg = next
	g.cluster.reloaded()
	return keys, nil
}

// Reread reads the configuration again through Options.Reread and
// Reloads it: what SIGHUP and POST /v1/reload do. A configuration with
// errors is refused whole, logged, and the running one stays. It returns
// the changed keys that only a restart applies.
func (g *Gateway) Reread() (restartNeeded []string, err error) {
	if g.reread == nil {
		return nil, errors.New("gateway: nothing to reread")
	}
	next, err := g.reread()
	if err != nil {
		g.log.Error("reload rejected: the configuration has errors; the running one stays", "errors", err.Error())
		g.health.metrics.Reloaded(err)
		return nil, err
	}
	return g.reload(next)
}

// RestartNeeded lists the sections and keys that differ between a and b
// and that a running gateway cannot change: listeners, passive ports,
// the engine's timeouts and commands, logging, the PROXY protocol, the
// policy runtime and the admin plane.
func RestartNeeded(a, b Config) []string {
	var keys []string
	for _, k := range []struct {
		key  string
		x, y any
	}{
		{"listen", a.Listen, b.Listen},
		{"tls.required", a.TLS.Required, b.TLS.Required},
		{"tls.session_reuse", a.TLS.SessionReuse, b.TLS.SessionReuse},
		{"passive", a.Passive, b.Passive},
		{"timeouts.idle", a.Timeouts.Idle, b.Timeouts.Idle},
		{"timeouts.connection", a.Timeouts.Connection, b.Timeouts.Connection},
		{"timeouts.shutdown", a.Timeouts.Shutdown, b.Timeouts.Shutdown},
		{"log", a.Log, b.Log},
		{"commands", a.Commands, b.Commands},
		{"proxy_protocol", a.ProxyProtocol, b.ProxyProtocol},
		{"policy", a.Policy, b.Policy},
		{"admin", a.Admin, b.Admin},
		{"audit", a.Audit, b.Audit},
		{"telemetry", a.Telemetry, b.Telemetry},
		{"cluster", a.Cluster, b.Cluster},
	} {
		if !reflect.DeepEqual(k.x, k.y) {
			keys = append(keys, k.key)
		}
	}
	return keys
}
