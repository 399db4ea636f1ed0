package admin_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

const (
	opToken     = "operator-secret-0123456789"
	acmeToken   = "acme-secret-0123456789"
	globexToken = "globex-secret-0123456789"
	moduleLimit = 64 << 10
)

// countingTokens records how many comparisons each request ran.
type countingTokens struct {
	admin.Tokens
	operator, tenant atomic.Int64
}

func (c *countingTokens) IsOperator(tok string) bool {
	c.operator.Add(1)
	return c.Tokens.IsOperator(tok)
}

func (c *countingTokens) IsTenant(tenant, tok string) bool {
	c.tenant.Add(1)
	return c.Tokens.IsTenant(tenant, tok)
}

type fixture struct {
	t      *testing.T
	url    string
	rt     *policy.Runtime
	tokens *countingTokens
	reload atomic.Pointer[error] // what Reload returns
}

// mountPolicy mounts the policy routes as cmd/ftpgate does.
func mountPolicy(srv *admin.Server, h *policy.AdminHandler) {
	for _, r := range h.Routes() {
		scope := admin.ScopeOperator
		if r.Tenant {
			scope = admin.ScopeTenant
		}
		srv.Mount(admin.Route{Pattern: r.Pattern, Scope: scope, MaxBody: r.MaxBody, Handler: r.Handler})
	}
}

// newFixture serves the policy API, POST /v1/reload and GET
// /v1/tenants/{tenant}/whoami (which answers admin.Caller) on a real
// loopback listener; tenants acme and globex exist and have tokens.
func newFixture(t *testing.T, withReload bool) *fixture {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := policy.NewRuntime(ctx, policy.Config{MaxModuleSize: moduleLimit, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(ctx) })
	st := admin.NewStaticTokens(opToken)
	st.Tenants = map[string]admin.TokenHash{"acme": admin.HashToken(acmeToken), "globex": admin.HashToken(globexToken)}
	f := &fixture{t: t, rt: rt, tokens: &countingTokens{Tokens: st}}
	srv := &admin.Server{
		Tokens:      f.tokens,
		KnownTenant: func(id string) bool { return id == "acme" || id == "globex" },
		Logger:      quiet,
		// The authorisation matrix presents every wrong token of its grid
		// from one address; the throttle of failures has tests of its own
		// (throttle_test.go).
		MaxAuthFailures: 1 << 20,
	}
	if withReload {
		srv.Reload = func(context.Context) ([]string, error) {
			if p := f.reload.Load(); p != nil {
				return nil, *p
			}
			return []string{"listen"}, nil
		}
	}
	mountPolicy(srv, &policy.AdminHandler{Runtime: rt, Store: &policy.Store{Dir: t.TempDir()}, Logger: quiet})
	srv.Handle("GET /v1/tenants/{tenant}/whoami", admin.ScopeTenant, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := admin.Caller(r.Context())
		admin.WriteJSON(w, http.StatusOK, map[string]any{"ok": ok, "operator": id.Operator, "tenant": id.Tenant})
	}))
	// A route that reads whatever it is given, bounded only by the server.
	srv.Mount(admin.Route{Pattern: "POST /v1/tenants/{tenant}/echo", Scope: admin.ScopeTenant, MaxBody: 100,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				admin.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", err.Error())
				return
			}
			admin.WriteJSON(w, http.StatusOK, map[string]int{"read": len(b)})
		})})
	f.url = serveLoopback(t, srv)
	return f
}

// serveLoopback serves srv on a loopback listener until the test ends,
// then shuts it down; it returns the server's URL.
func serveLoopback(t *testing.T, srv *admin.Server) string {
	t.Helper()
	return "http://" + serveAddr(t, srv, false)
}

// serveAddr serves srv on a loopback listener until the test ends and
// returns its address. At the end the shutdown must finish, within 30 s;
// with openConns (a test that leaves connections open on purpose) it is
// given a second and may time out.
func serveAddr(t *testing.T, srv *admin.Server, openConns bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		wait := 30 * time.Second
		if openConns {
			wait = time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !openConns {
			t.Error(err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

type reply struct {
	code   int
	header http.Header
	body   string
}

func (f *fixture) do(method, path, token string, body io.Reader) reply {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	resp.Header.Del("Date")
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// installAcme makes sure acme has a policy, so that GET, DELETE and the
// dry run have something to act on whatever ran before.
func (f *fixture) installAcme() {
	f.t.Helper()
	if _, _, ok := f.rt.Installed("acme"); ok {
		return
	}
	m, err := f.rt.Compile(context.Background(), testmod.Example(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.rt.Install("acme", m, policy.Settings{})
}

// checkError asserts an error reply: status, JSON {"error", "code"}, no
// caching.
func checkError(t *testing.T, what string, r reply, code int, errCode string) {
	t.Helper()
	var e admin.Error
	if r.code != code || r.header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(r.body), &e) != nil ||
		e.Error == "" || e.Code != errCode || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: %d %v %s; want %d with {\"error\":..., \"code\":%q}", what, r.code, r.header, r.body, code, errCode)
	}
}

// TestAuthorisationMatrix: every route × every kind of caller, through the
// real HTTP API: no token, a wrong token, another tenant's token, the
// path's own tenant token and the operator's.
func TestAuthorisationMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	routes := []struct {
		method, path string
		body         func() io.Reader
		tenant       bool // the path's tenant may call it
		ok           int  // the status of an authorised call
	}{
		{"PUT", "/v1/tenants/acme/policy", func() io.Reader { return bytes.NewReader(testmod.Example()) }, true, 200},
		{"GET", "/v1/tenants/acme/policy", nil, true, 200},
		{"DELETE", "/v1/tenants/acme/policy", nil, true, 204},
		{"POST", "/v1/tenants/acme/policy/check", func() io.Reader { return strings.NewReader(`{"verb":"DELE","path":"/a"}`) }, true, 200},
		{"GET", "/v1/tenants/acme/policy/stats", nil, true, 200},
		{"GET", "/v1/stats", nil, false, 200},
		{"POST", "/v1/reload", nil, false, 200},
		{"GET", "/v1/tenants/acme/whoami", nil, true, 200},
	}
	callers := []struct {
		name, token string
		tenant      bool // the path's own tenant
		operator    bool
	}{
		{"no token", "", false, false},
		{"wrong token", "not-a-token-0123456789", false, false},
		{"another tenant's token", globexToken, false, false},
		{"own tenant token", acmeToken, true, false},
		{"operator token", opToken, false, true},
	}
	var unauthorized []string
	for _, rt := range routes {
		for _, c := range callers {
			f.installAcme()
			var body io.Reader
			if rt.body != nil {
				body = rt.body()
			}
			what := rt.method + " " + rt.path + " with " + c.name
			r := f.do(rt.method, rt.path, c.token, body)
			if c.operator || (c.tenant && rt.tenant) {
				if r.code != rt.ok || r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("%s: %d %s; want %d", what, r.code, r.body, rt.ok)
				}
				if r.code != 204 && (r.header.Get("Content-Type") != "application/json" || !json.Valid([]byte(r.body))) {
					t.Errorf("%s: not JSON: %v %s", what, r.header, r.body)
				}
				continue
			}
			checkError(t, what, r, 401, "unauthorized")
			if r.header.Get("WWW-Authenticate") != `Bearer realm="ftpgate"` {
				t.Errorf("%s: WWW-Authenticate %q", what, r.header.Get("WWW-Authenticate"))
			}
			unauthorized = append(unauthorized, r.body)
		}
	}
	// One refusal for every route and caller: nothing tells them apart.
	slices.Sort(unauthorized)
	if distinct := slices.Compact(unauthorized); len(distinct) != 1 {
		t.Errorf("refusals differ: %q", distinct)
	}
	// admin.Caller carries who called.
	if r := f.do("GET", "/v1/tenants/acme/whoami", acmeToken, nil); r.body != `{"ok":true,"operator":false,"tenant":"acme"}`+"\n" {
		t.Errorf("tenant caller: %s", r.body)
	}
	if r := f.do("GET", "/v1/tenants/acme/whoami", opToken, nil); r.body != `{"ok":true,"operator":true,"tenant":""}`+"\n" {
		t.Errorf("operator caller: %s", r.body)
	}
}

// TestUnknownTenantLooksLikeWrongToken: a tenant token sent to an unknown
// tenant, to a malformed tenant id, to another tenant, and a wrong token
// sent to a real tenant get byte-identical replies, and every one of them
// ran both token comparisons.
func TestUnknownTenantLooksLikeWrongToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	var replies []reply
	for _, c := range []struct{ path, token string }{
		{"/v1/tenants/nobody/policy", acmeToken},
		{"/v1/tenants/nobody/policy", "not-a-token-0123456789"},
		{"/v1/tenants/globex/policy", acmeToken},
		{"/v1/tenants/globex/policy", "not-a-token-0123456789"},
		{"/v1/tenants/..%2Fetc/policy", acmeToken},
		{"/v1/tenants/" + strings.Repeat("x", 200) + "/policy", acmeToken},
	} {
		op, ten := f.tokens.operator.Load(), f.tokens.tenant.Load()
		r := f.do("GET", c.path, c.token, nil)
		if f.tokens.operator.Load() != op+1 || f.tokens.tenant.Load() != ten+1 {
			t.Errorf("%s: comparisons run: operator %d, tenant %d; want one each",
				c.path, f.tokens.operator.Load()-op, f.tokens.tenant.Load()-ten)
		}
		replies = append(replies, r)
	}
	for _, r := range replies[1:] {
		if r.code != replies[0].code || r.body != replies[0].body || !headersEqual(r.header, replies[0].header) {
			t.Errorf("replies differ:\n%d %v %s\n%d %v %s", replies[0].code, replies[0].header, replies[0].body, r.code, r.header, r.body)
		}
	}
	checkError(t, "unknown tenant", replies[0], 401, "unauthorized")

	// The operator, who may know, is told.
	checkError(t, "operator, unknown tenant", f.do("GET", "/v1/tenants/nobody/policy", opToken, nil), 404, "no_tenant")
	checkError(t, "operator, malformed tenant", f.do("GET", "/v1/tenants/..%2Fetc/policy", opToken, nil), 400, "bad_tenant")
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestBodyBound: a body over its route's bound is refused with the JSON
// error, whether it announces its length or not, and nothing is installed.
func TestBodyBound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	big := testmod.Padded(moduleLimit + 10)
	// With a Content-Length: refused before the handler runs.
	r := f.do("PUT", "/v1/tenants/acme/policy", acmeToken, bytes.NewReader(big))
	checkError(t, "oversized PUT", r, 413, "body_too_large")
	if !strings.Contains(r.body, "limit of 65536 bytes") {
		t.Errorf("oversized PUT: %s", r.body)
	}
	// Chunked: the handler's read stops at the bound.
	r = f.do("PUT", "/v1/tenants/acme/policy", acmeToken, io.MultiReader(bytes.NewReader(big)))
	if r.code != 413 || !strings.Contains(r.body, `"error":"module larger than the limit`) {
		t.Errorf("chunked oversized PUT: %d %s", r.code, r.body)
	}
	if _, _, ok := f.rt.Installed("acme"); ok {
		t.Error("an oversized module was installed")
	}
	// A handler that reads a chunked body to the end stops at the bound.
	checkError(t, "chunked oversized echo", f.do("POST", "/v1/tenants/acme/echo", acmeToken, io.MultiReader(bytes.NewReader(make([]byte, 1000)))), 413, "body_too_large")
	if r := f.do("POST", "/v1/tenants/acme/echo", acmeToken, io.MultiReader(bytes.NewReader(make([]byte, 100)))); r.body != `{"read":100}`+"\n" {
		t.Errorf("echo within the bound: %d %s", r.code, r.body)
	}
	// Routes without a bound of their own take DefaultMaxBody.
	checkError(t, "oversized reload", f.do("POST", "/v1/reload", opToken, bytes.NewReader(make([]byte, admin.DefaultMaxBody+1))), 413, "body_too_large")
	// A body within the bound is served.
	if r := f.do("PUT", "/v1/tenants/acme/policy", acmeToken, bytes.NewReader(testmod.Example())); r.code != 200 {
		t.Errorf("PUT within the bound: %d %s", r.code, r.body)
	}
	// Without a token, the size is not even looked at.
	checkError(t, "oversized PUT without token", f.do("PUT", "/v1/tenants/acme/policy", "", bytes.NewReader(big)), 401, "unauthorized")
}

// TestNotFoundAndMethodJSON: paths and methods no route serves get the
// same JSON error shape as everything else.
func TestNotFoundAndMethodJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	checkError(t, "unknown path", f.do("GET", "/v1/nothing", opToken, nil), 404, "not_found")
	checkError(t, "root", f.do("GET", "/", "", nil), 404, "not_found")
	r := f.do("DELETE", "/v1/stats", opToken, nil)
	checkError(t, "DELETE /v1/stats", r, 405, "method_not_allowed")
	if a := r.header.Get("Allow"); !strings.Contains(a, "GET") {
		t.Errorf("Allow %q", a)
	}
	checkError(t, "GET /v1/reload", f.do("GET", "/v1/reload", "", nil), 405, "method_not_allowed")
	checkError(t, "PATCH a tenant route", f.do("PATCH", "/v1/tenants/acme/policy", acmeToken, nil), 405, "method_not_allowed")
}

// TestReload: POST /v1/reload is the operator's: 200 when the new
// configuration runs, 422 with its errors when refused, 404 when the
// server has nothing to reload.
func TestReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	if r := f.do("POST", "/v1/reload", opToken, nil); r.code != 200 || r.body != `{"status":"reloaded","restart_needed":["listen"]}`+"\n" {
		t.Errorf("reload: %d %s", r.code, r.body)
	}
	bad := errors.New("tenants/broken.toml:2: unknown: unknown key")
	f.reload.Store(&bad)
	r := f.do("POST", "/v1/reload", opToken, nil)
	checkError(t, "refused reload", r, 422, "reload_rejected")
	if !strings.Contains(r.body, `"error":"tenants/broken.toml:2: unknown: unknown key"`) {
		t.Errorf("refused reload: %s", r.body)
	}
	checkError(t, "tenant reload", f.do("POST", "/v1/reload", acmeToken, nil), 401, "unauthorized")

	g := newFixture(t, false)
	checkError(t, "nothing to reload", g.do("POST", "/v1/reload", opToken, nil), 404, "nothing_to_reload")
	checkError(t, "nothing to reload, no token", g.do("POST", "/v1/reload", "", nil), 401, "unauthorized")
}

// TestBearerScheme: the scheme is case-insensitive; anything else is no
// token.
func TestBearerScheme(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	for _, c := range []struct {
		header string
		code   int
	}{
		{"Bearer " + opToken, 200},
		{"bearer " + opToken, 200},
		{"Basic " + opToken, 401},
		{opToken, 401},
		{"Bearer", 401},
	} {
		req, _ := http.NewRequest("GET", f.url+"/v1/stats", nil)
		req.Header.Set("Authorization", c.header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%q: %d, want %d", c.header, resp.StatusCode, c.code)
		}
	}
}

// TestNoTokens: a server without Tokens refuses everything, the operator's
// token included.
func TestNoTokens(t *testing.T) {
	t.Parallel()
	srv := &admin.Server{}
	srv.Handle("GET /v1/x", admin.ScopeOperator, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())
	f := &fixture{t: t, url: "http://" + ln.Addr().String()}
	checkError(t, "no Tokens", f.do("GET", "/v1/x", opToken, nil), 401, "unauthorized")
}

// TestTLS: with TLSConfig the server speaks HTTPS, HTTP/1.1 only (so that
// MaxConns bounds requests in flight), and refuses plain HTTP.
func TestTLS(t *testing.T) {
	t.Parallel()
	cert, err := conf.SelfSigned(time.Now(), "ftpgate-admin-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := &admin.Server{Tokens: admin.NewStaticTokens(opToken),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	srv.Handle("GET /v1/x", admin.ScopeOperator, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		admin.WriteJSON(w, http.StatusOK, map[string]string{"proto": r.Proto})
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "https://"+ln.Addr().String()+"/v1/x", nil)
	req.Header.Set("Authorization", "Bearer "+opToken)
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"proto":"HTTP/1.1"}`+"\n" {
		t.Fatalf("HTTPS: %d %s", resp.StatusCode, b)
	}
	plain, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + ln.Addr().String() + "/v1/x")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == 200 {
			t.Fatal("plain HTTP was served")
		}
	}
}

// TestRouteTimeout: a route that states a Timeout (a policy upload that
// waits for a compile) may answer after the server's write timeout; a
// route without one may not.
func TestRouteTimeout(t *testing.T) {
	t.Parallel()
	const wt = 300 * time.Millisecond
	srv := &admin.Server{Tokens: admin.NewStaticTokens(opToken), WriteTimeout: wt}
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The work this route does outlasts the server's write timeout.
		<-time.After(3 * wt)
		admin.WriteJSON(w, http.StatusOK, map[string]bool{"done": true})
	})
	srv.Mount(admin.Route{Pattern: "PUT /v1/slow-bounded", Scope: admin.ScopeOperator, Timeout: time.Minute, Handler: slow})
	srv.Mount(admin.Route{Pattern: "PUT /v1/slow", Scope: admin.ScopeOperator, Handler: slow})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())
	url := "http://" + ln.Addr().String()
	put := func(path string) (int, error) {
		req, _ := http.NewRequest("PUT", url+path, nil)
		req.Header.Set("Authorization", "Bearer "+opToken)
		resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return resp.StatusCode, err
	}
	if code, err := put("/v1/slow-bounded"); code != 200 || err != nil {
		t.Fatalf("route with its own Timeout: %d, %v; want 200", code, err)
	}
	if code, err := put("/v1/slow"); err == nil {
		t.Fatalf("route without a Timeout answered %d after the server's write timeout; want the connection cut", code)
	}
}
