package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpgate/ftpgate/policy/policytest"
	"github.com/jlaffaye/ftp"
)

// symlinkPolicyBuilder builds the example policies once per test binary.
var symlinkPolicyBuilder policytest.Builder

// TestReadOnlyPathsPolicyAndLinks: with the shipped read-only-paths policy
// and a user with every right of "all" (the shipped example tenants'
// alice), `SITE SYMLINK / /r` no longer opens /archive to writes through
// /r: making links needs the symlink right, which "all" does not grant;
// so STOR and DELE through /r fail and the archived file is unchanged.
// (For users granted the symlink right, the policy sees the path the
// operation reaches through tenancy.Driver.TenantPath.)
func TestReadOnlyPathsPolicyAndLinks(t *testing.T) {
	t.Parallel()
	t.Run("all", func(t *testing.T) { t.Parallel(); readOnlyPathsThroughLinks(t, false) })
	// With the symlink right the link is made, and the policy judges the
	// path an operation reaches (tenancy.Driver.TenantPath): /archive.
	t.Run("symlink-right", func(t *testing.T) { t.Parallel(); readOnlyPathsThroughLinks(t, true) })
}

// readOnlyPathsThroughLinks runs the attack of issue 11 item 3 with or
// without the symlink right granted to alice.
func readOnlyPathsThroughLinks(t *testing.T, symlinkRight bool) {
	dir := t.TempDir()
	writeTenantConfig(t, dir, "")
	const token = "acme-admin-token-for-links-0123"
	acmeFile := filepath.Join(dir, "tenants/acme.toml")
	old, err := os.ReadFile(acmeFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(token))
	content := append([]byte("admin_token_sha256 = \""+hex.EncodeToString(sum[:])+"\"\n"), old...)
	if symlinkRight {
		content = append(content, "[[users.permissions]]\nprefix = \"/\"\nallow = [\"all\", \"symlink\"]\n"...)
	}
	if err := os.WriteFile(acmeFile, content, 0o644); err != nil {
		t.Fatal(err)
	}
	archived := filepath.Join(dir, "data/acme/archive/record.txt")
	if err := os.MkdirAll(filepath.Dir(archived), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archived, []byte("the record"), 0o644); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "operator.token")
	if err := os.WriteFile(tokenFile, []byte("operator-token-for-links-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ftpAddr, admin := startServeWithAdmin(t, "--config", filepath.Join(dir, "server.toml"), "--policy-timeout", "5s", // a Go guest under -race on a loaded runner
		"--admin-listen", "127.0.0.1:0", "--admin-token-file", tokenFile, "--policy-dir", filepath.Join(dir, "policies"))
	if symlinkRight {
		// The link is made before the policy is installed (the policy
		// would refuse it): what it guards must still hold through it.
		pre := dialFTP(t, ftpAddr)
		pre.expect(331, "USER alice@acme")
		pre.expect(230, "PASS acme-pw")
		pre.expect(200, "SITE SYMLINK / /r")
	}
	wasm := symlinkPolicyBuilder.Build(t, "../../examples/policies/read-only-paths")
	if code, body := adminDo(t, http.MethodPut, admin+"/v1/tenants/acme/policy", token, wasm); code/100 != 2 {
		t.Fatalf("upload of read-only-paths: %d %s", code, body)
	}
	c, err := ftp.Dial(ftpAddr, ftp.DialWithTimeout(itTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("alice@acme", "acme-pw"); err != nil {
		t.Fatal(err)
	}
	// The policy itself, directly.
	if err := c.Stor("/archive/record.txt", strings.NewReader("overwritten")); ftpCode(err) != 550 {
		t.Fatalf("STOR /archive/record.txt: %v, want 550 from the policy", err)
	}
	// And through a link to the root.
	raw := dialFTP(t, ftpAddr)
	raw.expect(331, "USER alice@acme")
	raw.expect(230, "PASS acme-pw")
	raw.expect(550, "SITE SYMLINK / /r2")
	raw.expect(550, "SITE SYMLINK /archive /a2")
	if err := c.Stor("/r/archive/record.txt", strings.NewReader("overwritten")); err == nil {
		t.Error("STOR /r/archive/record.txt succeeded")
	}
	if err := c.Delete("/r/archive/record.txt"); err == nil {
		t.Error("DELE /r/archive/record.txt succeeded")
	}
	if b, err := os.ReadFile(archived); err != nil || string(b) != "the record" {
		t.Fatalf("archived file: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "data/acme/r")); !symlinkRight && !os.IsNotExist(err) {
		t.Fatalf("a link /r exists: %v", err)
	}
	r, err := c.Retr("/archive/record.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, _ := io.ReadAll(r); string(b) != "the record" {
		t.Fatalf("RETR: %q", b)
	}
}
