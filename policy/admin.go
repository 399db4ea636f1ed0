package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ftpgate/ftpgate/policy/abi"
)

// AdminHandler is the admin HTTP API for policies:
//
//	PUT    /v1/tenants/{tenant}/policy          upload a module (body: wasm; ?on_error=deny|allow&config=...)
//	GET    /v1/tenants/{tenant}/policy          the installed module's description (Accept: application/wasm for its bytes)
//	DELETE /v1/tenants/{tenant}/policy          uninstall
//	POST   /v1/tenants/{tenant}/policy/check    dry run of a sample command (JSON body) against the installed module
//	GET    /v1/tenants/{tenant}/policy/stats    the tenant's figures
//	GET    /v1/stats                            every tenant's figures (operator only)
//
// Requests carry "Authorization: Bearer TOKEN": an operator token, or the
// tenant's own token for its own paths. Errors are JSON {"error": "..."}.
type AdminHandler struct {
	Runtime *Runtime
	// Store persists uploads; nil keeps them in memory only.
	Store *Store
	// Tokens authorises requests.
	Tokens TokenChecker
	// KnownTenant reports whether a tenant exists; nil accepts any valid id.
	KnownTenant func(tenant string) bool
	// Logger records uploads and refusals (default slog.Default()).
	Logger *slog.Logger

	once sync.Once
	mux  *http.ServeMux
	mu   sync.Mutex // serialises changes, so that store and runtime agree
}

func (h *AdminHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// ServeHTTP implements http.Handler.
func (h *AdminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(func() {
		mux := http.NewServeMux()
		mux.HandleFunc("PUT /v1/tenants/{tenant}/policy", h.tenantOnly(h.put))
		mux.HandleFunc("GET /v1/tenants/{tenant}/policy", h.tenantOnly(h.get))
		mux.HandleFunc("DELETE /v1/tenants/{tenant}/policy", h.tenantOnly(h.delete))
		mux.HandleFunc("POST /v1/tenants/{tenant}/policy/check", h.tenantOnly(h.check))
		mux.HandleFunc("GET /v1/tenants/{tenant}/policy/stats", h.tenantOnly(h.stats))
		mux.HandleFunc("GET /v1/stats", h.allStats)
		h.mux = mux
	})
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func bearer(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(tok)
}

// tenantOnly checks the tenant id and the token before next runs. An
// unknown tenant and a wrong token get the same 401 unless the caller is
// the operator, so that tokens cannot probe for tenant names.
func (h *AdminHandler) tenantOnly(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant := r.PathValue("tenant")
		tok := bearer(r)
		op := h.Tokens != nil && h.Tokens.IsOperator(tok)
		if !op && (h.Tokens == nil || !ValidTenant(tenant) || !h.Tokens.IsTenant(tenant, tok)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ftpgate"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token for this tenant")
			return
		}
		if !ValidTenant(tenant) {
			writeError(w, http.StatusBadRequest, "invalid tenant id")
			return
		}
		if h.KnownTenant != nil && !h.KnownTenant(tenant) {
			writeError(w, http.StatusNotFound, "no such tenant")
			return
		}
		next(w, r, tenant)
	}
}

// policyInfo describes an installed policy.
type policyInfo struct {
	Tenant        string   `json:"tenant"`
	SHA256        string   `json:"sha256"`
	Size          int      `json:"size"`
	ABI           int      `json:"abi"`
	Subscriptions []string `json:"subscriptions"`
	Imports       []string `json:"imports"`
	OnError       string   `json:"on_error"`
	Figures       Figures  `json:"figures"`
	// State is "installed"; a stored policy that is not is described by
	// a PolicyState instead ("restoring" or "quarantined").
	State string `json:"state"`
}

func (h *AdminHandler) info(tenant string, m *Module, s Settings) policyInfo {
	subs := m.Subscriptions
	if subs == nil {
		subs = []string{"*"}
	}
	return policyInfo{Tenant: tenant, SHA256: m.Hash, Size: m.Size, ABI: m.ABI, Subscriptions: subs, Imports: m.Imports,
		OnError: s.OnError.String(), Figures: h.Runtime.Figures(tenant), State: "installed"}
}

func (h *AdminHandler) put(w http.ResponseWriter, r *http.Request, tenant string) {
	limit := h.Runtime.cfg.MaxModuleSize
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || len(body) > limit {
		writeError(w, http.StatusRequestEntityTooLarge, "module larger than the limit of "+strconv.Itoa(limit)+" bytes")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	oe, err := ParseOnError(r.URL.Query().Get("on_error"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	config := []byte(r.URL.Query().Get("config"))
	m, err := h.Runtime.CompileTenant(r.Context(), tenant, body, config)
	if err != nil {
		h.compileFailed(w, tenant, err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Store != nil {
		rec := Record{OnError: oe.String(), Config: config, Uploaded: time.Now().UTC(), Subscriptions: m.Subscriptions}
		if rec.Subscriptions == nil {
			rec.Subscriptions = []string{"*"}
		}
		if err := h.Store.Save(tenant, body, rec); err != nil {
			_ = m.Close(r.Context())
			h.logger().Error("policy: storing an upload", "tenant", tenant, "err", err)
			writeError(w, http.StatusInternalServerError, "could not store the module; the old policy stays")
			return
		}
	}
	s := Settings{OnError: oe, Config: config}
	h.Runtime.Install(tenant, m, s)
	h.logger().Info("policy: installed", "tenant", tenant, "module", m.ShortHash(), "size", m.Size, "subscriptions", m.Subscriptions)
	writeJSON(w, http.StatusOK, h.info(tenant, m, s))
}

// compileFailed answers an upload that did not compile; it is the one
// place compile errors become statuses: 400 for a refused module (its
// reason), 409 while the tenant's previous upload still compiles and 503
// when the compile queue is full (both with Retry-After), 503 otherwise.
func (h *AdminHandler) compileFailed(w http.ResponseWriter, tenant string, err error) {
	var (
		ve   *ValidationError
		busy *BusyError
		over *OverloadError
	)
	switch {
	case errors.As(err, &ve):
		h.logger().Info("policy: upload refused", "tenant", tenant, "reason", ve.Reason)
		writeError(w, http.StatusBadRequest, ve.Reason)
	case errors.As(err, &busy):
		setRetryAfter(w, busy.RetryAfter)
		writeError(w, http.StatusConflict, "a previous upload of this tenant is still compiling; try again when it is done")
	case errors.As(err, &over):
		h.logger().Warn("policy: upload refused, compile queue full", "tenant", tenant)
		setRetryAfter(w, over.RetryAfter)
		writeError(w, http.StatusServiceUnavailable, "too many uploads are compiling; try again later")
	default:
		h.logger().Error("policy: compiling an upload", "tenant", tenant, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the module could not be compiled now; try again later")
	}
}

// setRetryAfter sets Retry-After to d in whole seconds, at least 1.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((d+time.Second-1)/time.Second))))
}

func (h *AdminHandler) get(w http.ResponseWriter, r *http.Request, tenant string) {
	m, s, ok := h.Runtime.Installed(tenant)
	if !ok {
		if st, ok := h.Runtime.Pending(tenant); ok && !strings.Contains(r.Header.Get("Accept"), "application/wasm") {
			writeJSON(w, http.StatusOK, struct {
				Tenant string `json:"tenant"`
				PolicyState
			}{tenant, st})
			return
		}
		writeError(w, http.StatusNotFound, "no policy installed")
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/wasm") {
		if h.Store == nil {
			writeError(w, http.StatusNotAcceptable, "module bytes are not kept without a policy store")
			return
		}
		wasm, _, err := h.Store.Load(tenant)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "reading the stored module failed")
			return
		}
		w.Header().Set("Content-Type", "application/wasm")
		_, _ = w.Write(wasm)
		return
	}
	writeJSON(w, http.StatusOK, h.info(tenant, m, s))
}

func (h *AdminHandler) delete(w http.ResponseWriter, _ *http.Request, tenant string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	stored := false
	if h.Store != nil {
		err := h.Store.Delete(tenant)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			writeError(w, http.StatusInternalServerError, "could not delete the stored module")
			return
		}
		stored = err == nil
	}
	if !h.Runtime.Remove(tenant) && !stored {
		writeError(w, http.StatusNotFound, "no policy installed")
		return
	}
	h.logger().Info("policy: removed", "tenant", tenant)
	w.WriteHeader(http.StatusNoContent)
}

// checkRequest is the body of POST .../policy/check.
type checkRequest struct {
	Verb       string   `json:"verb"`
	Path       string   `json:"path"`
	OtherPaths []string `json:"other_paths"`
	Arg        string   `json:"arg"`
	User       string   `json:"user"`
	Remote     string   `json:"remote"`
	Now        string   `json:"now"` // RFC 3339; default the server's clock

	// The fields of ABI 1.1, so a dry run can ask what a live command
	// would carry: the login as typed, the HOST/SNI name, the user's
	// home and the paths inside the tenant (all of a command's or none).
	Login            string   `json:"login"`
	Host             string   `json:"host"`
	Home             string   `json:"home"`
	TenantPath       string   `json:"tenant_path"`
	OtherTenantPaths []string `json:"other_tenant_paths"`
}

// cleanOptional cleans p as a rewrite target would be, unless it is empty.
func cleanOptional(field, p string) (string, error) {
	if p == "" {
		return "", nil
	}
	c, err := cleanPaths(field, []string{p})
	if err != nil {
		return "", err
	}
	return c[0], nil
}

// cleanPaths cleans each of ps as a rewrite target would be, naming the
// field in the error.
func cleanPaths(field string, ps []string) ([]string, error) {
	out := make([]string, len(ps))
	for i, p := range ps {
		c, err := CleanRewrite(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", field, err)
		}
		out[i] = c
	}
	return out, nil
}

func (h *AdminHandler) check(w http.ResponseWriter, r *http.Request, tenant string) {
	m, s, ok := h.Runtime.Installed(tenant)
	if !ok {
		writeError(w, http.StatusNotFound, "no policy installed")
		return
	}
	var cr checkRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cr); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	req := abi.Request{Verb: strings.ToUpper(cr.Verb), Arg: cr.Arg, OtherPaths: cr.OtherPaths, User: cr.User, Tenant: tenant,
		Remote: cr.Remote, Session: 0, Flags: abi.FlagLoggedIn, Login: cr.Login, Host: cr.Host}
	if req.Verb == "" || len(req.Verb) > 8 {
		writeError(w, http.StatusBadRequest, "verb: want a command name such as STOR")
		return
	}
	if none, all := cr.TenantPath == "" && len(cr.OtherTenantPaths) == 0,
		cr.TenantPath != "" && len(cr.OtherTenantPaths) == len(cr.OtherPaths); !none && !all {
		writeError(w, http.StatusBadRequest, "tenant_path: give the tenant paths of all of the command's paths (other_tenant_paths as many as other_paths) or none")
		return
	}
	var err error
	if req.Home, err = cleanOptional("home", cr.Home); err == nil {
		if req.TenantPath, err = cleanOptional("tenant_path", cr.TenantPath); err == nil {
			req.OtherTenantPaths, err = cleanPaths("other_tenant_paths", cr.OtherTenantPaths)
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if cr.Path != "" {
		p, err := CleanRewrite(cr.Path)
		if err != nil {
			writeError(w, http.StatusBadRequest, "path: "+err.Error())
			return
		}
		req.Path = p
	}
	if cr.Now != "" {
		t, err := time.Parse(time.RFC3339, cr.Now)
		if err != nil {
			writeError(w, http.StatusBadRequest, "now: want RFC 3339")
			return
		}
		req.NowMillis = uint64(t.UnixMilli())
	}
	d, err := h.Runtime.DryRun(r.Context(), m, s, &req)
	if errors.Is(err, ErrDryRunBusy) {
		setRetryAfter(w, h.Runtime.cfg.InitTimeout+h.Runtime.cfg.CallTimeout)
		writeError(w, http.StatusTooManyRequests, "a dry run of this tenant is already running; try again when it is done")
		return
	}
	out := struct {
		Decision
		Subscribed bool   `json:"subscribed"`
		Error      string `json:"error,omitempty"`
	}{Decision: d, Subscribed: m.Subscribed(req.Verb)}
	if err != nil {
		out.Error = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *AdminHandler) stats(w http.ResponseWriter, _ *http.Request, tenant string) {
	writeJSON(w, http.StatusOK, h.Runtime.Figures(tenant))
}

func (h *AdminHandler) allStats(w http.ResponseWriter, r *http.Request) {
	if h.Tokens == nil || !h.Tokens.IsOperator(bearer(r)) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ftpgate"`)
		writeError(w, http.StatusUnauthorized, "operator token required")
		return
	}
	writeJSON(w, http.StatusOK, h.Runtime.AllFigures())
}
