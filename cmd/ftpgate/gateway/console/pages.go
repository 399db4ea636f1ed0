package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/audit"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/sessions"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/tenancy"
)

// pageNames are the templates under assets/, each drawn in layout.html.
var pageNames = []string{"login", "error", "overview", "tenants", "sessions", "bans", "policy", "audit"}

// Page bounds: how much one page lists.
const (
	pageSessions = 200
	pageBans     = 200
	pageAudit    = 200
)

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"bytes": humanBytes,
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"at":  func(t audit.Time) string { return time.Time(t).UTC().Format("2006-01-02 15:04:05 UTC") },
		"ago": func(t time.Time) string { return time.Since(t).Truncate(time.Second).String() },
		"ms":  func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) },
	}
	out := map[string]*template.Template{}
	for _, n := range pageNames {
		out[n] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/"+n+".html"))
	}
	return out
}

// page is what every template gets.
type page struct {
	Title   string
	ID      admin.Identity
	Tenant  string // the tenant a tenant page is about
	CSRF    string
	Flash   string
	Message string
	Nav     []navItem
	Data    any
}

type navItem struct {
	Name, Href string
	Current    bool
}

// render draws name with p's session-dependent parts filled in.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	c.store.with(cookieValue(r), func(s *session) {
		p.ID, p.CSRF, p.Flash = s.id, s.csrf, s.flash
		s.flash = ""
	})
	if p.Tenant == "" {
		p.Tenant = r.PathValue("tenant")
	}
	p.Nav = nav(p.ID, r.URL.Path)
	var b bytes.Buffer
	if err := c.pages[name].Execute(&b, p); err != nil {
		c.o.Logger.Error("console: drawing a page", "page", name, "err", err)
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// nav is the menu of id: the operator's pages, or the tenant's own.
func nav(id admin.Identity, path string) []navItem {
	var items []navItem
	switch {
	case id.Operator:
		items = []navItem{{Name: "Overview", Href: "/console/overview"}, {Name: "Tenants", Href: "/console/tenants"},
			{Name: "Sessions", Href: "/console/sessions"}, {Name: "Bans", Href: "/console/bans"}, {Name: "Audit", Href: "/console/audit"}}
	case id.Tenant != "":
		base := "/console/t/" + id.Tenant + "/"
		items = []navItem{{Name: "Tenant", Href: base}, {Name: "Sessions", Href: base + "sessions"},
			{Name: "Policy", Href: base + "policy"}, {Name: "Audit", Href: base + "audit"}}
	}
	for i := range items {
		items[i].Current = items[i].Href == path
	}
	return items
}

// home sends a browser to its first page, or to the login form.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	id, ok := c.auth(r)
	switch {
	case !ok:
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
	case id.Operator:
		http.Redirect(w, r, "/console/overview", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/console/t/"+id.Tenant+"/", http.StatusSeeOther)
	}
}

func (c *Console) css(w http.ResponseWriter, _ *http.Request) {
	b, _ := assets.ReadFile("assets/console.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(b)
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", page{Title: "Log in"})
}

// login checks the token with the API's own check (admin.Server.CheckToken:
// failures count against the address as a bearer token's do, and an
// address past the limit is refused without a check) and starts a
// session: a new cookie value at every login.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		c.render(w, r, http.StatusForbidden, "error", page{Title: "Refused", Message: "This form must be sent from the console's own page."})
		return
	}
	if err := r.ParseForm(); err != nil {
		c.render(w, r, http.StatusBadRequest, "login", page{Title: "Log in", Message: "The form could not be read."})
		return
	}
	tenant := strings.TrimSpace(r.PostForm.Get("tenant"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	id, ok, retry := c.srv.CheckToken(r, tenant, token)
	if retry > 0 {
		c.o.Logger.Debug("console: login refused unchecked: too many failed tokens from this address", "remote", r.RemoteAddr)
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", admin.RetryAfter(retry))
		c.render(w, r, http.StatusTooManyRequests, "login", page{Title: "Log in",
			Message: "Too many wrong tokens from this address: try again in " + admin.RetryAfter(retry) + " seconds."})
		return
	}
	if !ok {
		c.o.Logger.Debug("console: login refused", "remote", r.RemoteAddr)
		w.Header().Set("Connection", "close")
		c.render(w, r, http.StatusUnauthorized, "login", page{Title: "Log in", Message: "Wrong token for this tenant (leave the tenant empty for the operator token)."})
		return
	}
	if old := cookieValue(r); old != "" {
		c.store.remove(old)
	}
	setCookie(w, r, c.store.create(id, token), c.store.maxAg)
	who := "operator"
	if !id.Operator {
		who = "tenant " + id.Tenant
	}
	c.o.Logger.Info("console: login", "who", who, "remote", r.RemoteAddr)
	to := "/console/overview"
	if !id.Operator {
		to = "/console/t/" + id.Tenant + "/"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// logout ends the session; it needs the session's form token, so that
// another site cannot log a browser out.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	value := cookieValue(r)
	var want string
	c.store.with(value, func(s *session) { want = s.csrf })
	if err := r.ParseForm(); err != nil || !sameOrigin(r) || !tokenMatches(r.PostForm.Get("csrf"), want) {
		c.render(w, r, http.StatusForbidden, "error", page{Title: "Refused", Message: "This form must be sent from the console's own page."})
		return
	}
	c.store.remove(value)
	setCookie(w, r, "", 0)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// request is a checked POST: its session and, for an upload, the rest of
// its multipart body.
type request struct {
	cookie string
	id     admin.Identity
	form   url.Values
	mr     *multipart.Reader
}

// post checks a state-changing request before h runs: same origin, and
// the session's form token (the first field of a multipart form, which
// the upload form puts first), compared in constant time. A forged
// cross-site POST is refused with 403 and changes nothing.
func (c *Console) post(h func(http.ResponseWriter, *http.Request, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rq := &request{cookie: cookieValue(r)}
		var want string
		c.store.with(rq.cookie, func(s *session) { want, rq.id = s.csrf, s.id })
		got := ""
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			mr, err := r.MultipartReader()
			if err == nil {
				var part *multipart.Part
				if part, err = mr.NextPart(); err == nil && part.FormName() == "csrf" {
					b, _ := io.ReadAll(io.LimitReader(part, 128))
					got = string(b)
				}
			}
			rq.mr = mr
		} else if err := r.ParseForm(); err == nil {
			got, rq.form = r.PostForm.Get("csrf"), r.PostForm
		}
		if !sameOrigin(r) || !tokenMatches(got, want) {
			c.o.Logger.Info("console: refused a change without this session's form token or from another site", "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("Connection", "close")
			c.render(w, r, http.StatusForbidden, "error", page{Title: "Refused", Message: "This form must be sent from the console's own page; reload the page and try again."})
			return
		}
		h(w, r, rq)
	}
}

// done ends a change: a message for the next page, and a redirect to it
// (POST, then GET).
func (c *Console) done(w http.ResponseWriter, r *http.Request, rq *request, to, msg string) {
	c.store.with(rq.cookie, func(s *session) { s.flash = msg })
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// overviewData is the overview page's.
type overviewData struct {
	Instances []InstanceInfo
	Metrics   any
	Charts    []Chart
	Refusals  []audit.Event
	Policies  []policy.Figures
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	d := overviewData{Metrics: c.o.Metrics(), Charts: c.sampler.charts()}
	if c.o.Instances != nil {
		d.Instances = c.o.Instances()
	}
	d.Refusals = c.o.Audit.RecentAll(audit.Filter{Failed: true}, 20)
	if c.o.Policy != nil {
		d.Policies = c.o.Policy.Runtime.AllFigures()
	}
	c.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Data: d})
}

// tenantView is a tenant as the tenants page draws it.
type tenantView struct {
	tenancy.TenantView
	CertsExpireSoon bool
}

func (c *Console) views(ids []string) []tenantView {
	var out []tenantView
	if c.o.Tenants == nil {
		return nil
	}
	soon := c.o.Now().Add(30 * 24 * time.Hour)
	for _, id := range ids {
		if v, ok := c.o.Tenants.Describe(id); ok {
			tv := tenantView{TenantView: v}
			for _, cv := range v.Certificates {
				if !cv.NotAfter.IsZero() && cv.NotAfter.Before(soon) {
					tv.CertsExpireSoon = true
				}
			}
			out = append(out, tv)
		}
	}
	return out
}

func (c *Console) tenants(w http.ResponseWriter, r *http.Request) {
	var ids []string
	if c.o.Tenants != nil {
		ids = c.o.Tenants.TenantIDs()
	}
	c.render(w, r, http.StatusOK, "tenants", page{Title: "Tenants", Data: c.views(ids)})
}

func (c *Console) tenantPage(w http.ResponseWriter, r *http.Request) {
	t := r.PathValue("tenant")
	c.render(w, r, http.StatusOK, "tenants", page{Title: "Tenant " + t, Data: c.views([]string{t})})
}

// sessionsData is the sessions page's: Base is where its end forms post.
type sessionsData struct {
	Sessions []sessions.Session
	Base     string
	Err      string
}

func (c *Console) sessionsPage(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	d := sessionsData{Base: "/console/sessions/"}
	if tenant != "" {
		d.Base = "/console/t/" + tenant + "/sessions/"
	}
	if c.o.Sessions != nil {
		list, _, err := c.o.Sessions.List(r.Context(), sessions.Query{Tenant: tenant, Limit: pageSessions})
		if err != nil {
			d.Err = "The sessions cannot be listed now."
		}
		d.Sessions = list
	}
	c.render(w, r, http.StatusOK, "sessions", page{Title: "Live sessions", Data: d})
}

// endSession ends a session: the tenant's own only on a tenant page (the
// registry answers ErrNotFound for another tenant's).
func (c *Console) endSession(w http.ResponseWriter, r *http.Request, rq *request) {
	tenant, id := r.PathValue("tenant"), r.PathValue("id")
	back := "/console/sessions"
	if tenant != "" {
		back = "/console/t/" + tenant + "/sessions"
	}
	reason := sessions.CleanReason(rq.form.Get("reason"))
	err := errors.New("no session registry")
	if c.o.Sessions != nil {
		err = c.o.Sessions.End(r.Context(), tenant, id, reason)
	}
	switch {
	case errors.Is(err, sessions.ErrNotFound):
		c.done(w, r, rq, back, "No such session (it may have ended).")
	case err != nil:
		c.done(w, r, rq, back, "The session could not be ended now.")
	default:
		c.o.Logger.Info("console: session ended", "session", id, "by", who(rq.id), "reason", reason)
		c.done(w, r, rq, back, "Session "+id+" ended.")
	}
}

func who(id admin.Identity) string {
	if id.Operator {
		return "operator"
	}
	return "tenant " + id.Tenant
}

// banView is a ban as the bans page draws it.
type banView struct {
	Prefix   string
	Until    time.Time
	Offences int
}

func (c *Console) bansPage(w http.ResponseWriter, r *http.Request) {
	bans, total := c.o.Limiter.Bans(pageBans)
	vs := make([]banView, len(bans))
	for i, b := range bans {
		vs[i] = banView{Prefix: b.Prefix.String(), Until: b.Until, Offences: b.Offences}
	}
	c.render(w, r, http.StatusOK, "bans", page{Title: "Bans", Data: struct {
		Bans  []banView
		Total int
	}{vs, total}})
}

func (c *Console) liftBan(w http.ResponseWriter, r *http.Request, rq *request) {
	arg := rq.form.Get("prefix")
	p, err := conf.ParsePrefix(arg)
	if err != nil || len(arg) > 64 {
		c.done(w, r, rq, "/console/bans", "Not an address or prefix.")
		return
	}
	n := c.o.Limiter.Lift(p)
	c.o.Logger.Info("console: bans lifted", "prefix", p.String(), "lifted", n)
	c.done(w, r, rq, "/console/bans", fmt.Sprintf("%d ban(s) lifted within %s.", n, p))
}

// auditData is the audit page's.
type auditData struct {
	Events           []audit.Event
	User, Verb, Path string
	Action           string
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	clip := func(s string) string {
		if len(s) > 256 {
			return s[:256]
		}
		return s
	}
	f := audit.Filter{User: clip(q.Get("user")), Verb: clip(q.Get("verb")), Path: clip(q.Get("path"))}
	d := auditData{User: f.User, Verb: f.Verb, Path: f.Path, Action: r.URL.Path}
	if t := r.PathValue("tenant"); t != "" {
		d.Events = c.o.Audit.Recent(t, f, pageAudit)
	} else {
		d.Events = c.o.Audit.RecentAll(f, pageAudit)
	}
	c.render(w, r, http.StatusOK, "audit", page{Title: "Audit", Data: d})
}

// policyData is the policy page's.
type policyData struct {
	Installed *policy.PolicyInfo
	Previous  *policy.Record
	Figures   policy.Figures
	Check     *checkView
	Pending   string // hash of the checked module awaiting install
	MaxSize   string
}

// checkView is a dry run's outcome.
type checkView struct {
	Verb, Path string
	Result     policy.CheckResult
	Hash       string
	Size       int
	Err        string
}

func (c *Console) policyData(tenant string) policyData {
	d := policyData{Figures: c.o.Policy.Runtime.Figures(tenant), MaxSize: humanBytes(int64(c.o.Policy.Runtime.Config().MaxModuleSize))}
	if info, ok := c.o.Policy.Describe(tenant); ok {
		d.Installed = &info
	}
	if rec, ok := c.o.Policy.PreviousRecord(tenant); ok {
		d.Previous = &rec
	}
	return d
}

func (c *Console) policyPage(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	d := c.policyData(tenant)
	c.store.with(cookieValue(r), func(s *session) {
		if s.pending != nil && s.pending.tenant == tenant {
			d.Pending = s.pending.hash
		}
	})
	c.render(w, r, http.StatusOK, "policy", page{Title: "Policy", Data: d})
}

// oneUpload runs h, which reads a module, in the tenant's one upload turn
// (policy.AdminHandler.BeginUpload), taken before any of the body is
// read: a tenant's uploads through the API and its checks here run one
// at a time, so that they pin at most one module's size
// (MaxModuleSize) of memory whatever the connections its admin opens.
// Another is refused with 429, its body left unread.
func (c *Console) oneUpload(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		end, ok := c.o.Policy.BeginUpload(r.PathValue("tenant"))
		if !ok {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			c.render(w, r, http.StatusTooManyRequests, "error", page{Title: "Busy",
				Message: "Another upload or check of this tenant's policy is running; try again when it has finished."})
			return
		}
		defer end()
		h(w, r)
	}
}

// checkPolicy reads an upload (the module, on_error, a sample command),
// runs the sample against it without installing it, and shows the
// result with an install button; the module waits in the session
// (pendingModule) for that button.
func (c *Console) checkPolicy(w http.ResponseWriter, r *http.Request, rq *request) {
	tenant := r.PathValue("tenant")
	limit := c.o.Policy.Runtime.Config().MaxModuleSize
	var wasm []byte
	fields := map[string]string{}
	var readErr error
	for rq.mr != nil {
		part, err := rq.mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		if part.FormName() == "module" {
			wasm, err = io.ReadAll(io.LimitReader(part, int64(limit)+1))
			if err != nil {
				readErr = err
				break
			}
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(part, 1024))
		fields[part.FormName()] = string(b)
	}
	back := "/console/t/" + tenant + "/policy"
	switch {
	case readErr != nil:
		c.done(w, r, rq, back, "The upload could not be read.")
		return
	case len(wasm) == 0:
		c.done(w, r, rq, back, "Choose a module file to upload.")
		return
	case len(wasm) > limit:
		c.done(w, r, rq, back, "The module is larger than the limit.")
		return
	}
	oe, err := policy.ParseOnError(fields["on_error"])
	if err != nil {
		c.done(w, r, rq, back, err.Error())
		return
	}
	cv := &checkView{Verb: strings.ToUpper(strings.TrimSpace(fields["verb"])), Path: strings.TrimSpace(fields["path"]), Size: len(wasm)}
	sum := sha256.Sum256(wasm)
	cv.Hash = hex.EncodeToString(sum[:])
	cr := policy.CheckRequest{Verb: cv.Verb, Path: cv.Path, User: strings.TrimSpace(fields["user"])}
	res, err := c.o.Policy.DryRunModule(r.Context(), tenant, wasm, oe, nil, cr)
	d := c.policyData(tenant)
	d.Check = cv
	if err != nil {
		cv.Err = moduleError(err)
	} else {
		cv.Result = res
		c.store.setPending(rq.cookie, &pendingModule{tenant: tenant, hash: cv.Hash, wasm: wasm, onError: oe.String(), at: c.o.Now()})
		d.Pending = cv.Hash
	}
	c.render(w, r, http.StatusOK, "policy", page{Title: "Policy", Data: d})
}

// moduleError is the text shown for a refused upload or dry run.
func moduleError(err error) string {
	var ve *policy.ValidationError
	switch {
	case errors.As(err, &ve):
		return "The module was refused: " + ve.Reason
	case errors.Is(err, policy.ErrUploadInProgress), errors.Is(err, policy.ErrDryRunBusy):
		return "Another upload or check of this tenant is running; try again when it has finished."
	case errors.Is(err, policy.ErrNoPrevious):
		return "There is no previous module to roll back to."
	}
	var busy *policy.BusyError
	var over *policy.OverloadError
	if errors.As(err, &busy) || errors.As(err, &over) {
		return "Too many modules are compiling; try again later."
	}
	return "The module could not be used: " + err.Error()
}

// installPolicy installs the module the session's last dry run checked,
// named by its hash in the form.
func (c *Console) installPolicy(w http.ResponseWriter, r *http.Request, rq *request) {
	tenant := r.PathValue("tenant")
	back := "/console/t/" + tenant + "/policy"
	var p *pendingModule
	c.store.with(rq.cookie, func(s *session) {
		if s.pending != nil && s.pending.tenant == tenant && s.pending.hash == rq.form.Get("hash") {
			p, s.pending = s.pending, nil
		}
	})
	if p == nil {
		c.done(w, r, rq, back, "Nothing to install: upload the module and check it first.")
		return
	}
	oe, _ := policy.ParseOnError(p.onError)
	info, err := c.o.Policy.Upload(r.Context(), tenant, p.wasm, oe, nil)
	if err != nil {
		c.done(w, r, rq, back, moduleError(err))
		return
	}
	c.o.Logger.Info("console: policy installed", "tenant", tenant, "by", who(rq.id), "sha256", info.SHA256)
	c.done(w, r, rq, back, "Module "+short(info.SHA256)+" installed.")
}

func (c *Console) rollbackPolicy(w http.ResponseWriter, r *http.Request, rq *request) {
	tenant := r.PathValue("tenant")
	back := "/console/t/" + tenant + "/policy"
	info, err := c.o.Policy.Rollback(r.Context(), tenant)
	if err != nil {
		c.done(w, r, rq, back, moduleError(err))
		return
	}
	c.o.Logger.Info("console: policy rolled back", "tenant", tenant, "by", who(rq.id), "sha256", info.SHA256)
	c.done(w, r, rq, back, "Rolled back to module "+short(info.SHA256)+".")
}

func short(h string) string { return h[:min(len(h), 12)] }
