package tenancy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftpgate/ftpgate/engine/enginetest"
)

// TestReloadDisablesUser: disabling a user closes her live session at
// once and refuses new logins; other sessions go on.
func TestReloadDisablesUser(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	alice := f.mustLogin("alice@acme", "acme-alice")
	bob := f.mustLogin("bob@acme", "acme-bob")
	galice := f.mustLogin("alice@globex", "globex-alice")

	f.writeFile("tenants/acme.toml", strings.Replace(acmeTOML(t, ""), `home = "/alice"`, "home = \"/alice\"\ndisabled = true", 1))
	if err := f.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	// Reload closes revoked sessions before it returns.
	if err := alice.NoOp(); err == nil {
		t.Fatal("disabled alice's session still answers")
	}
	if err := bob.NoOp(); err != nil {
		t.Fatalf("bob's session was dropped: %v", err)
	}
	if err := galice.NoOp(); err != nil {
		t.Fatalf("globex alice's session was dropped: %v", err)
	}
	if _, err := f.login("alice@acme", "acme-alice"); replyCode(err) != 530 {
		t.Fatalf("disabled alice logs in: %v", err)
	}

	// Disabling the tenant closes all its sessions.
	f.writeFile("tenants/acme.toml", "disabled = true\n"+acmeTOML(t, ""))
	if err := f.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := bob.NoOp(); err == nil {
		t.Fatal("bob's session survives his tenant's disabling")
	}
	if err := galice.NoOp(); err != nil {
		t.Fatalf("globex session dropped: %v", err)
	}
}

// TestReloadInvalidKeepsOld: a broken file is rejected whole and the old
// configuration stays in force.
func TestReloadInvalidKeepsOld(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	f.writeFile("tenants/globex.toml", globexTOML(t, "bogus_key = 1\n"))
	f.writeFile("tenants/acme.toml", strings.Replace(acmeTOML(t, ""), testHash(t, "acme-alice"), testHash(t, "new-pass"), 1))
	err := f.reload()
	if err == nil || !strings.Contains(err.Error(), "bogus_key") {
		t.Fatalf("reload of a broken config: %v, want an error naming bogus_key", err)
	}
	c := f.mustLogin("alice@acme", "acme-alice")
	if err := c.NoOp(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login("alice@acme", "new-pass"); replyCode(err) != 530 {
		t.Fatalf("half of a rejected reload applied: %v", err)
	}
}

// TestReloadUnderTransfer: a reload in the middle of an upload, which
// changes a password and adds a user, leaves the upload running and its
// file whole; the new password works at once.
func TestReloadUnderTransfer(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	c := f.mustLogin("alice@acme", "acme-alice")
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64*1024) // 1 MiB
	pr, pw := io.Pipe()
	stored := make(chan error, 1)
	go func() { stored <- c.Stor("big.bin", pr) }()
	if _, err := pw.Write(payload[:len(payload)/2]); err != nil {
		t.Fatal(err)
	}

	f.writeFile("tenants/acme.toml", strings.Replace(acmeTOML(t, ""), testHash(t, "acme-bob"), testHash(t, "bob-new"), 1))
	if err := f.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, err := pw.Write(payload[len(payload)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case err := <-stored:
		if err != nil {
			t.Fatalf("upload across a reload: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("upload did not finish")
	}
	got, err := os.ReadFile(filepath.Join(f.dir, "data/acme/alice/big.bin"))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("file after reload: %d bytes, %v; want %d whole", len(got), err, len(payload))
	}
	if _, err := f.login("bob@acme", "acme-bob"); replyCode(err) != 530 {
		t.Fatalf("old password after reload: %v", err)
	}
	f.mustLogin("bob@acme", "bob-new")
}

// TestSessionInfo: other plugins learn a session's tenant and user.
func TestSessionInfo(t *testing.T) {
	t.Parallel()
	f := standardFixture(t)
	f.mustLogin("bob@acme", "acme-bob")
	f.driver.mu.Lock()
	var found bool
	for _, s := range f.driver.sessions {
		if tn, u, ok := SessionInfo(s.cc); ok {
			found = tn == "acme" && u == "bob"
		}
	}
	f.driver.mu.Unlock()
	if !found {
		t.Fatal("SessionInfo does not report acme/bob")
	}
}

// TestAllowedCIDRs: a user allowed only from 10.0.0.0/8 cannot log in from
// loopback, even with the right password.
func TestAllowedCIDRs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{
		"server.toml": serverTOML(""),
		"tenants/acme.toml": strings.Replace(acmeTOML(t, ""), `home = "/alice"`,
			"home = \"/alice\"\nallowed_cidrs = [\"10.0.0.0/8\"]", 1),
	})
	if _, err := f.login("alice@acme", "acme-alice"); replyCode(err) != 530 {
		t.Fatalf("login from outside allowed_cidrs: %v, want 530", err)
	}
	f.mustLogin("bob@acme", "acme-bob")
}

// writeCert writes a self-signed certificate for cn to dir/name.pem and
// dir/name.key.
func writeCert(t *testing.T, dir, name, cn string) {
	t.Helper()
	cert := enginetest.Certificate(t, cn)
	der, key := cert.Certificate[0], cert.PrivateKey.(*ecdsa.PrivateKey)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSNI: the TLS server name picks the tenant's certificate and the
// tenant; a HOST naming another tenant after it gets 504.
func TestSNI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert(t, dir, "default", "default.test")
	writeCert(t, dir, "acme", "ftp.acme.test")
	f := newFixture(t, map[string]string{
		"server.toml": serverTOML("[tls]\ncert = " + `"` + filepath.Join(dir, "default.pem") + `"` + "\nkey = " + `"` + filepath.Join(dir, "default.key") + `"` + "\n"),
		"tenants/acme.toml": acmeTOML(t, "[[certificates]]\nhostname = \"ftp.acme.test\"\ncert = \""+
			filepath.Join(dir, "acme.pem")+"\"\nkey = \""+filepath.Join(dir, "acme.key")+"\"\n"),
		"tenants/globex.toml": globexTOML(t, ""),
	})
	for _, tc := range []struct{ sni, wantCN string }{
		{"ftp.acme.test", "ftp.acme.test"},
		{"ftp.globex.test", "default.test"},
	} {
		c, err := ftp.Dial(f.addr, ftp.DialWithTimeout(5*time.Second),
			ftp.DialWithExplicitTLS(&tls.Config{ServerName: tc.sni, InsecureSkipVerify: true,
				VerifyConnection: func(cs tls.ConnectionState) error {
					if cn := cs.PeerCertificates[0].Subject.CommonName; cn != tc.wantCN {
						t.Errorf("SNI %s: certificate %s, want %s", tc.sni, cn, tc.wantCN)
					}
					return nil
				}}))
		if err != nil {
			t.Fatalf("dial with SNI %s: %v", tc.sni, err)
		}
		// SNI alone chooses the tenant: plain "alice" is globex's alice
		// under SNI ftp.globex.test.
		pass := map[string]string{"ftp.acme.test": "acme-alice", "ftp.globex.test": "globex-alice"}[tc.sni]
		if err := c.Login("alice", pass); err != nil {
			t.Errorf("login under SNI %s: %v", tc.sni, err)
		}
		_ = c.Quit()
	}

	// HOST after a TLS handshake naming another tenant.
	c := f.dialRaw()
	if code, msg := c.cmd("AUTH TLS"); code != 234 {
		t.Fatalf("AUTH TLS: %d %s", code, msg)
	}
	c.startTLS(&tls.Config{ServerName: "ftp.acme.test", InsecureSkipVerify: true})
	if code, msg := c.cmd("HOST ftp.globex.test"); code != 504 {
		t.Fatalf("HOST globex under SNI acme: %d %s, want 504", code, msg)
	}
	if code, msg := c.cmd("HOST ftp.acme.test"); code != 220 {
		t.Fatalf("HOST acme under SNI acme: %d %s, want 220", code, msg)
	}
}
