package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/admin"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/console"
)

// TestCookieOverTLS: over HTTPS the session cookie is Secure, carries
// the __Host- prefix (Path=/, no Domain) and replies have HSTS; the
// console mounted on a bare admin server with nothing to show still
// serves its overview.
func TestCookieOverTLS(t *testing.T) {
	srv := &admin.Server{Tokens: admin.NewStaticTokens(opToken)}
	console.Mount(srv, console.Options{})
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.PostForm(ts.URL+"/console/login", url.Values{"token": {opToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %d %v", resp.StatusCode, resp.Cookies())
	}
	ck := resp.Cookies()[0]
	if ck.Name != "__Host-ftpgate-console" || !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie over TLS: %+v", ck)
	}
	if !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("no HSTS: %v", resp.Header)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/console/overview", nil)
	req.AddCookie(ck)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Overview") {
		t.Fatalf("overview over TLS: %d %q", resp.StatusCode, b)
	}
	// The plain-HTTP cookie name is not accepted over TLS.
	req, _ = http.NewRequest("GET", ts.URL+"/console/overview", nil)
	req.AddCookie(&http.Cookie{Name: "ftpgate-console", Value: ck.Value})
	if resp, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("plain cookie name over TLS: %d", resp.StatusCode)
	}
}
