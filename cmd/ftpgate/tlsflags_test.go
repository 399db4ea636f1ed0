package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway"
)

func TestHardeningFlagErrors(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--passive-multiplex"}, "--passive-multiplex: needs --passive-ports"},
		{[]string{"--tls-ciphers", "TLS_RSA_WITH_RC4_128_SHA"}, "TLS_RSA_WITH_RC4_128_SHA is insecure"},
		{[]string{"--tls-ciphers", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"}, "is insecure"},
		{[]string{"--tls-ciphers", "TLS_AES_128_GCM_SHA256"}, "TLS 1.3 suite"},
		{[]string{"--tls-ciphers", "TLS_NOPE"}, `unknown cipher suite "TLS_NOPE"`},
		{[]string{"--tls-ciphers", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,"}, "empty name"},
		{[]string{"--tls-ciphers", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}, "listed twice"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"serve", "--root", root, "--listen", "127.0.0.1:0"}, tc.args...)
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr.String(), tc.msg)
		}
	}
}

func TestHardeningFlagsReachTheConfig(t *testing.T) {
	t.Parallel()
	ciphers := "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 , TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
	cfg, err := flagConfig([]string{"--tls-session-reuse", "--passive-ports", "50000-50010", "--passive-multiplex", "--tls-ciphers", ciphers})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TLS.SessionReuse || !cfg.Passive.Multiplex || cfg.Passive.Ports == nil || cfg.Passive.Ports.Start != 50000 || cfg.Passive.Ports.End != 50010 {
		t.Fatalf("tls %+v, passive %+v", cfg.TLS, cfg.Passive)
	}
	ids, err := gateway.ParseCipherList(strings.Join(cfg.TLS.Ciphers, ","))
	want := []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
	if err != nil || !slices.Equal(ids, want) {
		t.Fatalf("ciphers %v (%v), want %v", ids, err, want)
	}

	// Without the flags nothing changes.
	cfg, err = flagConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.SessionReuse || cfg.Passive.Multiplex || cfg.TLS.ClientCA != "" {
		t.Fatal("hardening on by default")
	}
}

func TestCiphersThatCannotUseTheKeyExitOne(t *testing.T) {
	t.Parallel()
	// The self-signed certificate has an ECDSA key.
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--root", t.TempDir(), "--listen", "127.0.0.1:0",
		"--tls-ciphers", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "no suite in the list fits the certificate's ecdsa key") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestServeCipherListIsEnforced(t *testing.T) {
	t.Parallel()
	rs := startServe(t, "--root", t.TempDir(), "--user", "u:p", "--tls-ciphers", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
	handshake := func(suites []uint16) (uint16, error) {
		tc := tls.Client(authTLS(t, rs.addr), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: suites})
		err := tc.Handshake()
		return tc.ConnectionState().CipherSuite, err
	}
	if got, err := handshake(nil); err != nil || got != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Fatalf("TLS 1.2 handshake: suite %s, %v", tls.CipherSuiteName(got), err)
	}
	if _, err := handshake([]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}); err == nil {
		t.Fatal("a suite outside --tls-ciphers was accepted")
	}
}

// authTLS dials the server, sends AUTH TLS and returns the connection,
// ready for the client's handshake.
func authTLS(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	// The server sends nothing after 234 until the handshake, so the
	// reader buffers nothing that the TLS client would miss.
	tp := textproto.NewConn(nc)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	if err := tp.PrintfLine("AUTH TLS"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tp.ReadResponse(234); err != nil {
		t.Fatal(err)
	}
	return nc
}

// testPKI is a CA and client certificates it signed, as PEM files.
type testPKI struct {
	dir    string
	caFile string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ftpgate test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key}
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	return p
}

// client makes a client certificate for cn, signed by the CA (or
// self-signed when selfSigned), and returns it with its PEM files.
func (p *testPKI) client(t *testing.T, cn string, selfSigned bool) (cert tls.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	parent, signer := p.ca, p.caKey
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, cn+"-cert.pem")
	keyFile = filepath.Join(p.dir, cn+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certFile, keyFile
}

func writePEM(t *testing.T, name, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestServeClientCertificateLogin(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	rs := startServe(t, "--root", t.TempDir(), "--user", "alice:pw", "--user", "bob:pw2", "--tls-client-ca", pki.caFile)
	alice, _, _ := pki.client(t, "alice", false)
	forged, _, _ := pki.client(t, "alice-selfsigned", true)

	login := func(cert *tls.Certificate, user string) (*ftpConn, error) {
		nc := authTLS(t, rs.addr)
		cfg := &tls.Config{InsecureSkipVerify: true}
		if cert != nil {
			// Sent whatever CAs the server names, as a forger would.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		tc := tls.Client(nc, cfg)
		if err := tc.Handshake(); err != nil {
			return nil, err
		}
		_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
		c2 := &ftpConn{t, textproto.NewConn(tc)}
		// Over TLS 1.3 the client's handshake ends before the server
		// has checked the certificate; the first reply shows a refusal.
		if err := c2.PrintfLine("USER %s", user); err != nil {
			return nil, err
		}
		return c2, nil
	}

	// Alice's certificate logs her in at USER, without a password.
	c, err := login(&alice, "alice")
	if err != nil {
		t.Fatal(err)
	}
	c.expect(232, "")
	c.expect(257, "PWD")

	// The certificate names alice, not bob: bob needs his password.
	c, err = login(&alice, "bob")
	if err != nil {
		t.Fatal(err)
	}
	c.expect(331, "")
	c.expect(530, "PASS wrong")

	// No certificate: a password login as usual.
	c, err = login(nil, "alice")
	if err != nil {
		t.Fatal(err)
	}
	c.expect(331, "")
	c.expect(230, "PASS pw")

	// A certificate the CA did not sign ends the handshake.
	c, err = login(&forged, "alice")
	if err == nil {
		_, _, err = c.ReadResponse(0)
	}
	if err == nil {
		t.Fatal("a certificate outside --tls-client-ca was accepted")
	}
}

func FuzzParseCipherList(f *testing.F) {
	f.Add("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
	f.Add("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")
	f.Add("TLS_RSA_WITH_RC4_128_SHA")
	f.Add("TLS_AES_128_GCM_SHA256,,")
	f.Add("")
	f.Fuzz(func(t *testing.T, list string) {
		ids, err := gateway.ParseCipherList(list)
		if err != nil {
			return
		}
		if len(ids) == 0 {
			t.Fatalf("%q: no error and no suites", list)
		}
		for _, id := range ids {
			ok := false
			for _, cs := range tls.CipherSuites() {
				if cs.ID == id && slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("%q: accepted %s", list, tls.CipherSuiteName(id))
			}
		}
	})
}

// certLogin opens a TLS control connection to addr with cert (nil: none)
// and sends USER user; the reply is the caller's to read.
func certLogin(t *testing.T, addr string, cert *tls.Certificate, user string) *ftpConn {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tc := tls.Client(authTLS(t, addr), cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &ftpConn{t, textproto.NewConn(tc)}
	if err := c.PrintfLine("USER %s", user); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConfigClientCertificateStaysInItsTenant: with tls.client_ca, a
// certificate naming "alice" logs in the default tenant's alice only;
// acme's alice needs one naming "alice@acme", or her password.
func TestConfigClientCertificateStaysInItsTenant(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tenants"), 0o700); err != nil {
		t.Fatal(err)
	}
	server := fmt.Sprintf("[listen]\ncontrol = \"127.0.0.1:0\"\n[log]\nlevel = \"error\"\n[tls]\nclient_ca = %q\n[timeouts]\nlogin_failure_delay = \"0s\"\n[tenants]\ndir = \"tenants\"\ndefault = \"main\"\n", pki.caFile)
	files := map[string]string{"server.toml": server}
	for _, id := range []string{"main", "acme"} {
		if err := os.Mkdir(filepath.Join(dir, id), 0o700); err != nil {
			t.Fatal(err)
		}
		files[filepath.Join("tenants", id+".toml")] = fmt.Sprintf("id = %q\n[storage]\nbackend = \"os\"\ndir = %q\n[[users]]\nname = \"alice\"\npassword = %q\n",
			id, filepath.Join(dir, id), itHash(t, "pw-"+id))
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rs := startServeArgs(t, "--config", filepath.Join(dir, "server.toml"))
	alice, _, _ := pki.client(t, "alice", false)
	acmeAlice, _, _ := pki.client(t, "alice@acme", false)

	certLogin(t, rs.addr, &alice, "alice").expect(232, "")
	c := certLogin(t, rs.addr, &alice, "alice@acme")
	c.expect(331, "")
	c.expect(530, "PASS pw-main")
	c = certLogin(t, rs.addr, &acmeAlice, "alice@acme")
	c.expect(232, "")
	c.expect(257, "PWD")
	c = certLogin(t, rs.addr, &acmeAlice, "alice")
	c.expect(331, "")
	c.expect(230, "PASS pw-main")
}
