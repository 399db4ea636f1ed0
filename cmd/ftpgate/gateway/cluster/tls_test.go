package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/cmd/ftpgate/gateway/cluster/redistest"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redis test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestRuntimeTLSAndPassword (real redis-server): over TLS with the CA of
// tls_ca and the password of $FTPGATE_REDIS_PASSWORD the calls succeed;
// without the CA (the system's roots) or without the password they fail.
func TestRuntimeTLSAndPassword(t *testing.T) {
	cert, key := writeCert(t)
	srv := redistest.StartTLS(t, cert, key, "--requirepass", "long-test-password")
	ctx := context.Background()
	t.Setenv(PasswordEnv, "long-test-password")
	good := newRuntime(t, srv.Addr(), "a", func(c *Config) { c.TLS, c.TLSCA = true, cert })
	if err := good.Client(Bans).Ping(ctx).Err(); err != nil {
		t.Fatalf("TLS with the CA and the password: %v", err)
	}
	noCA := newRuntime(t, srv.Addr(), "b", func(c *Config) { c.TLS = true })
	if err := noCA.Client(Bans).Ping(ctx).Err(); err == nil {
		t.Fatal("TLS without the CA: the server's certificate was accepted")
	}
	plain := newRuntime(t, srv.Addr(), "c")
	if err := plain.Client(Bans).Ping(ctx).Err(); err == nil {
		t.Fatal("plain TCP to a TLS port succeeded")
	}
	t.Setenv(PasswordEnv, "")
	noPW := newRuntime(t, srv.Addr(), "d", func(c *Config) { c.TLS, c.TLSCA = true, cert })
	if err := noPW.Client(Bans).Ping(ctx).Err(); err == nil {
		t.Fatal("no password: accepted")
	}
}
