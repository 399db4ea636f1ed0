package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/policy"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

const (
	opToken   = "operator-token-0123456789"
	acmeToken = "acme-admin-token-0123456789"
)

// adminFiles writes the server file of newFiles with [policy] and [admin]
// (loopback, the operator token in a file) and gives tenant acme its own
// admin token.
func adminFiles(t *testing.T) *files {
	t.Helper()
	f := newFiles(t)
	if err := os.WriteFile(filepath.Join(f.dir, "token"), []byte(opToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(acmeToken))
	f.tenantExtra = fmt.Sprintf("admin_token_sha256 = %q\n", hex.EncodeToString(sum[:]))
	f.write(t, "[policy]\ndir = \"policies\"\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\n", "")
	return f
}

// adminCall sends one request to the admin API and returns the status
// and the body.
func adminCall(t *testing.T, method, url, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return adminDo(t, req, token)
}

// adminDo sends req to the admin API with token and returns the status
// and the body (its first MiB).
func adminDo(t *testing.T, req *http.Request, token string) (int, string) {
	t.Helper()
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: enginetest.Timeout}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// TestAdminServesPolicies: a gateway from a server file with [policy] and
// [admin] serves the admin API; tenant acme uploads a policy with its own
// token, and the next DELE of a session already open is refused with the
// policy's reply; acme's token opens no other tenant and no operator
// route; POST /v1/reload re-reads the files (Options.Reread); the upload
// is kept in policy.dir.
func TestAdminServesPolicies(t *testing.T) {
	f := adminFiles(t)
	g := startWith(t, f, Options{Reread: func() (Config, error) { return Load(f.server) }})
	base := g.AdminURL()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("AdminURL %q", base)
	}
	c := enginetest.Login(t, g.Addr().String(), "127.0.0.1", "alice", "secret")
	for _, name := range []string{"a.txt", "b.txt"} {
		if err := c.Stor(name, strings.NewReader("x")); err != nil {
			t.Fatalf("STOR %s: %v", name, err)
		}
	}
	if err := c.Delete("a.txt"); err != nil {
		t.Fatalf("DELE before any policy: %v", err)
	}

	for _, r := range []struct {
		method, path, token string
		code                int
	}{
		{"PUT", "/v1/tenants/acme/policy", "wrong-token-wrong-token", 401},
		{"PUT", "/v1/tenants/other/policy", acmeToken, 401},
		{"GET", "/v1/stats", acmeToken, 401},
		{"POST", "/v1/reload", acmeToken, 401},
		{"GET", "/v1/tenants/other/policy", opToken, 404},
	} {
		if code, body := adminCall(t, r.method, base+r.path, r.token, testmod.Example()); code != r.code {
			t.Errorf("%s %s: %d %s, want %d", r.method, r.path, code, body, r.code)
		}
	}
	if code, body := adminCall(t, "PUT", base+"/v1/tenants/acme/policy", acmeToken, testmod.Example()); code != 200 {
		t.Fatalf("PUT as acme: %d %s", code, body)
	}
	var te *textproto.Error
	if err := c.Delete("b.txt"); !errors.As(err, &te) || te.Code != 550 || te.Msg != testmod.DenyMessage {
		t.Fatalf("DELE under the policy: %v, want 550 %s", err, testmod.DenyMessage)
	}
	if code, body := adminCall(t, "POST", base+"/v1/reload", opToken, nil); code != 200 {
		t.Fatalf("POST /v1/reload: %d %s", code, body)
	}
	records, _ := filepath.Glob(filepath.Join(f.dir, "policies", "tenants", "*.json"))
	if len(records) != 1 || filepath.Base(records[0]) != "acme.json" {
		t.Fatalf("policy.dir records %v, want acme's", records)
	}
}

// TestShutdownClosesAdmin: after Shutdown nothing listens on the admin
// API's address, and Run has returned.
func TestShutdownClosesAdmin(t *testing.T) {
	f := adminFiles(t)
	g, _ := newGateway(t, f, Options{})
	ran := runGateway(g)
	if code, body := adminCall(t, "GET", g.AdminURL()+"/v1/stats", opToken, nil); code != 200 {
		t.Fatalf("GET /v1/stats: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	addr := strings.TrimPrefix(g.AdminURL(), "http://")
	if conn, err := net.DialTimeout("tcp", addr, enginetest.Timeout); err == nil {
		conn.Close()
		t.Fatalf("the admin API still accepts on %s after Shutdown", addr)
	}
}

// TestStartPolicies: Options.Policies are in force from the first
// command (`serve --policy`), and a gateway without [admin] serves no
// admin API.
func TestStartPolicies(t *testing.T) {
	f := newFiles(t)
	f.write(t, fmt.Sprintf("[policy]\ndir = %q\n", filepath.Join(f.dir, "policies")), "")
	g := startWith(t, f, Options{Policies: []StartPolicy{{Tenant: "acme", Wasm: testmod.Example(), OnError: policy.OnErrorDeny}}})
	if g.AdminURL() != "" {
		t.Fatalf("AdminURL %q without [admin]", g.AdminURL())
	}
	c := enginetest.Login(t, g.Addr().String(), "127.0.0.1", "alice", "secret")
	if err := c.Stor("a.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	var te *textproto.Error
	if err := c.Delete("a.txt"); !errors.As(err, &te) || te.Code != 550 {
		t.Fatalf("DELE: %v, want the policy's 550", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "policies")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a start policy was stored, or the cache made a directory: %v", err)
	}
}

// TestAdminNeedsAToken: [admin] without an operator token of 16
// characters or more is refused at New, naming where the token comes from.
func TestAdminNeedsAToken(t *testing.T) {
	t.Setenv("FTPGATE_ADMIN_TOKEN", "short")
	f := newFiles(t)
	f.write(t, "[admin]\nlisten = \"127.0.0.1:0\"\n", "")
	cfg, err := Load(f.server)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), "FTPGATE_ADMIN_TOKEN") {
		if g != nil {
			_ = g.Shutdown(context.Background())
		}
		t.Fatalf("New: %v, want the token refused", err)
	}
}

// TestRestoreAfterRestart: a gateway on the policy.dir of one that took
// an upload restores it in the background: the policy's commands are
// refused with 451 while it loads, never let through, then it rules.
func TestRestoreAfterRestart(t *testing.T) {
	f := adminFiles(t)
	cfg, err := Load(f.server)
	if err != nil {
		t.Fatal(err)
	}
	first, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := adminCall(t, "PUT", first.AdminURL()+"/v1/tenants/acme/policy", acmeToken, testmod.Example()); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	f.write(t, "[policy]\ndir = \"policies\"\n", "") // no admin API this time
	g := startWith(t, f, Options{})
	c := enginetest.Login(t, g.Addr().String(), "127.0.0.1", "alice", "secret")
	// STOR and DELE are both the example's verbs: refused with 451 while
	// it loads, so the upload succeeds only once it is in.
	var te *textproto.Error
	for deadline := time.Now().Add(2 * time.Minute); ; {
		err := c.Stor("a.txt", strings.NewReader("x"))
		if err == nil {
			break
		}
		if !errors.As(err, &te) || te.Code != 451 || !strings.Contains(te.Msg, "being loaded") || time.Now().After(deadline) {
			t.Fatalf("STOR while the policy loads: %v, want 451 until it is in", err)
		}
	}
	if err := c.Delete("a.txt"); !errors.As(err, &te) || te.Code != 550 || te.Msg != testmod.DenyMessage {
		t.Fatalf("DELE after the restart: %v, want the restored policy's 550", err)
	}
}

// TestTenantBeforeLogin: with Options.Tenant (flag mode's one tenant) a
// session belongs to that tenant from its first command, so its policy
// rules on USER; InstallPolicies swaps the policy of a running gateway
// (a reload of `serve --policy`), and a module that does not compile
// leaves the running one.
func TestTenantBeforeLogin(t *testing.T) {
	f := newFiles(t)
	f.write(t, fmt.Sprintf("[policy]\ndir = %q\n", filepath.Join(f.dir, "policies")), "")
	refuseUSER := testmod.Respond(testmod.DenyResponse(550, "no logins today"), "USER")
	g := startWith(t, f, Options{Tenant: "acme", Policies: []StartPolicy{{Tenant: "acme", Wasm: refuseUSER}}})
	c, _, _ := enginetest.Dial(t, g.Addr().String(), "127.0.0.1")
	if msg := c.Expect("USER alice", 550); !strings.Contains(msg, "no logins today") {
		t.Fatalf("USER before login: %q", msg)
	}

	ctx := context.Background()
	if err := g.InstallPolicies(ctx, []StartPolicy{{Tenant: "acme", Wasm: []byte("not wasm")}}); err == nil {
		t.Fatal("InstallPolicies took a module that is not WebAssembly")
	}
	c.Expect("USER alice", 550)
	if err := g.InstallPolicies(ctx, []StartPolicy{{Tenant: "acme", Wasm: testmod.Example()}}); err != nil {
		t.Fatal(err)
	}
	c.Expect("USER alice", 331)
}
