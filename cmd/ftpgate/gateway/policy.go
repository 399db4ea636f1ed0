package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/telemetry"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy"
)

// StartPolicy is a policy New installs for a tenant before serving,
// without storing it: `serve --policy FILE` for flag mode's one tenant.
type StartPolicy struct {
	Tenant  string
	Wasm    []byte
	OnError policy.OnError
}

// installPolicy is step 4 of install: Options.Policy, or the policy
// runtime built from [policy] with its store (restored), opts.Policies,
// the hooks, and the admin server of [admin].
func (g *Gateway) installPolicy(cfg Config, opts Options, env Env) error {
	if opts.Policy != nil {
		stop, err := opts.Policy(g.srv, env)
		if err == nil && stop != nil {
			g.stops = append(g.stops, stop)
		}
		return err
	}
	if opts.WithoutPolicy {
		return nil
	}
	dir, err := filepath.Abs(cfg.Policy.Dir)
	if err != nil {
		return fmt.Errorf("policy.dir: %w", err)
	}
	// Each compile's private directory goes where policies are kept, where
	// the next start clears what a killed process left (a temporary
	// directory would stay), and only when there are policies, so that a
	// server without them creates no directories.
	cacheDir := ""
	if fi, err := os.Stat(dir); cfg.Admin.Listen != "" || (err == nil && fi.IsDir()) {
		cacheDir = filepath.Join(dir, "cache")
	}
	// ctx ends at Shutdown, before the runtime closes, so that nothing
	// (the restore) compiles into a closed runtime.
	ctx, cancel := context.WithCancel(context.Background())
	rt, err := policy.NewRuntime(ctx, policy.Config{
		// Modules come from tenants: compile each in a bounded child.
		ChildCompile:     true,
		CacheDir:         cacheDir,
		CallTimeout:      time.Duration(cfg.Policy.Timeout),
		MemoryLimitPages: uint32(cfg.Policy.MemoryPages),
		Logger:           g.log,
	})
	if err != nil {
		cancel()
		return err
	}
	g.policy = rt
	g.stops = append(g.stops, func(ctx context.Context) { _ = rt.Close(ctx) }, func(context.Context) { cancel() })
	if err := g.InstallPolicies(ctx, opts.Policies); err != nil {
		return err
	}
	// Stored policies are restored in the background: the server serves
	// at once, and a tenant's commands are refused until its policy is in.
	store, restoring := g.policyStore(ctx, dir, rt) // [cluster]: shared through Redis
	g.health.restoring = restoring.Done()
	go func() {
		select {
		case <-restoring.Done():
		case <-ctx.Done(): // Shutdown
			return
		}
		if n, q := restoring.Wait(ctx); n+q > 0 {
			g.log.Info("policies restored", "count", n, "quarantined", q, "dir", dir)
		}
	}()
	hooks := policy.NewHooks(rt, env.TenantOf)
	hooks.Identity, hooks.TenantPath = env.Identity, env.TenantPath
	hooks.Install(g.srv)
	if cfg.Admin.Listen == "" {
		return nil
	}
	return g.startAdmin(cfg.Admin, opts, &policy.AdminHandler{Runtime: rt, Store: store, Logger: g.log})
}

// startAdmin serves the admin API of [admin] on its own listener, bound
// here so that AdminURL answers at once: the policy routes, and POST
// /v1/reload when Options.Reread is set, behind admin.Server's token
// checks (the operator's token, and each tenant's own from tenancy).
func (g *Gateway) startAdmin(a AdminConfig, opts Options, ph *policy.AdminHandler) error {
	tok, err := admin.OperatorToken(a.TokenFile)
	if err != nil {
		return fmt.Errorf("admin.token_file: %w", err)
	}
	tokens := adminTokens{operator: admin.NewStaticTokens(tok)}
	srv := &admin.Server{Logger: g.log}
	if d := g.tenancy; d != nil {
		tokens.tenant, srv.KnownTenant = d.TenantTokenMatches, d.HasTenant
	} else {
		srv.KnownTenant = func(t string) bool { return t != "" && t == opts.Tenant }
	}
	srv.Tokens = tokens
	g.health.metrics.WatchAdminAuth(func() telemetry.AdminAuthStats {
		st := srv.AuthStats()
		return telemetry.AdminAuthStats{Failed: st.Failed, Refused: st.Refused, Throttled: st.Throttled, Clients: st.Clients}
	})
	if opts.Reread != nil {
		srv.Reload = func(context.Context) ([]string, error) { return g.Reread() }
	}
	for _, r := range ph.Routes() {
		scope := admin.ScopeOperator
		if r.Tenant {
			scope = admin.ScopeTenant
		}
		srv.Mount(admin.Route{Pattern: r.Pattern, Scope: scope, MaxBody: r.MaxBody, Timeout: r.Timeout, Handler: r.Handler})
	}
	g.mountSessions(srv)
	g.mountConsole(srv, a, ph)
	scheme := "http"
	if a.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.TLSCert, a.TLSKey)
		if err != nil {
			return fmt.Errorf("admin.tls_cert, admin.tls_key: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", a.Listen)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	g.adminURL = scheme + "://" + ln.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("admin API stopped", "err", err)
		}
	}()
	g.stops = append(g.stops, func(ctx context.Context) {
		_ = srv.Shutdown(ctx)
		<-served
	})
	return nil
}

// adminTokens is the admin API's admin.Tokens: the operator token, and
// the tenants' own tokens where tenancy has any (it compares in every
// case, as admin.Tokens asks).
type adminTokens struct {
	operator *admin.StaticTokens
	tenant   func(tenant, token string) bool
}

// IsOperator implements admin.Tokens.
func (a adminTokens) IsOperator(token string) bool { return a.operator.IsOperator(token) }

// IsTenant implements admin.Tokens.
func (a adminTokens) IsTenant(tenant, token string) bool {
	if a.tenant == nil {
		return admin.DigestMatches(nil, token)
	}
	return a.tenant(tenant, token)
}

// InstallPolicies compiles ps and installs each for its tenant on the
// gateway's runtime, in place of what the tenant runs, without storing
// them: Options.Policies at start, and again when a reload re-reads
// `serve --policy`. All compile before any is installed, so an error
// changes nothing.
func (g *Gateway) InstallPolicies(ctx context.Context, ps []StartPolicy) error {
	if len(ps) > 0 && g.policy == nil {
		return errors.New("gateway: no policy runtime of its own (Options.Policy or WithoutPolicy)")
	}
	mods := make([]*policy.Module, 0, len(ps))
	for _, p := range ps {
		m, err := g.policy.Compile(ctx, p.Wasm, nil)
		if err != nil {
			for _, m := range mods {
				_ = m.Close(ctx)
			}
			return fmt.Errorf("the policy of tenant %q: %w", p.Tenant, err)
		}
		mods = append(mods, m)
	}
	for i, p := range ps {
		g.policy.Install(p.Tenant, mods[i], policy.Settings{OnError: p.OnError})
	}
	return nil
}

// PolicyRuntime is the policy runtime the gateway built, nil with
// Options.Policy or Options.WithoutPolicy.
func (g *Gateway) PolicyRuntime() *policy.Runtime { return g.policy }

// AdminURL is the admin API's base URL (scheme, host and port), or ""
// without [admin].
func (g *Gateway) AdminURL() string { return g.adminURL }

// tenantOf is Env.TenantOf with Options.Driver: Identity's tenant, else
// Options.Tenant.
func tenantOf(opts Options) func(engine.ClientContext) string {
	return func(cc engine.ClientContext) string {
		if opts.Identity != nil {
			if t, _ := opts.Identity(cc); t != "" {
				return t
			}
		}
		return opts.Tenant
	}
}
