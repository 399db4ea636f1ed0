package policy

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
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
// It does not authenticate: Routes hands the endpoints, with who may call
// each, to an admin server that checks the caller's token, the tenant in
// the path and the body's size before a handler runs (ftpgate's is
// cmd/ftpgate/gateway/admin). Errors are JSON {"error": "..."}.
type AdminHandler struct {
	Runtime *Runtime
	// Store persists uploads; nil keeps them in memory only.
	Store *Store
	// Logger records uploads and refusals (default slog.Default()).
	Logger *slog.Logger

	mu sync.Mutex // serialises changes, so that store and runtime agree
}

func (h *AdminHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// AdminRoute is one endpoint of the policy API, as plain data for an admin
// server to mount.
type AdminRoute struct {
	// Pattern is a net/http ServeMux pattern with a method.
	Pattern string
	// Tenant is set when the tenant named by the pattern's {tenant} may
	// call the route with its own token; otherwise it is operator only.
	Tenant bool
	// MaxBody is the largest request body the route reads, in bytes
	// (0: the admin server's default).
	MaxBody int64
	// Handler serves an authorised request. A tenant route reads the
	// tenant from the {tenant} path value, which it checks again with
	// ValidTenant (400).
	Handler http.Handler
}

// Routes returns the endpoints of the API. The upload's body bound is the
// runtime's MaxModuleSize; the dry run's is its 64 KiB request.
func (h *AdminHandler) Routes() []AdminRoute {
	return []AdminRoute{
		{"PUT /v1/tenants/{tenant}/policy", true, int64(h.Runtime.cfg.MaxModuleSize), h.tenantRoute(h.put)},
		{"GET /v1/tenants/{tenant}/policy", true, 0, h.tenantRoute(h.get)},
		{"DELETE /v1/tenants/{tenant}/policy", true, 0, h.tenantRoute(h.delete)},
		{"POST /v1/tenants/{tenant}/policy/check", true, maxCheckRequest, h.tenantRoute(h.check)},
		{"GET /v1/tenants/{tenant}/policy/stats", true, 0, h.tenantRoute(h.stats)},
		{"GET /v1/stats", false, 0, http.HandlerFunc(h.allStats)},
	}
}

// maxCheckRequest bounds the JSON body of a dry run.
const maxCheckRequest = 64 << 10

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// tenantRoute passes the {tenant} path value to next. The admin server
// has checked it; it is checked again here because it names files in the
// store.
func (h *AdminHandler) tenantRoute(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant := r.PathValue("tenant")
		if !ValidTenant(tenant) {
			writeError(w, http.StatusBadRequest, "invalid tenant id")
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
}

func (h *AdminHandler) info(tenant string, m *Module, s Settings) policyInfo {
	subs := m.Subscriptions
	if subs == nil {
		subs = []string{"*"}
	}
	return policyInfo{Tenant: tenant, SHA256: m.Hash, Size: m.Size, ABI: m.ABI, Subscriptions: subs, Imports: m.Imports,
		OnError: s.OnError.String(), Figures: h.Runtime.Figures(tenant)}
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
	m, err := h.Runtime.Compile(r.Context(), body, config)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			h.logger().Info("policy: upload refused", "tenant", tenant, "reason", ve.Reason)
			writeError(w, http.StatusBadRequest, ve.Reason)
			return
		}
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Store != nil {
		rec := Record{OnError: oe.String(), Config: config, Uploaded: time.Now().UTC()}
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

func (h *AdminHandler) get(w http.ResponseWriter, r *http.Request, tenant string) {
	m, s, ok := h.Runtime.Installed(tenant)
	if !ok {
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

func (h *AdminHandler) check(w http.ResponseWriter, r *http.Request, tenant string) {
	m, s, ok := h.Runtime.Installed(tenant)
	if !ok {
		writeError(w, http.StatusNotFound, "no policy installed")
		return
	}
	var cr CheckRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxCheckRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cr); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	req, err := cr.Request(tenant)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d, err := h.Runtime.DryRun(r.Context(), m, s, &req)
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

func (h *AdminHandler) allStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.Runtime.AllFigures())
}
