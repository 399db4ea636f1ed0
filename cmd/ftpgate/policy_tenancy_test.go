package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jlaffaye/ftp"
)

// TestServeConfigTenantPolicies: with --config, a tenant uploads its own
// policy with the admin token whose hash its tenant file holds; the
// policy rules on that tenant's sessions only, and the token cannot touch
// another tenant.
func TestServeConfigTenantPolicies(t *testing.T) {
	dir := t.TempDir()
	writeTenantConfig(t, dir, "")
	const acmeToken = "acme-admin-token-0123456789"
	sum := sha256.Sum256([]byte(acmeToken))
	acmeFile := filepath.Join(dir, "tenants/acme.toml")
	old, err := os.ReadFile(acmeFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(acmeFile, append([]byte("admin_token_sha256 = \""+hex.EncodeToString(sum[:])+"\"\n"), old...), 0o644); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "operator.token")
	if err := os.WriteFile(tokenFile, []byte("operator-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ftpAddr, admin := startServeWithAdmin(t, "--config", filepath.Join(dir, "server.toml"),
		"--admin-listen", "127.0.0.1:0", "--admin-token-file", tokenFile, "--policy-dir", filepath.Join(dir, "policies"))
	if admin == "" {
		t.Fatal("no admin API address printed")
	}
	wasm, err := os.ReadFile("../../examples/policies/wat/example.wasm")
	if err != nil {
		t.Fatal(err)
	}

	if code, body := adminDo(t, http.MethodPut, admin+"/v1/tenants/globex/policy", acmeToken, wasm); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Fatalf("acme's token on globex: %d %s, want 401 or 403", code, body)
	}
	if code, body := adminDo(t, http.MethodPut, admin+"/v1/tenants/nosuch/policy", "operator-token-0123456789", wasm); code < 400 {
		t.Fatalf("a policy for a tenant that does not exist: %d %s", code, body)
	}
	if code, body := adminDo(t, http.MethodPut, admin+"/v1/tenants/acme/policy", acmeToken, wasm); code/100 != 2 {
		t.Fatalf("acme's own upload: %d %s", code, body)
	}

	deleteAs := func(login, pass string) error {
		t.Helper()
		c, err := ftp.Dial(ftpAddr, ftp.DialWithTimeout(itTimeout))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		if err := c.Login(login, pass); err != nil {
			t.Fatal(err)
		}
		if err := c.Stor("f.txt", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		return c.Delete("f.txt")
	}
	if err := deleteAs("alice@acme", "acme-pw"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("DELE under acme's policy: %v, want 550", err)
	}
	if err := deleteAs("alice@globex", "globex-pw"); err != nil {
		t.Fatalf("DELE in globex, which has no policy: %v", err)
	}
}

// TestReloadThroughTheAdminAPI: `ftpgate reload` makes a running serve
// --config re-read its files: a rejected configuration is reported with
// its errors and the old one keeps serving; a valid one applies to the
// next login. Only the operator token may reload.
func TestReloadThroughTheAdminAPI(t *testing.T) {
	dir := t.TempDir()
	writeTenantConfig(t, dir, "")
	tokenFile := filepath.Join(dir, "operator.token")
	if err := os.WriteFile(tokenFile, []byte("operator-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ftpAddr, admin := startServeWithAdmin(t, "--config", filepath.Join(dir, "server.toml"),
		"--admin-listen", "127.0.0.1:0", "--admin-token-file", tokenFile, "--policy-dir", filepath.Join(dir, "policies"))
	login := func(user, pass string) error {
		c, err := ftp.Dial(ftpAddr, ftp.DialWithTimeout(itTimeout))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		return c.Login(user, pass)
	}
	reload := func() (int, string) {
		var out, errb strings.Builder
		code := run(context.Background(), []string{"reload", "--admin", admin, "--admin-token-file", tokenFile}, &out, &errb)
		return code, out.String() + errb.String()
	}

	if code, body := adminDo(t, http.MethodPost, admin+"/v1/reload", "not-the-operator", nil); code != http.StatusUnauthorized {
		t.Fatalf("reload with a wrong token: %d %s", code, body)
	}

	bad := filepath.Join(dir, "tenants/broken.toml")
	if err := os.WriteFile(bad, []byte("id = \"broken\"\nunknown = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := reload(); code != 1 || !strings.Contains(out, "broken.toml:2: unknown: unknown key") {
		t.Fatalf("reload of a broken configuration: exit %d\n%s", code, out)
	}
	if err := login("alice@globex", "globex-pw"); err != nil {
		t.Fatalf("the running configuration should still serve: %v", err)
	}

	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	writeTenantConfig(t, dir, "disabled = true\n")
	if code, out := reload(); code != 0 || !strings.Contains(out, "configuration reloaded") {
		t.Fatalf("reload: exit %d\n%s", code, out)
	}
	if err := login("alice@globex", "globex-pw"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("a user disabled by the reload logged in: %v", err)
	}

	// A change only a restart applies is taken and named.
	server := filepath.Join(dir, "server.toml")
	b, err := os.ReadFile(server)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(server, append(b, "[commands]\nhash = true\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := reload(); code != 0 || !strings.Contains(out, "these changes wait for a restart: commands\n") {
		t.Fatalf("reload of a restart-only change: exit %d\n%s", code, out)
	}
}

// TestReloadCommandErrors: `ftpgate reload` needs the admin URL and an
// operator token the server could accept, and exits 1 when nothing
// answers.
func TestReloadCommandErrors(t *testing.T) {
	dir := t.TempDir()
	short, long := filepath.Join(dir, "short"), filepath.Join(dir, "long")
	_ = os.WriteFile(short, []byte("short\n"), 0o600)
	_ = os.WriteFile(long, []byte("operator-token-0123456789\n"), 0o600)
	// A port nothing listens on: one that was just free.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--admin-token-file", long}, 2, "--admin URL is needed"},
		{[]string{"--admin", closed, "--admin-token-file", short}, 2, "at least 16 characters"},
		{[]string{"--admin", closed, "--admin-token-file", filepath.Join(dir, "none")}, 2, "no such file"},
		{[]string{"--admin", closed, "--admin-token-file", long, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--admin", closed, "--admin-token-file", long}, 1, "connection refused"},
	} {
		var out, errb strings.Builder
		if code := run(context.Background(), append([]string{"reload"}, c.args...), &out, &errb); code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("reload %v: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.msg)
		}
	}
}
