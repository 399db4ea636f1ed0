package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

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

// singleTenant is policyTenants of single-root mode.
func singleTenant() policyTenants {
	return policyTenants{
		of:    func(engine.ClientContext) string { return defaultTenant },
		known: func(t string) bool { return t == defaultTenant },
	}
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

// adminTokens is the admin API's policy.TokenChecker: the operator token,
// and the tenants' own tokens where the tenants have any.
type adminTokens struct {
	operator *policy.StaticTokens
	tenant   func(tenant, token string) bool
}

// IsOperator implements policy.TokenChecker.
func (a adminTokens) IsOperator(token string) bool { return a.operator.IsOperator(token) }

// IsTenant implements policy.TokenChecker.
func (a adminTokens) IsTenant(tenant, token string) bool {
	return a.tenant != nil && a.tenant(tenant, token)
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
	if c.timeout < time.Millisecond || c.timeout > 5*time.Second {
		return errors.New("--policy-timeout: want 1ms to 5s")
	}
	if c.memoryPages < 1 || c.memoryPages > 65536 {
		return errors.New("--policy-memory-pages: want 1 to 65536")
	}
	if (c.adminTLSCert == "") != (c.adminTLSKey == "") {
		return errors.New("--admin-tls-cert and --admin-tls-key go together")
	}
	if c.adminListen != "" {
		host, _, err := net.SplitHostPort(c.adminListen)
		if err != nil {
			return fmt.Errorf("--admin-listen %q: want HOST:PORT", c.adminListen)
		}
		ip := net.ParseIP(host)
		loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
		if !loopback && c.adminTLSCert == "" {
			return fmt.Errorf("--admin-listen %q is not a loopback address; serving tokens in clear text needs --admin-tls-cert", c.adminListen)
		}
	}
	return nil
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
	// The compilation cache goes on disk only where policies are kept, so
	// that a server without policies creates no directories.
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
	}
	hooks := policy.NewHooks(rt, tenants.of)
	hooks.Identity, hooks.TenantPath = tenants.identity, tenants.tenantPath
	hooks.Install(srv)

	var admin *http.Server
	if c.adminListen != "" {
		if admin, err = startAdmin(c, tenants, rt, store, log, stdout); err != nil {
			_ = rt.Close(ctx)
			return nil, err
		}
	}
	return func(ctx context.Context) {
		if admin != nil {
			_ = admin.Shutdown(ctx)
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

// startAdmin serves the admin API on its own listener.
func startAdmin(c *policyConfig, tenants policyTenants, rt *policy.Runtime, store *policy.Store, log *slog.Logger, stdout io.Writer) (*http.Server, error) {
	tok, err := c.operatorToken()
	if err != nil {
		return nil, err
	}
	tokens := adminTokens{operator: policy.NewStaticTokens(tok), tenant: tenants.tokenMatches}
	h := &policy.AdminHandler{
		Runtime:     rt,
		Store:       store,
		Tokens:      tokens,
		KnownTenant: tenants.known,
		Logger:      log,
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("POST /v1/reload", reloadHandler(tokens, tenants.reload))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if c.adminTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.adminTLSCert, c.adminTLSKey)
		if err != nil {
			return nil, fmt.Errorf("--admin-tls-cert/--admin-tls-key: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", c.adminListen)
	if err != nil {
		return nil, fmt.Errorf("--admin-listen: %w", err)
	}
	if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	fmt.Fprintf(stdout, "ftpgate: admin API on %s://%s\n", scheme, ln.Addr())
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin API stopped", "err", err)
		}
	}()
	return hs, nil
}

// reloadHandler serves POST /v1/reload: the operator re-reads the
// configuration as SIGHUP does. 200 means the new configuration runs; 422
// carries the errors of a rejected one, which leaves the old one running.
func reloadHandler(tokens adminTokens, reload func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !tokens.IsOperator(tok):
			w.Header().Set("WWW-Authenticate", `Bearer realm="ftpgate"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "operator token required"})
		case reload == nil:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "nothing to reload: the server runs without --config"})
		default:
			if err := reload(); err != nil {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
		}
	})
}

// writeJSON writes v as the response body with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
