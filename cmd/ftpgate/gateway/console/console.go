// Package console is ftpgate's web console: pages for the operator and
// for tenant admins, served by the admin listener under /console from
// files embedded in the binary (html/template, one stylesheet, no
// JavaScript, nothing fetched from elsewhere).
//
// A browser logs in with the operator's token or a tenant's admin token
// (checked by admin.Server.CheckToken, the API's own check, which also
// refuses an address after too many wrong tokens) and gets a
// session cookie: HttpOnly, SameSite=Strict, Secure with the __Host-
// prefix over TLS. Sessions are kept server side, bounded in number
// (Options.MaxSessions) and time (idle and absolute), and end at logout.
// Every page is an admin.Route whose Auth reads that cookie, so the admin
// server holds it to the same scopes as a token: a tenant's admin reaches
// /console/t/{its own tenant}/... and nothing of the operator's. Every
// change is a POST that carries the session's form token (compared in
// constant time) and, from a browser, Sec-Fetch-Site same-origin and
// this server's Origin. Replies carry a Content-Security-Policy without
// scripts or inline styles (default-src 'none'), frame-ancestors 'none'
// and X-Frame-Options DENY.
//
// Pages: the overview (operator: instances, health, connections, rates
// from the /metrics figures, charts of the last hour, recent refusals),
// tenants (hosts, certificates, users, quota), live sessions (end one:
// the client gets 421), bans (operator: lift), a tenant's policy (the
// module, its figures, an upload checked by a dry run before it is
// installed, rollback) and audit (the recent events, filtered).
package console

import (
	"cmp"
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/audit"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/telemetry"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/ratelimit"
	"github.com/ftpgate/ftpgate/tenancy"
)

//go:embed assets
var assets embed.FS

// Tenants is where the console reads tenants (tenancy.Driver).
type Tenants interface {
	TenantIDs() []string
	Describe(id string) (tenancy.TenantView, bool)
}

// InstanceInfo is one gateway instance as the overview shows it. A
// cluster lists every member; a lone gateway itself.
type InstanceInfo struct {
	Name        string
	Version     string
	Generation  int64
	Health      string // "ready", or why not
	Ready       bool
	Connections int64 // open control connections; -1: not known here

	Started time.Time
}

// Options are what the console shows and acts on; nil parts leave their
// page or section out.
type Options struct {
	Logger   *slog.Logger
	Sessions sessions.Registry
	Limiter  *ratelimit.Limiter
	Policy   *policy.AdminHandler
	Tenants  Tenants
	Audit    *audit.Ring
	// Metrics is the /metrics figures now (telemetry.Metrics.Snapshot).
	Metrics func() telemetry.Snapshot
	// Instances lists the instances for the overview (the cluster view);
	// nil shows none.
	Instances func() []InstanceInfo
	// MaxSessions, IdleTimeout, MaxAge bound the login sessions (0: the
	// defaults).
	MaxSessions int
	IdleTimeout time.Duration
	MaxAge      time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Console is a mounted console; Run draws its charts' samples.
type Console struct {
	o       Options
	srv     *admin.Server
	store   *store
	pages   map[string]*template.Template
	sampler *sampler
}

// Mount mounts the console's routes on srv and returns it; call Run to
// sample its charts.
func Mount(srv *admin.Server, o Options) *Console {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = func() telemetry.Snapshot { return telemetry.Snapshot{} }
	}
	c := &Console{o: o, srv: srv,
		store: newStore(cmp.Or(o.MaxSessions, DefaultMaxSessions), cmp.Or(o.IdleTimeout, DefaultIdleTimeout), cmp.Or(o.MaxAge, DefaultMaxAge), o.Now),
		pages: parsePages()}
	c.sampler = &sampler{take: c.sample}
	srv.Mount(c.routes()...)
	return c
}

// Run samples the charts' figures once a minute until ctx ends.
func (c *Console) Run(ctx context.Context) { c.sampler.run(ctx) }

// sample reads the figures the charts are drawn from.
func (c *Console) sample() Sample {
	m := c.o.Metrics()
	s := Sample{At: c.o.Now(), BytesUp: m.BytesUp, BytesDown: m.BytesDown}
	if c.o.Policy != nil {
		for _, f := range c.o.Policy.Runtime.AllFigures() {
			s.Allows += int64(f.Allows)
			s.Denies += int64(f.Denies)
		}
	}
	return s
}

// maxForm bounds the bodies of the console's small forms.
const maxForm = 8 << 10

// routes are every console route with its scope. Pages of a tenant are
// under /console/t/{tenant}/, so that the admin server checks the tenant
// as it does on the API's tenant routes.
func (c *Console) routes() []admin.Route {
	pub := func(p string, h http.HandlerFunc) admin.Route {
		return admin.Route{Pattern: p, Scope: admin.ScopePublic, MaxBody: maxForm, Handler: c.headers(h)}
	}
	op := func(p string, h http.HandlerFunc) admin.Route {
		return admin.Route{Pattern: p, Scope: admin.ScopeOperator, MaxBody: maxForm, Auth: c.auth, Refused: c.headers(c.refused), Handler: c.headers(h)}
	}
	ten := func(p string, h http.HandlerFunc) admin.Route {
		return admin.Route{Pattern: p, Scope: admin.ScopeTenant, MaxBody: maxForm, Auth: c.auth, Refused: c.headers(c.refused), Handler: c.headers(h)}
	}
	rs := []admin.Route{
		pub("GET /console", c.home),
		pub("GET /console/{$}", c.home),
		pub("GET /console/login", c.loginForm),
		pub("POST /console/login", c.login),
		pub("POST /console/logout", c.logout),
		pub("GET /console/static/console.css", c.css),
		op("GET /console/overview", c.overview),
		op("GET /console/tenants", c.tenants),
		op("GET /console/sessions", c.sessionsPage),
		op("POST /console/sessions/{id}/end", c.post(c.endSession)),
		op("GET /console/audit", c.auditPage),
		ten("GET /console/t/{tenant}/{$}", c.tenantPage),
		ten("GET /console/t/{tenant}/sessions", c.sessionsPage),
		ten("POST /console/t/{tenant}/sessions/{id}/end", c.post(c.endSession)),
		ten("GET /console/t/{tenant}/audit", c.auditPage),
	}
	if c.o.Limiter != nil {
		rs = append(rs,
			op("GET /console/bans", c.bansPage),
			op("POST /console/bans/lift", c.post(c.liftBan)))
	}
	if c.o.Policy != nil {
		maxUpload := int64(c.o.Policy.Runtime.Config().MaxModuleSize) + maxForm
		upload := ten("POST /console/t/{tenant}/policy/check", c.oneUpload(c.post(c.checkPolicy)))
		upload.MaxBody = maxUpload
		upload.Timeout = 2 * time.Minute
		install := ten("POST /console/t/{tenant}/policy/install", c.post(c.installPolicy))
		install.Timeout = 2 * time.Minute
		rollback := ten("POST /console/t/{tenant}/policy/rollback", c.post(c.rollbackPolicy))
		rollback.Timeout = 2 * time.Minute
		rs = append(rs, ten("GET /console/t/{tenant}/policy", c.policyPage), upload, install, rollback)
	}
	return rs
}

// contentSecurityPolicy allows this server's stylesheet and forms and
// nothing else: no script at all, no inline style, no frames around the
// pages, no plugins, no base URL changes.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers of every console reply.
func (c *Console) headers(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin") // not no-referrer: with it browsers send Origin: null on the console's own POSTs
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h(w, r)
	}
}

// auth is the Route.Auth of the console's pages: the identity of the
// session the cookie names, while the token it logged in with is still
// that identity's (a session whose token a reload changed or removed
// ends here).
func (c *Console) auth(r *http.Request) (admin.Identity, bool) {
	var id admin.Identity
	var token string
	value := cookieValue(r)
	if !c.store.with(value, func(s *session) { id, token = s.id, s.token }) {
		return id, false
	}
	if now, ok := c.srv.Identify(id.Tenant, token); !ok || now != id {
		c.store.remove(value)
		return admin.Identity{}, false
	}
	return id, true
}

// refused answers a page the caller may not see: the login form for a
// browser without a session, else 404, the reply of a page that does not
// exist (another tenant's pages are not told from unknown ones).
func (c *Console) refused(w http.ResponseWriter, r *http.Request) {
	if !c.store.with(cookieValue(r), nil) && r.Method == http.MethodGet {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusNotFound, "error", page{Title: "Not found", Message: "No such page."})
}
