package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jlaffaye/ftp"

	"github.com/ftpgate/ftpgate/policy/policytest"
)

var policyBuilder policytest.Builder

// TestServeConfigPolicySeesTheResolvedUser: a tenant's policy that
// refuses the user bob refuses him whether he logs in as bob@acme
// (jlaffaye/ftp) or as bob after HOST (python's ftplib), and lets alice
// through; the policy sees the resolved user, not the login text.
func TestServeConfigPolicySeesTheResolvedUser(t *testing.T) {
	python := requireTool(t, "python3")
	wasm := policyBuilder.Build(t, "testdata/policies/deny-bob")
	dir := t.TempDir()
	writeTenantConfig(t, dir, "")
	const acmeToken = "acme-admin-token-0123456789"
	sum := sha256.Sum256([]byte(acmeToken))
	acmeFile := filepath.Join(dir, "tenants/acme.toml")
	old, err := os.ReadFile(acmeFile)
	if err != nil {
		t.Fatal(err)
	}
	acme := "admin_token_sha256 = \"" + hex.EncodeToString(sum[:]) + "\"\n" + string(old) +
		fmt.Sprintf("[[users]]\nname = \"bob\"\npassword = %q\n", itHash(t, "bob-pw"))
	if err := os.WriteFile(acmeFile, []byte(acme), 0o644); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "operator.token")
	if err := os.WriteFile(tokenFile, []byte("operator-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ftpAddr, admin := startServeWithAdmin(t, "--config", filepath.Join(dir, "server.toml"), "--policy-timeout", "5s", // a Go guest under -race on a loaded runner
		"--admin-listen", "127.0.0.1:0", "--admin-token-file", tokenFile, "--policy-dir", filepath.Join(dir, "policies"))
	if code, body := adminDo(t, http.MethodPut, admin+"/v1/tenants/acme/policy", acmeToken, wasm); code/100 != 2 {
		t.Fatalf("policy upload: %d %s", code, body)
	}

	store := func(login, pass string) error {
		t.Helper()
		c, err := ftp.Dial(ftpAddr, ftp.DialWithTimeout(itTimeout))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		if err := c.Login(login, pass); err != nil {
			t.Fatalf("%s: login: %v", login, err)
		}
		return c.Stor("f.txt", strings.NewReader("x"))
	}
	var te *textproto.Error
	if err := store("bob@acme", "bob-pw"); !errors.As(err, &te) || te.Code != 550 || te.Msg != "bob may not use this server." {
		t.Fatalf("bob@acme: STOR %v, want the policy's 550", err)
	}
	if err := store("alice@acme", "acme-pw"); err != nil {
		t.Fatalf("alice@acme: STOR %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data/acme/f.txt")); err != nil {
		t.Fatalf("alice's upload: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "data/acme/f.txt")); err != nil {
		t.Fatal(err)
	}

	script, err := filepath.Abs(filepath.Join("testdata", "ftplib_host_login.py"))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ftpAddr)
	out := runClient(t, python, script, host, port, "ftp.acme.test", "bob", "bob-pw")
	if !strings.Contains(out, "refused 550 bob may not use this server.") || !strings.Contains(out, "ok quit") {
		t.Fatalf("bob after HOST ftp.acme.test:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data/acme/f.txt")); !os.IsNotExist(err) {
		t.Fatalf("bob's upload reached the disk: %v", err)
	}
}
