package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
)

// TestAuthRouteScopes checks that a route identified by Route.Auth (the
// console's cookie) is held to its scope and {tenant} as a token is: a
// tenant's identity reaches its own tenant's route only, and Refused
// answers the rest.
func TestAuthRouteScopes(t *testing.T) {
	st := admin.NewStaticTokens(opToken)
	st.Tenants = map[string]admin.TokenHash{"acme": admin.HashToken(acmeToken), "globex": admin.HashToken(globexToken)}
	srv := &admin.Server{Tokens: st}
	who := func(r *http.Request) (admin.Identity, bool) {
		switch r.Header.Get("X-Who") {
		case "operator":
			return admin.Identity{Operator: true}, true
		case "acme":
			return admin.Identity{Tenant: "acme"}, true
		}
		return admin.Identity{}, false
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := admin.Caller(r.Context())
		_, _ = io.WriteString(w, "ok operator="+map[bool]string{true: "yes", false: "no"}[id.Operator]+" tenant="+id.Tenant)
	})
	refused := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", http.StatusSeeOther) })
	srv.Mount(
		admin.Route{Pattern: "GET /c/t/{tenant}/x", Scope: admin.ScopeTenant, Auth: who, Refused: refused, Handler: ok},
		admin.Route{Pattern: "GET /c/op", Scope: admin.ScopeOperator, Auth: who, Refused: refused, Handler: ok},
		admin.Route{Pattern: "GET /c/public", Scope: admin.ScopePublic, Handler: ok},
	)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	for _, c := range []struct {
		who, path string
		want      int
		body      string
	}{
		{"acme", "/c/t/acme/x", 200, "tenant=acme"},
		{"acme", "/c/t/globex/x", 303, ""},
		{"acme", "/c/op", 303, ""},
		{"operator", "/c/t/globex/x", 200, "operator=yes"},
		{"operator", "/c/op", 200, "operator=yes"},
		{"", "/c/t/acme/x", 303, ""},
		{"", "/c/public", 200, "tenant="},
		{"acme", "/c/public", 200, "operator=no tenant="},
	} {
		req, _ := http.NewRequest("GET", hs.URL+c.path, nil)
		req.Header.Set("X-Who", c.who)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || !strings.Contains(string(b), c.body) {
			t.Errorf("%s %s: %d %q, want %d %q", c.who, c.path, resp.StatusCode, b, c.want, c.body)
		}
	}
}

// TestIdentify checks the login form's token check: the operator token
// with or without a tenant, a tenant token only with its own tenant.
func TestIdentify(t *testing.T) {
	st := admin.NewStaticTokens(opToken)
	st.Tenants = map[string]admin.TokenHash{"acme": admin.HashToken(acmeToken)}
	srv := &admin.Server{Tokens: st}
	for _, c := range []struct {
		tenant, token string
		ok            bool
		want          admin.Identity
	}{
		{"", opToken, true, admin.Identity{Operator: true}},
		{"acme", opToken, true, admin.Identity{Operator: true}},
		{"acme", acmeToken, true, admin.Identity{Tenant: "acme"}},
		{"globex", acmeToken, false, admin.Identity{}},
		{"", acmeToken, false, admin.Identity{}},
		{"ACME", acmeToken, false, admin.Identity{}},
		{"acme", "", false, admin.Identity{}},
	} {
		id, ok := srv.Identify(c.tenant, c.token)
		if ok != c.ok || id != c.want {
			t.Errorf("Identify(%q, %q) = %+v %v, want %+v %v", c.tenant, c.token, id, ok, c.want, c.ok)
		}
	}
}
