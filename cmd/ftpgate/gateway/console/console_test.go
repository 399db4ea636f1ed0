package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// securityHeaders checks the headers every console reply carries.
func securityHeaders(t *testing.T, what string, r reply) {
	t.Helper()
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "style-src 'self'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
		t.Errorf("%s: Content-Security-Policy %q allows scripts or inline code", what, csp)
	}
	if r.Header.Get("X-Frame-Options") != "DENY" || r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: headers %v", what, r.Header)
	}
	if strings.Contains(r.body, "<script") || strings.Contains(r.body, " style=") || strings.Contains(r.body, "<style") {
		t.Errorf("%s: the page has a script or inline style", what)
	}
}

// TestLoginCookieLogout: a wrong token gets 401 and no cookie; the
// operator's token a session cookie (HttpOnly, SameSite=Strict, limited
// to /console, not Secure over plain HTTP) and the overview; logout
// needs the form token, ends the session server side (the old cookie
// value opens nothing) and clears the cookie. Every page carries the
// security headers.
func TestLoginCookieLogout(t *testing.T) {
	f := start(t)
	b := f.browser(t)
	r := b.get("/console/")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/login" {
		t.Fatalf("/console/ without a session: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = b.get("/console/overview")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/login" {
		t.Fatalf("overview without a session: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = b.get("/console/login")
	securityHeaders(t, "login", r)
	for _, c := range []url.Values{
		{"token": {"wrong-token-0123456789"}},
		{"tenant": {"globex"}, "token": {acmeToken}},
		{"tenant": {""}, "token": {acmeToken}},
	} {
		r = b.post("/console/login", c, nil)
		if r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
			t.Fatalf("login with %v: %d cookies %v", c, r.StatusCode, r.Cookies())
		}
	}
	r = b.post("/console/login", url.Values{"token": {opToken}}, nil)
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 {
		t.Fatalf("operator login: %d %v", r.StatusCode, r.Cookies())
	}
	ck := r.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console" || ck.Secure || len(ck.Value) < 40 {
		t.Fatalf("session cookie %+v", ck)
	}
	if sc := r.Header.Get("Set-Cookie"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Fatalf("Set-Cookie %q", sc)
	}
	for _, p := range []string{"/console/overview", "/console/tenants", "/console/sessions", "/console/bans", "/console/audit",
		"/console/t/acme/", "/console/t/acme/policy", "/console/t/globex/sessions", "/console/t/acme/audit"} {
		r = b.get(p)
		if r.StatusCode != 200 {
			t.Fatalf("operator GET %s: %d %q", p, r.StatusCode, r.body)
		}
		securityHeaders(t, p, r)
	}
	if r = b.get("/console/overview"); !strings.Contains(r.body, "Instances") || !strings.Contains(r.body, f.addr) {
		t.Fatalf("overview lacks this instance: %q", r.body)
	}
	if r = b.get("/console/tenants"); !strings.Contains(r.body, "ftp.acme.test") || !strings.Contains(r.body, "<meter") ||
		!strings.Contains(r.body, "bob") || strings.Contains(r.body, "argon2") {
		t.Fatalf("tenants page: %q", r.body)
	}
	if r = b.post("/console/logout", url.Values{}, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without the form token: %d", r.StatusCode)
	}
	token := b.csrf("/console/overview")
	r = b.post("/console/logout", url.Values{"csrf": {token}}, nil)
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 || r.Cookies()[0].MaxAge >= 0 {
		t.Fatalf("logout: %d %v", r.StatusCode, r.Cookies())
	}
	// The old cookie value, sent again, opens nothing: the session is
	// gone from the server.
	old := f.browser(t)
	u, _ := url.Parse(f.base + "/console/")
	old.c.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/console"}})
	if r = old.get("/console/overview"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("overview with the logged-out cookie: %d", r.StatusCode)
	}
}

// TestForgedCrossSitePost: a logged-in operator's browser sends a POST
// another site forged (no form token, or the token but a cross-site
// Sec-Fetch-Site or a foreign Origin): each is refused with 403 and the
// ban stays; the console's own form lifts it, and the address logs in
// again.
func TestForgedCrossSitePost(t *testing.T) {
	f := start(t)
	for range 3 {
		c, _, _ := enginetest.Dial(t, f.addr, "127.0.0.9")
		c.Expect("USER mallory", 331)
		c.Expect("PASS wrong", 530)
		_ = c.NetConn().Close()
	}
	if bans, total := f.g.Limiter().Bans(10); total != 1 {
		t.Fatalf("bans after 3 failures: %v", bans)
	}
	b := f.browser(t)
	b.login("", opToken)
	token := b.csrf("/console/bans")
	if r := b.get("/console/bans"); !strings.Contains(r.body, "127.0.0.9") {
		t.Fatalf("bans page: %q", r.body)
	}
	for _, c := range []struct {
		what string
		form url.Values
		hdr  http.Header
	}{
		{"no token", url.Values{"prefix": {"127.0.0.9"}}, nil},
		{"wrong token", url.Values{"prefix": {"127.0.0.9"}, "csrf": {token[:len(token)-1] + "x"}}, nil},
		{"cross-site", url.Values{"prefix": {"127.0.0.9"}, "csrf": {token}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"same-site", url.Values{"prefix": {"127.0.0.9"}, "csrf": {token}}, http.Header{"Sec-Fetch-Site": {"same-site"}}},
		{"foreign origin", url.Values{"prefix": {"127.0.0.9"}, "csrf": {token}}, http.Header{"Origin": {"http://evil.example"}}},
		{"null origin", url.Values{"prefix": {"127.0.0.9"}, "csrf": {token}}, http.Header{"Origin": {"null"}}},
	} {
		r := b.post("/console/bans/lift", c.form, c.hdr)
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d %q", c.what, r.StatusCode, r.body)
		}
		if _, total := f.g.Limiter().Bans(10); total != 1 {
			t.Fatalf("%s lifted the ban", c.what)
		}
	}
	r := b.post("/console/bans/lift", url.Values{"prefix": {"127.0.0.9"}, "csrf": {token}},
		http.Header{"Origin": {f.base}, "Sec-Fetch-Site": {"same-origin"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("lift from the console: %d %q", r.StatusCode, r.body)
	}
	if _, total := f.g.Limiter().Bans(10); total != 0 {
		t.Fatal("the ban stays after the console lifted it")
	}
	if r = b.get("/console/bans"); !strings.Contains(r.body, "1 ban(s) lifted") {
		t.Fatalf("no message after the lift: %q", r.body)
	}
	c := enginetest.Login(t, f.addr, "127.0.0.9", "alice", "secret")
	_ = c.Quit()
}

// TestTenantIsolation: acme's admin, logged in to the console, reaches
// acme's pages and nothing of globex's nor the operator's, under many
// spellings of the path; its cookie opens no API route and its form
// token ends no globex session; globex's live session survives.
func TestTenantIsolation(t *testing.T) {
	f := start(t)
	bob := enginetest.Login(t, f.addr, "127.0.0.3", "bob@globex", "secret")
	alice := enginetest.Login(t, f.addr, "127.0.0.2", "alice", "secret")
	b := f.browser(t)
	b.login("acme", acmeToken)
	r := b.get("/console/t/acme/sessions")
	if r.StatusCode != 200 || !strings.Contains(r.body, "alice") || strings.Contains(r.body, "bob") {
		t.Fatalf("acme's sessions page: %d %q", r.StatusCode, r.body)
	}
	if r = b.get("/console/t/acme/"); !strings.Contains(r.body, "alice") || strings.Contains(r.body, "globex") {
		t.Fatalf("acme's tenant page: %q", r.body)
	}
	token := b.csrf("/console/t/acme/sessions")
	list, _, _ := f.g.Sessions().List(t.Context(), sessionsQuery("globex"))
	if len(list) != 1 {
		t.Fatalf("globex sessions: %+v", list)
	}
	bobID := list[0].ID
	follow := f.browser(t)
	follow.c.Jar = b.c.Jar
	follow.c.CheckRedirect = nil // follow redirects to wherever they lead
	for _, p := range []string{
		"/console/t/globex/", "/console/t/globex", "/console/t/globex/sessions", "/console/t/globex/sessions/",
		"/console/t/globex/policy", "/console/t/globex/audit", "/console/t/GLOBEX/", "/console/t/Globex/sessions",
		"/console/t/%67lobex/", "/console/t/globex%2F/", "/console/t/acme%2F..%2Fglobex/", "/console/t/acme/..%2Fglobex/sessions",
		"/console/t/acme/../globex/", "/console/t/acme/sessions/../../globex/policy", "/console/t//globex/", "/console//t/globex/",
		"/console/t/./globex/", "/console/t/globex/./sessions", "/console/t/globex%00/", "/console/t/globex%20/", "/console/t/acme,globex/",
		"/console/overview", "/console/tenants", "/console/sessions", "/console/bans", "/console/audit", "/console/sessions/",
		"/console/T/globex/", "/CONSOLE/t/globex/",
		"/v1/tenants/globex/sessions", "/v1/tenants/acme/sessions", "/v1/sessions", "/v1/bans", "/v1/tenants/globex/policy",
	} {
		r := follow.get(p)
		if r.StatusCode == 200 || strings.Contains(r.body, "bob") || strings.Contains(r.body, "globex") || strings.Contains(r.body, bobID) {
			t.Errorf("acme's admin GET %s: %d (at %s) %.200q", p, r.StatusCode, r.Request.URL.Path, r.body)
		}
	}
	for _, p := range []string{"/console/t/globex/sessions/" + bobID + "/end", "/console/t/GLOBEX/sessions/" + bobID + "/end",
		"/console/sessions/" + bobID + "/end", "/console/t/acme/sessions/" + bobID + "/end",
		"/console/t/acme%2F..%2Fglobex/sessions/" + bobID + "/end", "/console/t/globex/policy/rollback", "/console/bans/lift"} {
		r := b.post(p, url.Values{"csrf": {token}, "prefix": {"127.0.0.0/8"}}, nil)
		if r.StatusCode == 200 || strings.Contains(r.body, "Session "+bobID+" ended") {
			t.Errorf("acme's admin POST %s: %d %.200q", p, r.StatusCode, r.body)
		}
	}
	if _, err := bob.CurrentDir(); err != nil {
		t.Fatalf("globex's session was ended by acme's admin: %v", err)
	}
	// The same token, by bearer, reaches no other tenant's API either.
	if code := f.api(t, "/v1/tenants/globex/sessions", acmeToken, ""); code != http.StatusUnauthorized {
		t.Fatalf("acme's token on globex's API: %d", code)
	}
	_ = alice.Quit()
	_ = bob.Quit()
}

// TestEndSessionAndPolicy: acme's admin ends alice's live session from
// the console (her client's next command reads 421), then uploads a
// policy: the dry run shows the sample's refusal, the install makes the
// next DELE fail with the policy's 550, and rollback with no previous
// module says so.
func TestEndSessionAndPolicy(t *testing.T) {
	f := start(t)
	alice := enginetest.Login(t, f.addr, "127.0.0.2", "alice", "secret")
	b := f.browser(t)
	b.login("acme", acmeToken)
	list, _, _ := f.g.Sessions().List(t.Context(), sessionsQuery("acme"))
	if len(list) != 1 {
		t.Fatalf("acme sessions: %+v", list)
	}
	token := b.csrf("/console/t/acme/sessions")
	r := b.post("/console/t/acme/sessions/"+list[0].ID+"/end", url.Values{"csrf": {token}, "reason": {"maintenance\r\n230 forged"}}, nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("end: %d %q", r.StatusCode, r.body)
	}
	if _, err := alice.CurrentDir(); ftpCode(err) != 421 {
		t.Fatalf("alice's next command after the end: %v", err)
	}

	r = b.check("acme")
	if !strings.Contains(r.body, `id="check-action">deny</strong> 550`) {
		t.Fatalf("check: %d %q", r.StatusCode, r.body)
	}
	if _, _, ok := f.g.PolicyRuntime().Installed("acme"); ok {
		t.Fatal("the dry run installed the module")
	}
	hash := regexpHash.FindStringSubmatch(r.body)
	if hash == nil {
		t.Fatalf("no hash field in %q", r.body)
	}
	if r = b.post("/console/t/acme/policy/install", url.Values{"hash": {hash[1]}}, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("install without the form token: %d", r.StatusCode)
	}
	if r = b.post("/console/t/acme/policy/install", url.Values{"csrf": {token}, "hash": {hash[1]}}, nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("install: %d %q", r.StatusCode, r.body)
	}
	c := enginetest.Login(t, f.addr, "127.0.0.2", "alice", "secret")
	if err := c.Delete("/x"); ftpCode(err) != 550 {
		t.Fatalf("DELE after the install: %v", err)
	}
	_ = c.Quit()
	if r = b.get("/console/t/acme/policy"); !strings.Contains(r.body, hash[1]) || strings.Contains(r.body, `id="rollback"`) {
		t.Fatalf("policy page after the install: %q", r.body)
	}
	if r = b.post("/console/t/acme/policy/rollback", url.Values{"csrf": {token}}, nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("rollback: %d", r.StatusCode)
	}
	if r = b.get("/console/t/acme/policy"); !strings.Contains(r.body, "no previous module") {
		t.Fatalf("rollback without a previous module: %q", r.body)
	}
}
