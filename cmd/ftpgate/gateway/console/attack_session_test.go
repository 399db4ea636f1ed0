package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/console"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/policy/policytest/testmod"
)

// startReloadable is start's gateway with a reload that re-reads the
// files in dir (returned), so a test can rotate a tenant's admin token.
func startReloadable(t *testing.T) (*fixture, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tenants"), 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"token": opToken + "\n",
		"server.toml": "[listen]\ncontrol = \"127.0.0.1:0\"\n[tenants]\ndir = \"tenants\"\ndefault = \"acme\"\n" +
			"[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\nconsole = true\n",
		"tenants/acme.toml":   tenantFile("acme", acmeToken),
		"tenants/globex.toml": tenantFile("globex", globexToken),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func() (gateway.Config, error) { return gateway.Load(filepath.Join(dir, "server.toml")) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler), Reread: load})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- g.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	enginetest.Eventually(t, "the gateway is ready", func() bool { return g.Ready() == nil })
	return &fixture{g: g, base: g.AdminURL(), addr: g.Addr().String()}, dir
}

func tenantFile(id, token string) string {
	s := sha256.Sum256([]byte(token))
	return fmt.Sprintf("id = %q\nadmin_token_sha256 = %q\n[storage]\nbackend = \"memory\"\n", id, hex.EncodeToString(s[:]))
}

// TestAttackConsoleTenantCannotEvictOperator: a tenant's admin who logs
// in again and again (DefaultMaxSessions times and more) ends only its
// own older console sessions, never the operator's or another tenant's.
func TestAttackConsoleTenantCannotEvictOperator(t *testing.T) {
	f := start(t)
	op := f.browser(t)
	op.login("", opToken)
	other := f.browser(t)
	other.login("globex", globexToken)
	for range console.DefaultMaxSessions + 2 {
		f.browser(t).login("acme", acmeToken)
	}
	if r := op.get("/console/overview"); r.StatusCode != http.StatusOK {
		t.Fatalf("the operator's console session after a tenant's %d logins: %d %s", console.DefaultMaxSessions+2, r.StatusCode, r.Header.Get("Location"))
	}
	if r := other.get("/console/t/globex/"); r.StatusCode != http.StatusOK {
		t.Fatalf("globex's console session after acme's logins: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

// TestAttackConsoleTokenRotationEndsSessions: when a tenant's admin
// token is changed (the leaked-token response) and the configuration
// reloaded, the API refuses the old token and so does the console: a
// console session opened with the old token opens nothing any more.
func TestAttackConsoleTokenRotationEndsSessions(t *testing.T) {
	f, dir := startReloadable(t)
	b := f.browser(t)
	b.login("acme", acmeToken)
	if r := b.get("/console/t/acme/"); r.StatusCode != http.StatusOK {
		t.Fatalf("before the rotation: %d", r.StatusCode)
	}
	if err := os.WriteFile(filepath.Join(dir, "tenants/acme.toml"), []byte(tenantFile("acme", "acme-new-token-0123456789")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.Reread(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.base+"/v1/tenants/acme/sessions", nil)
	req.Header.Set("Authorization", "Bearer "+acmeToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API with the old token after the rotation: %d", resp.StatusCode)
	}
	if r := b.get("/console/t/acme/"); r.StatusCode == http.StatusOK {
		t.Fatalf("console session of the old token after the rotation: %d, still open", r.StatusCode)
	}
}

// check uploads the example module for a dry run on tenant's policy page.
func (b *browser) check(tenant string) reply {
	b.t.Helper()
	token := b.csrf("/console/t/" + tenant + "/policy")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", token)
	fw, _ := mw.CreateFormFile("module", "example.wasm")
	_, _ = fw.Write(testmod.Example())
	_ = mw.WriteField("on_error", "deny")
	_ = mw.WriteField("verb", "DELE")
	_ = mw.WriteField("path", "/x")
	_ = mw.Close()
	r := b.do("POST", "/console/t/"+tenant+"/policy/check", &body, mw.FormDataContentType(), nil)
	if r.StatusCode != 200 || !strings.Contains(r.body, `id="install"`) {
		b.t.Fatalf("check: %d %q", r.StatusCode, r.body)
	}
	return r
}

// TestAttackConsoleTenantCannotDropOthersCheckedModule: the checked
// modules waiting for their install are bounded over all sessions; a
// tenant's admin checking module after module from many sessions drops
// its own older ones, never the module the operator checked.
func TestAttackConsoleTenantCannotDropOthersCheckedModule(t *testing.T) {
	f := start(t)
	op := f.browser(t)
	op.login("", opToken)
	op.check("globex")
	for range 6 {
		b := f.browser(t)
		b.login("acme", acmeToken)
		b.check("acme")
	}
	if r := op.get("/console/t/globex/policy"); !strings.Contains(r.body, `id="install"`) {
		t.Fatalf("the operator's checked module after acme's checks: gone (%d)", r.StatusCode)
	}
}
