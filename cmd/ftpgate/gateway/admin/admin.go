// Package admin is ftpgate's admin HTTP plane: one server on its own
// listener that every admin endpoint is mounted on (the policy API,
// POST /v1/reload, and what comes next: sessions, bans), with
// authentication, authorisation and the error shape done here once.
//
// Plugins hand their endpoints over as routes: a net/http ServeMux pattern,
// a Scope and an http.Handler. Before a handler runs the server has
//   - read the bearer token and compared it, in constant time, with the
//     operator's and, on a tenant route, with the {tenant}'s own token, both
//     comparisons always made, so that an unknown tenant and a wrong token
//     get the same 401 in the same time;
//   - refused a tenant's token on another tenant's path and on operator
//     routes (401, the reply a wrong token gets);
//   - refused, with 429 and Retry-After and without comparing, the token
//     of a client address (an IPv4 address, an IPv6 /64) that presented
//     MaxAuthFailures wrong tokens within AuthFailureWindow, for that
//     window, so that nobody guesses tokens at the speed of the network
//     (see throttle; the console's login form counts the same way);
//   - bounded the request body (Route.MaxBody, else DefaultMaxBody);
//   - put the caller's Identity in the request context (see Caller).
//
// A refused request (401, 400, 404, 413) and one no route serves (the
// mux's 404, 405 and redirects) get a reply that ends the connection (its body drained for at most a second),
// and when every connection slot is taken a newcomer takes the slot of
// the connection quiet for longest, so that only requests being served
// hold slots against others; one tenant's token has at most
// MaxTenantRequests of those at once, and so have the public routes'
// callers together.
//
// Every reply carries Cache-Control: no-store, and every error, 404 and 405
// included, is JSON {"error": "...", "code": "..."} (net/http's own
// replies to malformed requests, before routing, stay plain text). The
// server speaks HTTP/1.1 only and bounds connections (MaxConns), header
// size and every connection's read, write and idle time.
package admin

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// Bounds of the server; each request and connection stays within them.
const (
	// DefaultMaxBody bounds a request body when its route sets no MaxBody.
	DefaultMaxBody = 64 << 10
	// DefaultMaxConns bounds the connections served at once when
	// Server.MaxConns is 0. A newcomer takes the slot of the connection
	// quiet for longest (no request in progress), else waits in the
	// kernel's accept queue.
	DefaultMaxConns = 64
	// maxHeaderBytes bounds a request's header lines.
	maxHeaderBytes = 32 << 10
	// The timeouts bound how long one connection can hold the server.
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	writeTimeout      = time.Minute
	idleTimeout       = 2 * time.Minute
	// drainTimeout bounds how long the body of a refused request is
	// read (and dropped) after the reply.
	drainTimeout = time.Second
)

// Scope says who may call a route.
type Scope int

const (
	// ScopeOperator routes take the operator token only.
	ScopeOperator Scope = iota + 1
	// ScopeTenant routes have a {tenant} wildcard in their pattern and take
	// the operator token or that tenant's own token.
	ScopeTenant
	// ScopePublic routes take no token and see no caller: the console's
	// login form and its stylesheet. Body and connection bounds apply.
	ScopePublic
)

// String returns "operator" or "tenant".
func (s Scope) String() string {
	switch s {
	case ScopeOperator:
		return "operator"
	case ScopeTenant:
		return "tenant"
	case ScopePublic:
		return "public"
	}
	return "Scope(" + strconv.Itoa(int(s)) + ")"
}

// Tokens checks the admin tokens. Implementations compare in constant time
// and take the same time for a tenant that does not exist as for a wrong
// token (compare against a fixed digest), as StaticTokens does; the
// server calls both methods on every tenant route whatever the first
// answered.
type Tokens interface {
	// IsOperator reports whether token is the operator's, which may call
	// every route for every tenant.
	IsOperator(token string) bool
	// IsTenant reports whether token is tenant's own admin token. A
	// tenant's token never matches another tenant.
	IsTenant(tenant, token string) bool
}

// Route is one endpoint.
type Route struct {
	// Pattern is a net/http ServeMux pattern with a method, such as
	// "GET /v1/tenants/{tenant}/policy".
	Pattern string
	// Scope says who may call it. ScopeTenant needs {tenant} in Pattern.
	Scope Scope
	// MaxBody bounds the request body in bytes (0: DefaultMaxBody). A
	// larger Content-Length is refused with 413 before the handler runs;
	// a body without one fails the handler's read past the bound with an
	// *http.MaxBytesError.
	MaxBody int64
	// Timeout is how long the route may take to answer, from the moment
	// it runs (0: the server's WriteTimeout). A route whose work has its
	// own bound (a policy compile) states it here.
	Timeout time.Duration
	// Handler serves the request once the caller is authorised.
	Handler http.Handler
	// Auth, when set, identifies the caller instead of the bearer token
	// (the console's session cookie); the server then checks the Identity
	// it returns against Scope and the {tenant} exactly as it checks a
	// token's (Identity.May). It must not compare tokens a client sent
	// itself: a login form calls Server.CheckToken, which throttles
	// failures as bearer tokens are.
	Auth func(r *http.Request) (Identity, bool)
	// Refused, when set, answers a caller Auth does not accept or whose
	// Identity the scope refuses, instead of the JSON 401 (the console
	// sends a browser to its login form).
	Refused http.Handler
}

// Identity is who made a request: the operator, or a tenant's admin.
type Identity struct {
	// Operator is set for the operator token.
	Operator bool
	// Tenant is the tenant whose own token was presented; "" for the
	// operator.
	Tenant string
}

// May reports whether id may call a route of scope for tenant (the
// {tenant} path value; "" on routes without one): the operator every
// route, a tenant's admin the tenant routes of its own tenant and public
// routes, nobody else anything but public routes.
func (id Identity) May(scope Scope, tenant string) bool {
	switch scope {
	case ScopePublic:
		return true
	case ScopeOperator:
		return id.Operator
	case ScopeTenant:
		return id.Operator || (id.Tenant != "" && id.Tenant == tenant && conf.ValidTenantID(tenant) == nil)
	}
	return false
}

type callerKey struct{}

// Caller returns the identity the server authenticated for the request
// whose context is ctx; ok is false outside an admin handler.
func Caller(ctx context.Context) (id Identity, ok bool) {
	id, ok = ctx.Value(callerKey{}).(Identity)
	return id, ok
}

// Server is the admin HTTP server. Set its fields, mount routes with
// Handle or Mount, then call Serve or ListenAndServe; a Server is not
// copied after first use.
type Server struct {
	// Addr is the address ListenAndServe listens on.
	Addr string
	// TLSConfig, when set, makes Serve speak HTTPS only.
	TLSConfig *tls.Config
	// Logger records refused requests and failed TLS handshakes at debug
	// level and server errors at warning level (default slog.Default()).
	// Tokens are never logged.
	Logger *slog.Logger
	// Tokens authenticates callers; nil refuses every request with 401.
	Tokens Tokens
	// KnownTenant reports whether a tenant exists, so that the operator
	// gets 404 for an unknown one; nil accepts every well-formed id.
	KnownTenant func(tenant string) bool
	// Reload, when set, serves POST /v1/reload (operator only): it
	// re-reads the configuration and returns the keys whose change only a
	// restart applies (ReloadReply); an error is returned as 422 with its
	// text, and the old configuration keeps running. Without it the route
	// answers 404.
	Reload func(ctx context.Context) (restartNeeded []string, err error)
	// MaxConns bounds the connections served at once (0: DefaultMaxConns);
	// the server speaks HTTP/1.1 only, so it bounds requests in flight too.
	MaxConns int
	// MaxTenantRequests bounds the requests one tenant's token has in
	// flight at once (0: a quarter of MaxConns, at least 1); more are
	// refused with 429. A request in flight holds a connection slot for
	// up to the read and write timeouts (a slow upload), so without it one
	// tenant could hold every slot; the operator is not bounded. The
	// requests of public routes, which anyone may send, share one such
	// bound.
	MaxTenantRequests int
	// WriteTimeout bounds the time from a request's headers to the end of
	// its reply (0: one minute); a Route with a Timeout sets its own.
	WriteTimeout time.Duration
	// MaxAuthFailures is how many wrong tokens one client address (an
	// IPv4 address, an IPv6 /64) may present within AuthFailureWindow;
	// then its token checks are refused unmade (429, Retry-After) for
	// AuthFailureWindow, even with a right token (0: the defaults,
	// DefaultMaxAuthFailures and DefaultAuthFailureWindow). Successes do
	// not clear the count. At most MaxAuthClients addresses are counted
	// at once (0: DefaultMaxAuthClients); past it the addresses outside
	// the table share one count. The address is the connection's: behind
	// a reverse proxy every client has the proxy's, and shares its count.
	// Read at the first Handle, Mount or Serve.
	MaxAuthFailures   int
	AuthFailureWindow time.Duration
	MaxAuthClients    int
	// Now is the throttle's clock (time.Now when nil).
	Now func() time.Time

	once     sync.Once
	flightMu sync.Mutex
	inFlight map[string]int // requests in flight per tenant token, "" the public routes'; no zero entries
	mux      *http.ServeMux
	throttle *throttle
	mu       sync.Mutex
	hs       *http.Server
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) init() {
	s.once.Do(func() {
		s.mux = http.NewServeMux()
		s.throttle = newThrottle(cmp.Or(s.MaxAuthFailures, DefaultMaxAuthFailures),
			cmp.Or(s.AuthFailureWindow, DefaultAuthFailureWindow), cmp.Or(s.MaxAuthClients, DefaultMaxAuthClients))
		s.mount(Route{Pattern: "POST /v1/reload", Scope: ScopeOperator, Handler: http.HandlerFunc(s.reload)})
	})
}

// Handle mounts handler at pattern for scope with the default body bound.
// It panics, as http.ServeMux.Handle does, on a pattern that is invalid
// or already mounted, or on a tenant route without {tenant}: these are
// programming errors, never input.
func (s *Server) Handle(pattern string, scope Scope, handler http.Handler) {
	s.Mount(Route{Pattern: pattern, Scope: scope, Handler: handler})
}

// Mount mounts routes, under the rules of Handle.
func (s *Server) Mount(routes ...Route) {
	s.init()
	for _, r := range routes {
		s.mount(r)
	}
}

func (s *Server) mount(r Route) {
	switch r.Scope {
	case ScopeOperator, ScopePublic:
	case ScopeTenant:
		if !strings.Contains(r.Pattern, "{tenant}") {
			panic("admin: tenant route without {tenant}: " + r.Pattern)
		}
	default:
		panic("admin: route without a scope: " + r.Pattern)
	}
	if r.Handler == nil {
		panic("admin: nil handler for " + r.Pattern)
	}
	if r.MaxBody <= 0 {
		r.MaxBody = DefaultMaxBody
	}
	s.mux.Handle(r.Pattern, &routed{s.guard(r)})
}

// routed is the handler of a mounted route, a type of its own so that
// ServeHTTP tells it from the mux's own replies.
type routed struct{ http.Handler }

// ServeHTTP implements http.Handler: every request goes through the
// checks of the package comment. It is exported so that tests and other
// listeners can serve the same routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	w.Header().Set("Cache-Control", "no-store")
	// A pattern is no sign of a route: the mux answers a path it would
	// match once cleaned ("/v1/./stats") or given its trailing slash with
	// a redirect of its own, under that pattern, and a redirect must hang
	// up as any reply to a request no route serves does.
	if h, _ := s.mux.Handler(r); !isRouted(h) {
		s.unrouted(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func isRouted(h http.Handler) bool {
	_, ok := h.(*routed)
	return ok
}

// unrouted answers a request no route serves: the mux's own reply (404,
// 405 with Allow, or a redirect to the clean path or the path with its
// trailing slash) with a JSON body.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	for _, k := range []string{"Allow", "Location"} {
		if v := rec.header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	code := rec.code
	if code == 0 {
		code = http.StatusNotFound
	}
	hangUp(w)
	if code < 400 {
		w.WriteHeader(code)
		return
	}
	codeName := "not_found"
	msg := "no such endpoint"
	if code == http.StatusMethodNotAllowed {
		codeName, msg = "method_not_allowed", "method not allowed; see the Allow header"
	}
	WriteError(w, code, codeName, msg)
}

// headerRecorder keeps the status and headers of the mux's own reply and
// drops its text body.
type headerRecorder struct {
	header http.Header
	code   int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.code == 0 {
		h.code = http.StatusOK
	}
	return len(b), nil
}
func (h *headerRecorder) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

// Error is the body of every error reply. Error is the human reason (the
// shape ftpgate has always answered); Code is a stable machine name such
// as "unauthorized", "not_found", "body_too_large".
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// WriteError writes an Error reply with status.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, Error{Error: msg, Code: code})
}

// WriteJSON writes v as a JSON reply with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header
// (scheme case-insensitive, as RFC 7235 has it), or "".
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// unauthorized is the one reply to a missing, wrong or misplaced token,
// whatever the route and tenant, so that replies tell nothing about which
// tenants exist or which tokens are valid elsewhere.
func unauthorized(w http.ResponseWriter) {
	hangUp(w)
	w.Header().Set("WWW-Authenticate", `Bearer realm="ftpgate"`)
	WriteError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong token for this endpoint")
}

// hangUp makes the reply of a refused or unrouted request the last on its
// connection, sent at once, and gives the client drainTimeout to finish
// sending its body: otherwise net/http keeps the connection for
// IdleTimeout after the reply, and before replying it waits up to
// ReadTimeout to discard a body the client announced and never sends.
// Either way a caller with no business here would hold one of the
// MaxConns slots for minutes per connection it opens. (Drained rather
// than cut at once: closing with unread bytes resets the connection, and
// a client still sending would see the reset instead of the reply.)
func hangUp(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(drainTimeout))
}

// trackedBody is a request body that notes when it was read to its end.
// The route's handler reads it on its own goroutine, so the flag needs
// no lock.
type trackedBody struct {
	io.ReadCloser
	ended bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.ended = true
	}
	return n, err
}

// refusalWriter is a route's ResponseWriter: a handler's refusal (a
// status of 400 or more) sent before the body was read to its end hangs
// up as the server's own refusals do, so that a refused upload is
// answered at once instead of after its client sent the body the refusal
// was meant to spare. Handlers need not know.
type refusalWriter struct {
	http.ResponseWriter
	body *trackedBody
}

// WriteHeader hangs up first when code refuses an unread body.
func (w *refusalWriter) WriteHeader(code int) {
	if code >= 400 && !w.body.ended {
		hangUp(w)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *refusalWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// authenticate returns the caller of r on route, or ok false; retry > 0
// when the client's token checks are refused for that long
// (CheckToken). Both comparisons always run on tenant routes, so the
// time taken does not depend on which one failed or on whether the
// tenant exists.
func (s *Server) authenticate(r *http.Request, rt Route) (id Identity, ok bool, retry time.Duration) {
	tenant := r.PathValue("tenant")
	switch {
	case rt.Scope == ScopePublic:
		return Identity{}, true, 0
	case rt.Auth != nil:
		id, ok = rt.Auth(r)
		return id, ok && id.May(rt.Scope, tenant), 0
	case rt.Scope == ScopeOperator:
		tenant = ""
	}
	id, ok, retry = s.CheckToken(r, tenant, bearer(r))
	return id, ok && id.May(rt.Scope, tenant), retry
}

// Identify returns whose token is: the operator's, or tenant's own admin
// token ("" tenant: the operator's only). Both comparisons always run, in
// constant time, so the time taken does not depend on which one failed
// or on whether the tenant exists. The console's login form calls it, so
// that a token logs in to the console exactly when it is accepted by the
// API.
func (s *Server) Identify(tenant, token string) (Identity, bool) {
	if s.Tokens == nil {
		return Identity{}, false
	}
	op := s.Tokens.IsOperator(token)
	own := s.Tokens.IsTenant(tenant, token) && conf.ValidTenantID(tenant) == nil
	switch {
	case op:
		return Identity{Operator: true}, true
	case own && tenant != "":
		return Identity{Tenant: tenant}, true
	}
	return Identity{}, false
}

// guard wraps a route's handler in the checks of the package comment.
func (s *Server) guard(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok, retry := s.authenticate(r, rt)
		if retry > 0 {
			s.logger().Debug("admin: refused: too many failed tokens", "route", rt.Pattern, "remote", r.RemoteAddr)
			tooManyFailures(w, retry)
			return
		}
		if !ok {
			s.logger().Debug("admin: refused", "route", rt.Pattern, "remote", r.RemoteAddr)
			if rt.Refused != nil {
				hangUp(w)
				rt.Refused.ServeHTTP(w, r)
				return
			}
			unauthorized(w)
			return
		}
		if rt.Scope == ScopeTenant {
			tenant := r.PathValue("tenant")
			if conf.ValidTenantID(tenant) != nil {
				hangUp(w)
				WriteError(w, http.StatusBadRequest, "bad_tenant", "invalid tenant id")
				return
			}
			if s.KnownTenant != nil && !s.KnownTenant(tenant) {
				hangUp(w)
				WriteError(w, http.StatusNotFound, "no_tenant", "no such tenant")
				return
			}
		}
		// A tenant's requests count against that tenant's bound, and the
		// public routes' (anyone's, no token needed) against one bound
		// they all share, keyed "" (no tenant id is empty): a public
		// form's body can be sent as slowly as a tenant's upload.
		if key := id.Tenant; !id.Operator && (key != "" || rt.Scope == ScopePublic) {
			if !s.enter(key) {
				hangUp(w)
				w.Header().Set("Retry-After", "1")
				msg := "too many requests in flight for this tenant; retry when one has finished"
				if key == "" {
					msg = "too many requests in flight on the routes without a token; retry later"
				}
				WriteError(w, http.StatusTooManyRequests, "too_many_requests", msg)
				return
			}
			defer s.leave(key)
		}
		if r.ContentLength > rt.MaxBody {
			hangUp(w)
			WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				"request body larger than the limit of "+strconv.FormatInt(rt.MaxBody, 10)+" bytes")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, rt.MaxBody)
		if r.ContentLength != 0 {
			body := &trackedBody{ReadCloser: r.Body}
			r.Body, w = body, &refusalWriter{ResponseWriter: w, body: body}
		}
		if rt.Timeout > 0 {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(rt.Timeout))
		}
		if rt.Scope == ScopePublic {
			rt.Handler.ServeHTTP(w, r)
			return
		}
		rt.Handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, id)))
	})
}

// enter counts a request of tenant ("": of a public route) in flight, or
// reports false when it has MaxTenantRequests in flight already.
func (s *Server) enter(tenant string) bool {
	limit := s.MaxTenantRequests
	if limit <= 0 {
		conns := s.MaxConns
		if conns <= 0 {
			conns = DefaultMaxConns
		}
		limit = max(conns/4, 1)
	}
	s.flightMu.Lock()
	defer s.flightMu.Unlock()
	if s.inFlight[tenant] >= limit {
		return false
	}
	if s.inFlight == nil {
		s.inFlight = map[string]int{}
	}
	s.inFlight[tenant]++
	return true
}

// leave ends a request that enter counted.
func (s *Server) leave(tenant string) {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()
	if s.inFlight[tenant]--; s.inFlight[tenant] <= 0 {
		delete(s.inFlight, tenant)
	}
}

// reload serves POST /v1/reload.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if s.Reload == nil {
		WriteError(w, http.StatusNotFound, "nothing_to_reload", "nothing to reload: this server was started without a reload function")
		return
	}
	keys, err := s.Reload(r.Context())
	if err != nil {
		WriteError(w, http.StatusUnprocessableEntity, "reload_rejected", err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, ReloadReply{Status: "reloaded", RestartNeeded: keys})
}

// ReloadReply is the body of a successful POST /v1/reload.
type ReloadReply struct {
	Status string `json:"status"` // "reloaded"
	// RestartNeeded are the changed keys the running server keeps until
	// it restarts.
	RestartNeeded []string `json:"restart_needed,omitempty"`
}

// ListenAndServe listens on s.Addr and serves, as Serve does.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve serves the routes on ln (over TLS when TLSConfig is set) until
// Shutdown, then returns http.ErrServerClosed. ln is closed on return.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	max := s.MaxConns
	if max <= 0 {
		max = DefaultMaxConns
	}
	hs := s.httpServer()
	ln = newLimitListener(ln, max)
	if s.TLSConfig != nil {
		return hs.ServeTLS(ln, "", "")
	}
	return hs.Serve(ln)
}

// httpServer returns the one http.Server of s, made on first use.
func (s *Server) httpServer() *http.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs == nil {
		// HTTP/1.1 only: one request at a time per connection, so that
		// MaxConns also bounds the requests in flight.
		var protocols http.Protocols
		protocols.SetHTTP1(true)
		s.hs = &http.Server{
			Protocols: &protocols,
			Handler:   s,
			// "OPTIONS *" comes here too, as a request no route serves:
			// net/http's own answer to it reads a body of up to 4 KiB
			// first, for as long as the client takes to send it.
			DisableGeneralOptionsHandler: true,
			TLSConfig:                    s.TLSConfig,
			ReadHeaderTimeout:            readHeaderTimeout,
			ReadTimeout:                  readTimeout,
			WriteTimeout:                 cmp.Or(s.WriteTimeout, writeTimeout),
			IdleTimeout:                  idleTimeout,
			MaxHeaderBytes:               maxHeaderBytes,
			ErrorLog:                     ErrorLog(s.logger()),
			ConnState:                    trackConn,
		}
	}
	return s.hs
}

// ErrorLog is an http.Server's ErrorLog for the HTTP planes (admin,
// telemetry): net/http's own log lines go to l at warning level, except
// those any client can cause at the rate it connects (a failed TLS
// handshake: bytes that are not TLS, a scanner, a connection shed before
// its handshake ended), which go to debug so that anonymous clients
// cannot fill the operator's log.
func ErrorLog(l *slog.Logger) *log.Logger { return log.New(errorLog{l}, "", 0) }

type errorLog struct{ l *slog.Logger }

func (e errorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	e.l.Log(context.Background(), level, msg)
	return len(p), nil
}

// Shutdown stops accepting, waits for requests in flight until ctx ends,
// and closes the listeners, as http.Server.Shutdown does; a Serve called
// after it returns http.ErrServerClosed at once.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.httpServer().Shutdown(ctx)
}

// limitListener serves at most cap(slots) connections at once. A
// connection that arrives when every slot is taken gets the slot of the
// connection that has been quiet longest (accepted and not yet past its
// request headers, or idle between requests), which is closed; with none
// quiet, it waits for a slot. So clients that connect and send nothing,
// trickle their headers, or keep idle keep-alive connections cannot keep
// others out: only requests being served hold slots against newcomers.
// Shedding may cut a request whose headers arrive just as its connection
// is chosen; that happens only when every slot is taken.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	quiet map[*limitConn]time.Time // since when each quiet connection is
	woke  chan struct{}            // (1 buffered) a connection became quiet
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), done: make(chan struct{}),
		quiet: map[*limitConn]time.Time{}, woke: make(chan struct{}, 1)}
}

// Accept implements net.Listener: it takes the next connection, then
// gives it a slot, as the type's comment says.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, l: l}, nil
		case <-l.done:
			_ = c.Close()
			return nil, net.ErrClosed
		default:
		}
		if l.shed() {
			continue
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, l: l}, nil
		case <-l.done:
			_ = c.Close()
			return nil, net.ErrClosed
		case <-l.woke:
		}
	}
}

// shed closes the connection quiet for longest, which gives its slot
// back; it reports false when no connection is quiet.
func (l *limitListener) shed() bool {
	l.mu.Lock()
	var oldest *limitConn
	var since time.Time
	for c, t := range l.quiet {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	delete(l.quiet, oldest)
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	_ = oldest.Close()
	return true
}

// setQuiet records whether c holds its slot without a request in progress.
func (l *limitListener) setQuiet(c *limitConn, quiet bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !quiet {
		delete(l.quiet, c)
		return
	}
	l.quiet[c] = time.Now()
	select {
	case l.woke <- struct{}{}:
	default:
	}
}

// trackConn is the http.Server's ConnState hook: it tells the limitListener
// which connections are quiet (new, or idle between requests).
func trackConn(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitConn); ok {
		lc.l.setQuiet(lc, st == http.StateNew || st == http.StateIdle)
	}
}

// Close implements net.Listener; an Accept waiting for a slot returns.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

// Close implements net.Conn.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.setQuiet(c, false)
		<-c.l.slots
	})
	return err
}
