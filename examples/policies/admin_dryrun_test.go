package policies_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/policy"
)

// TestAdminDryRunTenantPaths: the admin API's dry run carries the fields
// of ABI 1.1, so a tenant admin can ask how read-only-paths judges a
// command that reaches /archive through a link or a home, and gets what a
// live session would get.
func TestAdminDryRunTenantPaths(t *testing.T) {
	t.Parallel()
	wasm := builder.Build(t, "read-only-paths")
	ctx := context.Background()
	rt, err := policy.NewRuntime(ctx, loadedMachine(policy.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	// The policy routes alone: tokens are the admin server's business
	// (cmd/ftpgate/gateway/admin), and this test is about the dry run.
	mux := http.NewServeMux()
	for _, r := range (&policy.AdminHandler{Runtime: rt, Store: &policy.Store{Dir: t.TempDir()}}).Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(method, path string, body []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer acme-secret")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do("PUT", "/v1/tenants/acme/policy", wasm); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	for _, c := range []struct {
		body     string
		code     int
		contains string
	}{
		// The session path alone looks harmless...
		{`{"verb":"DELE","path":"/r/record.txt","user":"carol"}`, 200, `"action":"allow"`},
		// ...the path it reaches inside the tenant is not.
		{`{"verb":"DELE","path":"/r/record.txt","user":"carol","login":"carol@acme","home":"/","tenant_path":"/archive/record.txt"}`,
			200, `"action":"deny","code":550,"message":"/archive is read-only."`},
		// RNTO's source, through a home below the root.
		{`{"verb":"RNTO","path":"/new.txt","other_paths":["/old.txt"],"home":"/archive","tenant_path":"/archive/new.txt","other_tenant_paths":["/archive/old.txt"]}`,
			200, `"code":550`},
		// All of a command's tenant paths or none.
		{`{"verb":"RNTO","path":"/new.txt","other_paths":["/old.txt"],"tenant_path":"/archive/new.txt"}`, 400, "tenant_path"},
		{`{"verb":"DELE","path":"/x","other_tenant_paths":["/a"]}`, 400, "tenant_path"},
		{`{"verb":"DELE","path":"/x","tenant_path":"/../../etc/passwd"}`, 400, "tenant_path"},
	} {
		code, body := do("POST", "/v1/tenants/acme/policy/check", []byte(c.body))
		if code != c.code || !strings.Contains(body, c.contains) {
			t.Errorf("check %s: %d %s; want %d with %q", c.body, code, body, c.code, c.contains)
		}
	}
}
