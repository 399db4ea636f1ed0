package policy

import (
	"context"
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

	"github.com/ftpgate/ftpgate/engine/conf"
)

// AdminHandler is the admin HTTP API for policies:
//
//	PUT    /v1/tenants/{tenant}/policy          upload a module (body: wasm; ?on_error=deny|allow&config=...); one at a time per tenant (429)
//	GET    /v1/tenants/{tenant}/policy          the installed module's description (Accept: application/wasm for its bytes)
//	DELETE /v1/tenants/{tenant}/policy          uninstall
//	POST   /v1/tenants/{tenant}/policy/check    dry run of a sample command (JSON body) against the installed module
//	POST   /v1/tenants/{tenant}/policy/rollback the module (and settings) the installed one replaced goes back in
//	GET    /v1/tenants/{tenant}/policy/stats    the tenant's figures
//	GET    /v1/stats                            every tenant's figures (operator only)
//
// It does not authenticate: Routes hands the endpoints, with who may call
// each, to an admin server that checks the caller's token, the tenant in
// the path and the body's size before a handler runs (ftpgate's is
// cmd/ftpgate/gateway/admin). Errors are JSON {"error": "...", "code": "..."}.
type AdminHandler struct {
	Runtime *Runtime
	// Store persists uploads (a *Store, or a *RedisStore shared by a
	// cluster); nil keeps them in memory only.
	Store Storage
	// Logger records uploads and refusals (default slog.Default()).
	Logger *slog.Logger

	mu sync.Mutex // serialises changes, so that store and runtime agree

	upMu      sync.Mutex
	uploading map[string]bool // tenants with an upload in flight
}

// startUpload marks tenant's upload in flight, or reports false when one
// already is. An upload pins up to MaxModuleSize of memory until it has
// compiled, and a tenant has one policy, so one at a time per tenant is
// all a tenant needs and bounds what it pins.
func (h *AdminHandler) startUpload(tenant string) bool {
	h.upMu.Lock()
	defer h.upMu.Unlock()
	if h.uploading[tenant] {
		return false
	}
	if h.uploading == nil {
		h.uploading = map[string]bool{}
	}
	h.uploading[tenant] = true
	return true
}

func (h *AdminHandler) endUpload(tenant string) {
	h.upMu.Lock()
	defer h.upMu.Unlock()
	delete(h.uploading, tenant)
}

// BeginUpload takes tenant's one upload in flight for a caller that
// reads a module itself before it calls DryRunModule (the console's
// check), so that such reads count against the same bound as the API's
// uploads: ok is false while another upload, check or rollback of the
// tenant runs. end gives the turn back; call it once, when the module
// is no longer held.
func (h *AdminHandler) BeginUpload(tenant string) (end func(), ok bool) {
	if !h.startUpload(tenant) {
		return nil, false
	}
	var once sync.Once
	return func() { once.Do(func() { h.endUpload(tenant) }) }, true
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
	// Timeout is how long the route may take to answer (0: the admin
	// server's write timeout). An upload waits for a compile slot and a
	// compile, which may together outlast that.
	Timeout time.Duration
	// Handler serves an authorised request. A tenant route reads the
	// tenant from the {tenant} path value, which it checks again with
	// conf.ValidTenantID (400).
	Handler http.Handler
}

// Routes returns the endpoints of the API. The upload's body bound is the
// runtime's MaxModuleSize; the dry run's is its 64 KiB request.
func (h *AdminHandler) Routes() []AdminRoute {
	return []AdminRoute{
		{"PUT /v1/tenants/{tenant}/policy", true, int64(h.Runtime.cfg.MaxModuleSize), h.Runtime.cfg.uploadAnswerTime(), h.tenantRoute(h.put)},
		{"GET /v1/tenants/{tenant}/policy", true, 0, 0, h.tenantRoute(h.get)},
		{"DELETE /v1/tenants/{tenant}/policy", true, 0, 0, h.tenantRoute(h.delete)},
		{"POST /v1/tenants/{tenant}/policy/check", true, maxCheckRequest, 0, h.tenantRoute(h.check)},
		{"POST /v1/tenants/{tenant}/policy/rollback", true, 0, h.Runtime.cfg.uploadAnswerTime(), h.tenantRoute(h.rollback)},
		{"GET /v1/tenants/{tenant}/policy/stats", true, 0, 0, h.tenantRoute(h.stats)},
		{"GET /v1/stats", false, 0, 0, http.HandlerFunc(h.allStats)},
	}
}

// maxCheckRequest bounds the JSON body of a dry run.
const maxCheckRequest = 64 << 10

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes the admin plane's error shape: {"error": msg, "code":
// name}, name a stable machine name (see cmd/ftpgate/gateway/admin.Error).
func writeError(w http.ResponseWriter, status int, name, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": name})
}

// tenantRoute passes the {tenant} path value to next. The admin server
// has checked it; it is checked again here because it names files in the
// store.
func (h *AdminHandler) tenantRoute(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant := r.PathValue("tenant")
		if conf.ValidTenantID(tenant) != nil {
			writeError(w, http.StatusBadRequest, "bad_tenant", "invalid tenant id")
			return
		}
		next(w, r, tenant)
	}
}

// PolicyInfo describes an installed policy: the body of the policy API's
// GET, PUT and rollback, and what the console shows.
type PolicyInfo struct {
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

func (h *AdminHandler) info(tenant string, m *Module, s Settings) PolicyInfo {
	subs := m.Subscriptions
	if subs == nil {
		subs = []string{"*"}
	}
	return PolicyInfo{Tenant: tenant, SHA256: m.Hash, Size: m.Size, ABI: m.ABI, Subscriptions: subs, Imports: m.Imports,
		OnError: s.OnError.String(), Figures: h.Runtime.Figures(tenant), State: "installed"}
}

func (h *AdminHandler) put(w http.ResponseWriter, r *http.Request, tenant string) {
	if !h.startUpload(tenant) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "upload_in_progress", "an upload for this tenant is in progress; retry when it has finished")
		return
	}
	defer h.endUpload(tenant)
	limit := h.Runtime.cfg.MaxModuleSize
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || len(body) > limit {
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "module larger than the limit of "+strconv.Itoa(limit)+" bytes")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "reading the body: "+err.Error())
		return
	}
	oe, err := ParseOnError(r.URL.Query().Get("on_error"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	config := []byte(r.URL.Query().Get("config"))
	info, err := h.install(r.Context(), tenant, body, oe, config, "installed")
	if err != nil {
		h.installFailed(w, tenant, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// errStoreFailed is install's error when the store could not keep the
// module; the old policy stays.
var errStoreFailed = errors.New("policy: could not store the module; the old policy stays")

// install compiles wasm for tenant, stores it (the store keeps the one
// it replaces for Rollback) and installs it; what says "installed" or
// "rolled back" in the log.
func (h *AdminHandler) install(ctx context.Context, tenant string, wasm []byte, oe OnError, config []byte, what string) (PolicyInfo, error) {
	m, err := h.Runtime.CompileTenant(ctx, tenant, wasm, config)
	if err != nil {
		return PolicyInfo{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Runtime.storeMu.Lock()
	defer h.Runtime.storeMu.Unlock()
	if h.Store != nil {
		rec := Record{OnError: oe.String(), Config: config, Uploaded: time.Now().UTC(), Subscriptions: m.Subscriptions}
		if rec.Subscriptions == nil {
			rec.Subscriptions = []string{"*"}
		}
		if err := h.Store.Save(tenant, wasm, rec); err != nil {
			_ = m.Close(ctx)
			h.logger().Error("policy: storing an upload", "tenant", tenant, "err", err)
			return PolicyInfo{}, errStoreFailed
		}
	}
	s := Settings{OnError: oe, Config: config}
	h.Runtime.Install(tenant, m, s)
	h.logger().Info("policy: "+what, "tenant", tenant, "module", m.ShortHash(), "size", m.Size, "subscriptions", m.Subscriptions)
	return h.info(tenant, m, s), nil
}

// installFailed answers an upload or rollback that install refused.
func (h *AdminHandler) installFailed(w http.ResponseWriter, tenant string, err error) {
	switch {
	case errors.Is(err, errStoreFailed):
		writeError(w, http.StatusInternalServerError, "store_failed", err.Error())
	case errors.Is(err, ErrNoPrevious):
		writeError(w, http.StatusNotFound, "no_previous", "no previous module to roll back to")
	default:
		h.compileFailed(w, tenant, err)
	}
}

// ErrUploadInProgress is Upload's and Rollback's error while another
// upload or rollback of the tenant runs.
var ErrUploadInProgress = errors.New("policy: an upload for this tenant is in progress; retry when it has finished")

// Upload compiles, stores and installs wasm as tenant's policy, as the
// API's PUT does (one at a time per tenant: ErrUploadInProgress), for
// callers in the same process (the console). Its errors are the
// compile's (*ValidationError for a refused module, *BusyError,
// *OverloadError) or a store failure; the old policy then stays.
func (h *AdminHandler) Upload(ctx context.Context, tenant string, wasm []byte, oe OnError, config []byte) (PolicyInfo, error) {
	if conf.ValidTenantID(tenant) != nil {
		return PolicyInfo{}, errBadTenant
	}
	if !h.startUpload(tenant) {
		return PolicyInfo{}, ErrUploadInProgress
	}
	defer h.endUpload(tenant)
	return h.install(ctx, tenant, wasm, oe, config, "installed")
}

// Rollback installs again the module and settings that tenant's installed
// policy replaced (Store.Previous), which then becomes the previous one,
// so a second rollback undoes the first. ErrNoPrevious when there is
// none (or no store).
func (h *AdminHandler) Rollback(ctx context.Context, tenant string) (PolicyInfo, error) {
	if conf.ValidTenantID(tenant) != nil {
		return PolicyInfo{}, errBadTenant
	}
	if h.Store == nil {
		return PolicyInfo{}, ErrNoPrevious
	}
	if !h.startUpload(tenant) {
		return PolicyInfo{}, ErrUploadInProgress
	}
	defer h.endUpload(tenant)
	wasm, prev, err := h.Store.Previous(tenant)
	if errors.Is(err, fs.ErrNotExist) {
		err = ErrNoPrevious
	}
	if err != nil {
		return PolicyInfo{}, err
	}
	oe, err := ParseOnError(prev.OnError)
	if err != nil {
		return PolicyInfo{}, err
	}
	return h.install(ctx, tenant, wasm, oe, prev.Config, "rolled back")
}

// PreviousRecord returns the record Rollback would go back to. The
// console shows it on every view of a policy page, so a store that can
// read it alone (Store, RedisStore: PreviousRecord) is asked for it
// alone, rather than for the module too: a page view must not cost a
// read and a hash of up to MaxModuleSize, which a tenant's admin could
// repeat at will (and Store makes under the lock every tenant's uploads
// wait for).
func (h *AdminHandler) PreviousRecord(tenant string) (Record, bool) {
	if h.Store == nil {
		return Record{}, false
	}
	if pr, ok := h.Store.(interface {
		PreviousRecord(tenant string) (Record, error)
	}); ok {
		rec, err := pr.PreviousRecord(tenant)
		return rec, err == nil
	}
	_, rec, err := h.Store.Previous(tenant)
	return rec, err == nil
}

// DryRunModule compiles wasm for tenant without installing it and runs
// the sample command cr against it: the console's check before an
// upload. One dry run at a time per tenant (ErrDryRunBusy).
func (h *AdminHandler) DryRunModule(ctx context.Context, tenant string, wasm []byte, oe OnError, config []byte, cr CheckRequest) (CheckResult, error) {
	req, err := cr.Request(tenant)
	if err != nil {
		return CheckResult{}, err
	}
	m, err := h.Runtime.CompileTenant(ctx, tenant, wasm, config)
	if err != nil {
		return CheckResult{}, err
	}
	defer func() { _ = m.Close(context.WithoutCancel(ctx)) }()
	d, err := h.Runtime.DryRun(ctx, m, Settings{OnError: oe, Config: config}, &req)
	if errors.Is(err, ErrDryRunBusy) || errors.Is(err, ErrBusy) {
		return CheckResult{}, err
	}
	return NewCheckResult(m, req.Verb, d, err), nil
}

// Describe returns tenant's installed policy, or false.
func (h *AdminHandler) Describe(tenant string) (PolicyInfo, bool) {
	m, s, ok := h.Runtime.Installed(tenant)
	if !ok {
		return PolicyInfo{}, false
	}
	return h.info(tenant, m, s), true
}

func (h *AdminHandler) rollback(w http.ResponseWriter, r *http.Request, tenant string) {
	info, err := h.Rollback(r.Context(), tenant)
	if errors.Is(err, ErrUploadInProgress) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "upload_in_progress", "an upload for this tenant is in progress; retry when it has finished")
		return
	}
	if err != nil {
		h.installFailed(w, tenant, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
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
		writeError(w, http.StatusBadRequest, "invalid_module", ve.Reason)
	case errors.As(err, &busy):
		setRetryAfter(w, busy.RetryAfter)
		writeError(w, http.StatusTooManyRequests, "upload_in_progress", "an upload for this tenant is in progress; retry when it has finished")
	case errors.As(err, &over):
		h.logger().Warn("policy: upload refused, compile queue full", "tenant", tenant)
		setRetryAfter(w, over.RetryAfter)
		writeError(w, http.StatusServiceUnavailable, "compile_queue_full", "too many uploads are compiling; try again later")
	default:
		h.logger().Error("policy: compiling an upload", "tenant", tenant, "err", err)
		writeError(w, http.StatusServiceUnavailable, "compile_failed", "the module could not be compiled now; try again later")
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
		writeError(w, http.StatusNotFound, "no_policy", "no policy installed")
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/wasm") {
		if h.Store == nil {
			writeError(w, http.StatusNotAcceptable, "not_acceptable", "module bytes are not kept without a policy store")
			return
		}
		wasm, _, err := h.Store.Load(tenant)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "store_failed", "reading the stored module failed")
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
	h.Runtime.storeMu.Lock()
	defer h.Runtime.storeMu.Unlock()
	stored := false
	if h.Store != nil {
		err := h.Store.Delete(tenant)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			writeError(w, http.StatusInternalServerError, "store_failed", "could not delete the stored module")
			return
		}
		stored = err == nil
	}
	if !h.Runtime.Remove(tenant) && !stored {
		writeError(w, http.StatusNotFound, "no_policy", "no policy installed")
		return
	}
	h.logger().Info("policy: removed", "tenant", tenant)
	w.WriteHeader(http.StatusNoContent)
}

func (h *AdminHandler) check(w http.ResponseWriter, r *http.Request, tenant string) {
	m, s, ok := h.Runtime.Installed(tenant)
	if !ok {
		writeError(w, http.StatusNotFound, "no_policy", "no policy installed")
		return
	}
	var cr CheckRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCheckRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cr); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "body larger than the limit of "+strconv.Itoa(maxCheckRequest)+" bytes")
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", "body: "+err.Error())
		return
	}
	req, err := cr.Request(tenant)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	d, err := h.Runtime.DryRun(r.Context(), m, s, &req)
	if errors.Is(err, ErrDryRunBusy) {
		setRetryAfter(w, h.Runtime.cfg.InitTimeout+h.Runtime.cfg.CallTimeout)
		writeError(w, http.StatusTooManyRequests, "dry_run_in_progress", "a dry run of this tenant is already running; try again when it is done")
		return
	}
	if errors.Is(err, ErrBusy) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "busy", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, NewCheckResult(m, req.Verb, d, err))
}

func (h *AdminHandler) stats(w http.ResponseWriter, _ *http.Request, tenant string) {
	writeJSON(w, http.StatusOK, h.Runtime.Figures(tenant))
}

func (h *AdminHandler) allStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.Runtime.AllFigures())
}
