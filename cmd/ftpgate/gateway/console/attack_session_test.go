package console_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/console"
)

// startReloadable is a gateway whose reload re-reads the files in dir
// (returned), so a test can rotate a tenant's admin token.
func startReloadable(t *testing.T) (*fixture, string) {
	t.Helper()
	return run(t, map[string]string{
		"token": opToken + "\n",
		"server.toml": "[listen]\ncontrol = \"127.0.0.1:0\"\n[tenants]\ndir = \"tenants\"\ndefault = \"acme\"\n" +
			"[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"token\"\nconsole = true\n",
		"tenants/acme.toml":   tenantFile("acme", acmeToken, ""),
		"tenants/globex.toml": tenantFile("globex", globexToken, ""),
	}, true)
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
	if err := os.WriteFile(filepath.Join(dir, "tenants/acme.toml"), []byte(tenantFile("acme", "acme-new-token-0123456789", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.Reread(); err != nil {
		t.Fatal(err)
	}
	if code := f.api(t, "/v1/tenants/acme/sessions", acmeToken, ""); code != http.StatusUnauthorized {
		t.Fatalf("API with the old token after the rotation: %d", code)
	}
	if r := b.get("/console/t/acme/"); r.StatusCode == http.StatusOK {
		t.Fatalf("console session of the old token after the rotation: %d, still open", r.StatusCode)
	}
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
