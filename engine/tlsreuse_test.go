package engine

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// tlsClient is a control connection after AUTH TLS with PROT P, whose data
// connections use dataConfig.
type tlsClient struct {
	*rawClient
	config *tls.Config
}

// loginTLS connects, upgrades with AUTH TLS using cfg, logs in and asks
// for protected data connections.
func (ts *testServer) loginTLS(t *testing.T, cfg *tls.Config) *tlsClient {
	t.Helper()
	c := ts.dial(t)
	c.expect("AUTH TLS", 234)
	tconn := tls.Client(c.conn, cfg)
	if err := tconn.Handshake(); err != nil {
		t.Fatalf("control handshake: %v", err)
	}
	c.conn, c.r = tconn, bufio.NewReader(tconn)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	c.expect("PBSZ 0", 200)
	c.expect("PROT P", 200)
	return &tlsClient{rawClient: c, config: cfg}
}

// retrTLS downloads name over a TLS data connection made with cfg and
// returns the bytes, or the reply code that refused the transfer.
func (c *tlsClient) retrTLS(name string, cfg *tls.Config) ([]byte, int) {
	c.t.Helper()
	m := epsvReply.FindStringSubmatch(c.expect("EPSV", 229))
	port, _ := strconv.Atoi(m[1])
	raw := c.dialData(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	c.expect("RETR "+name, 150)
	data := tls.Client(raw, cfg)
	_ = data.SetDeadline(time.Now().Add(10 * time.Second))
	body, err := io.ReadAll(data)
	code, text := c.read()
	if code != 226 {
		return nil, code
	}
	if err != nil {
		c.t.Fatalf("226 (%s) but reading failed: %v", text, err)
	}
	return body, code
}

// clientTLS returns a client configuration with its own session cache.
func clientTLS(version uint16) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, // the test server's certificate is self-signed
		ServerName:         "localhost",
		ClientSessionCache: tls.NewLRUClientSessionCache(8),
		MinVersion:         version,
		MaxVersion:         version,
	}
}

func TestTLSSessionReuseRequired(t *testing.T) {
	t.Parallel()
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, withTLS(), withSettings(func(st *Settings) { st.RequireTLSSessionReuse = true }))
			_ = afero.WriteFile(ts.driver.fs, "/f", []byte("secret"), 0o644)

			alice := ts.loginTLS(t, clientTLS(version))
			for i := range 3 {
				// The data connection resumes the control connection's
				// session, as lftp and curl do.
				if got, code := alice.retrTLS("f", alice.config); code != 226 || string(got) != "secret" {
					t.Fatalf("resumed transfer %d: %d %q", i, code, got)
				}
			}

			// A data connection with a fresh TLS session is refused.
			if _, code := alice.retrTLS("f", clientTLS(version)); code != 522 {
				t.Fatalf("fresh TLS session on the data connection: got %d, want 522", code)
			}

			// Bob presents Alice's session on his data connection: it
			// comes from another control connection and does not count.
			bob := ts.loginTLS(t, clientTLS(version))
			if _, code := bob.retrTLS("f", alice.config); code != 522 {
				t.Fatalf("another session's TLS session: got %d, want 522", code)
			}
			if got, code := bob.retrTLS("f", bob.config); code != 226 || string(got) != "secret" {
				t.Fatalf("bob's own resumed session: %d %q", code, got)
			}
		})
	}
}

func TestTLSSessionReuseOffAcceptsFreshSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS())
	_ = afero.WriteFile(ts.driver.fs, "/f", []byte("open"), 0o644)
	c := ts.loginTLS(t, clientTLS(tls.VersionTLS13))
	if got, code := c.retrTLS("f", clientTLS(tls.VersionTLS13)); code != 226 || string(got) != "open" {
		t.Fatalf("fresh session with reuse off: %d %q", code, got)
	}
}

func TestTLSBelow12IsRefusedEvenIfTheDriverAllowsIt(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS(), func(d *testDriver, _ *Server) { d.tlsConfig.MinVersion = tls.VersionTLS10 })
	c := ts.dial(t)
	c.expect("AUTH TLS", 234)
	cfg := clientTLS(tls.VersionTLS11)
	if err := tls.Client(c.conn, cfg).Handshake(); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

// certDriver logs users in by client certificate: the certificate's
// common name must equal the user name.
type certDriver struct {
	*testDriver
}

func (d *certDriver) VerifyTLSClient(_ ClientContext, user string, state tls.ConnectionState) (ClientDriver, error) {
	if len(state.PeerCertificates) == 0 {
		return nil, nil // no certificate: ask for a password
	}
	if state.PeerCertificates[0].Subject.CommonName != user {
		return nil, Refuse(530, "Certificate does not match the user.")
	}
	return d.fs, nil
}

// clientCertificate makes a self-signed client certificate for name.
func clientCertificate(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestClientCertificateLogin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS(), func(d *testDriver, srv *Server) {
		// The test's certificates are self-signed: ask for one without
		// verifying its chain; certDriver decides.
		d.tlsConfig.ClientAuth = tls.RequireAnyClientCert
		srv.Driver = &certDriver{testDriver: d}
	})
	for _, tc := range []struct {
		user string
		cert string
		code int
	}{
		{"test", "test", 232}, // the certificate names the user: no password
		{"test", "mallory", 530},
	} {
		t.Run(fmt.Sprintf("%s with %s", tc.user, tc.cert), func(t *testing.T) {
			c := ts.dial(t)
			c.expect("AUTH TLS", 234)
			cfg := clientTLS(tls.VersionTLS13)
			cfg.Certificates = []tls.Certificate{clientCertificate(t, tc.cert)}
			tconn := tls.Client(c.conn, cfg)
			if err := tconn.Handshake(); err != nil {
				t.Fatal(err)
			}
			c.conn, c.r = tconn, bufio.NewReader(tconn)
			c.expect("USER "+tc.user, tc.code)
			if tc.code == 232 {
				c.expect("PWD", 257)
			} else {
				c.expect("PWD", 530)
			}
		})
	}
}

func TestClientCertificateVerifierAsksForPasswordWithoutCertificate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS(), func(d *testDriver, srv *Server) {
		d.tlsConfig.ClientAuth = tls.RequestClientCert
		srv.Driver = &certDriver{testDriver: d}
	})
	c := ts.loginTLS(t, clientTLS(tls.VersionTLS13)) // USER gets 331, PASS 230
	c.expect("PWD", 257)
}
