package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/tenancy"
)

// defaultTenant is the one tenant of `ftpgate serve`'s single-root mode.
const defaultTenant = "default"

// policyTenants is how the policy runtime and its admin API see the
// tenants: one "default" tenant in single-root mode, tenancy's tenants
// with --config.
type policyTenants struct {
	of func(engine.ClientContext) string // a session's tenant
	// identity is the tenant and user a session's login resolved to;
	// nil: the login name is the user (single-root mode).
	identity func(engine.ClientContext) (tenant, user string)
	// tenantPath maps a session path to the path it reaches in the
	// tenant's storage; nil: unknown, and requests carry no tenant paths.
	tenantPath   func(cc engine.ClientContext, name string) (string, error)
	known        func(tenant string) bool        // whether the tenant exists
	tokenMatches func(tenant, token string) bool // a tenant's own admin token; nil: none
	reload       func() error                    // re-reads the configuration; nil: nothing to reload
}

// configTenants is policyTenants of `serve --config`: a session's tenant
// is the one it logged in to, or before login the one HOST or SNI chose
// (none otherwise, so no policy runs for USER without them), and each
// tenant may manage its own policy with the token whose hash its file
// holds.
func configTenants(d *tenancy.Driver, reload func() error) policyTenants {
	return policyTenants{
		reload:       reload,
		of:           d.TenantOf,
		identity:     tenancy.Identity,
		tenantPath:   d.TenantPath,
		known:        d.HasTenant,
		tokenMatches: d.TenantTokenMatches,
	}
}

// adminTokens is the admin API's admin.Tokens: the operator token, and
// the tenants' own tokens where the tenants have any (tenancy compares in
// every case, as admin.Tokens asks).
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

// policyConfig is what the policy and admin flags of `ftpgate serve` ask for.
type policyConfig struct {
	dir            string
	file           string
	onError        string
	timeout        time.Duration
	memoryPages    uint
	adminListen    string
	adminTokenFile string
	adminTLSCert   string
	adminTLSKey    string
	// reinstall, set by startPolicy with --policy, reads the file again
	// and installs it in place of the running one (flag mode's reload).
	reinstall func(context.Context) error
}

// register adds the flags to fs.
func (c *policyConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "policy-dir", "ftpgate-policies", "`directory` where uploaded policies are kept across restarts")
	fs.StringVar(&c.file, "policy", "", "WebAssembly policy `file` to install for the default tenant at start")
	fs.StringVar(&c.onError, "policy-on-error", "deny", "decision of --policy when it fails: deny (451) or allow")
	fs.DurationVar(&c.timeout, "policy-timeout", 50*time.Millisecond, "deadline of one policy call")
	fs.UintVar(&c.memoryPages, "policy-memory-pages", 256, "memory limit of a policy instance, in 64 KiB `pages`")
	fs.StringVar(&c.adminListen, "admin-listen", "", "`address` of the policy admin HTTP API (off when empty; loopback unless --admin-tls-cert)")
	fs.StringVar(&c.adminTokenFile, "admin-token-file", "", "`file` holding the admin API's operator token (else $FTPGATE_ADMIN_TOKEN)")
	fs.StringVar(&c.adminTLSCert, "admin-tls-cert", "", "PEM certificate `file` to serve the admin API over HTTPS")
	fs.StringVar(&c.adminTLSKey, "admin-tls-key", "", "PEM private key `file` for --admin-tls-cert")
}

// validate checks the flags that can be checked without touching files.
func (c *policyConfig) validate() error {
	if _, err := policy.ParseOnError(c.onError); err != nil {
		return fmt.Errorf("--policy-on-error: %w", err)
	}
	if err := gateway.CheckPolicyTimeout(c.timeout); err != nil {
		return fmt.Errorf("--policy-timeout: %w", err)
	}
	if err := gateway.CheckMemoryPages(int(min(c.memoryPages, 1<<20))); err != nil {
		return fmt.Errorf("--policy-memory-pages: %w", err)
	}
	if (c.adminTLSCert == "") != (c.adminTLSKey == "") {
		return errors.New("--admin-tls-cert and --admin-tls-key go together")
	}
	if c.adminListen != "" {
		switch err := gateway.CheckAdminListen(c.adminListen, c.adminTLSCert != ""); {
		case errors.Is(err, gateway.ErrAdminInClear):
			return fmt.Errorf("--admin-listen %q is not a loopback address; serving tokens in clear text needs --admin-tls-cert", c.adminListen)
		case err != nil:
			return fmt.Errorf("--admin-listen %w", err)
		}
	}
	return nil
}

// fromFile takes the server file's [policy] and [admin] values for the
// flags that were not given (set lists those that were), so that with
// --config a flag wins over the file.
func (c *policyConfig) fromFile(p gateway.PolicyConfig, a gateway.AdminConfig, set []string) {
	for _, f := range []struct {
		flag  string
		apply func()
	}{
		{"policy-dir", func() { c.dir = p.Dir }},
		{"policy-timeout", func() { c.timeout = time.Duration(p.Timeout) }},
		{"policy-memory-pages", func() { c.memoryPages = uint(p.MemoryPages) }},
		{"admin-listen", func() { c.adminListen = a.Listen }},
		{"admin-token-file", func() { c.adminTokenFile = a.TokenFile }},
		{"admin-tls-cert", func() { c.adminTLSCert = a.TLSCert }},
		{"admin-tls-key", func() { c.adminTLSKey = a.TLSKey }},
	} {
		if !slices.Contains(set, f.flag) {
			f.apply()
		}
	}
}

// operatorToken reads the admin token from its file or the environment.
func (c *policyConfig) operatorToken() (string, error) {
	tok := os.Getenv("FTPGATE_ADMIN_TOKEN")
	if c.adminTokenFile != "" {
		b, err := os.ReadFile(c.adminTokenFile)
		if err != nil {
			return "", fmt.Errorf("--admin-token-file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if len(tok) < 16 {
		return "", errors.New("the admin API needs an operator token of at least 16 characters (--admin-token-file or $FTPGATE_ADMIN_TOKEN)")
	}
	return tok, nil
}

// startPolicy sets up the policy runtime for srv: stored policies
// restored, --policy installed, hooks added, and the admin API started
// when asked. The returned stop shuts the admin API and the runtime down.
func startPolicy(ctx context.Context, c *policyConfig, tenants policyTenants, srv *engine.Server, log *slog.Logger, stdout io.Writer) (stop func(context.Context), err error) {
	dir, err := filepath.Abs(c.dir)
	if err != nil {
		return nil, err
	}
	// Each compile's private directory goes where policies are kept, where
	// the next start clears what a killed process left (a temporary
	// directory would stay), and only when there are policies, so that a
	// server without them creates no directories.
	cacheDir := ""
	if fi, err := os.Stat(dir); c.adminListen != "" || (err == nil && fi.IsDir()) {
		cacheDir = filepath.Join(dir, "cache")
	}
	rt, err := policy.NewRuntime(ctx, policy.Config{
		// Modules come from tenants: compile each in a bounded child.
		ChildCompile:     true,
		CacheDir:         cacheDir,
		CallTimeout:      c.timeout,
		MemoryLimitPages: uint32(c.memoryPages),
		Logger:           log,
	})
	if err != nil {
		return nil, err
	}
	store := &policy.Store{Dir: dir}
	// Stored policies are restored in the background: the server serves
	// at once, and a tenant's commands are refused until its policy is in.
	restoring := store.Restore(ctx, rt)
	go func() {
		<-restoring.Done()
		if n, q := restoring.Wait(ctx); n+q > 0 {
			log.Info("policies restored", "count", n, "quarantined", q, "dir", dir)
		}
	}()
	if c.file != "" {
		if err := installPolicyFile(ctx, rt, c); err != nil {
			_ = rt.Close(ctx)
			return nil, err
		}
		c.reinstall = func(ctx context.Context) error { return installPolicyFile(ctx, rt, c) }
	}
	hooks := policy.NewHooks(rt, tenants.of)
	hooks.Identity, hooks.TenantPath = tenants.identity, tenants.tenantPath
	hooks.Install(srv)

	var adminSrv *admin.Server
	if c.adminListen != "" {
		if adminSrv, err = startAdmin(c, tenants, rt, store, log, stdout); err != nil {
			_ = rt.Close(ctx)
			return nil, err
		}
	}
	return func(ctx context.Context) {
		if adminSrv != nil {
			_ = adminSrv.Shutdown(ctx)
		}
		_ = rt.Close(ctx)
	}, nil
}

// installPolicyFile installs --policy for the default tenant.
func installPolicyFile(ctx context.Context, rt *policy.Runtime, c *policyConfig) error {
	wasm, err := os.ReadFile(c.file)
	if err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	m, err := rt.Compile(ctx, wasm, nil)
	if err != nil {
		return fmt.Errorf("--policy %s: %w", c.file, err)
	}
	oe, _ := policy.ParseOnError(c.onError) // checked by validate
	rt.Install(defaultTenant, m, policy.Settings{OnError: oe})
	return nil
}

// startAdmin serves the admin API on its own listener: the policy routes
// and, with --config, POST /v1/reload, behind admin.Server's token checks.
func startAdmin(c *policyConfig, tenants policyTenants, rt *policy.Runtime, store *policy.Store, log *slog.Logger, stdout io.Writer) (*admin.Server, error) {
	tok, err := c.operatorToken()
	if err != nil {
		return nil, err
	}
	srv := &admin.Server{
		Tokens:      adminTokens{operator: admin.NewStaticTokens(tok), tenant: tenants.tokenMatches},
		KnownTenant: tenants.known,
		Logger:      log,
	}
	if reload := tenants.reload; reload != nil {
		srv.Reload = func(context.Context) error { return reload() }
	}
	mountPolicy(srv, &policy.AdminHandler{Runtime: rt, Store: store, Logger: log})
	scheme := "http"
	if c.adminTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.adminTLSCert, c.adminTLSKey)
		if err != nil {
			return nil, fmt.Errorf("--admin-tls-cert/--admin-tls-key: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", c.adminListen)
	if err != nil {
		return nil, fmt.Errorf("--admin-listen: %w", err)
	}
	fmt.Fprintf(stdout, "ftpgate: admin API on %s://%s\n", scheme, ln.Addr())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin API stopped", "err", err)
		}
	}()
	return srv, nil
}

// mountPolicy mounts the policy API's routes on srv with their scopes.
func mountPolicy(srv *admin.Server, h *policy.AdminHandler) {
	for _, r := range h.Routes() {
		scope := admin.ScopeOperator
		if r.Tenant {
			scope = admin.ScopeTenant
		}
		srv.Mount(admin.Route{Pattern: r.Pattern, Scope: scope, MaxBody: r.MaxBody, Timeout: r.Timeout, Handler: r.Handler})
	}
}
