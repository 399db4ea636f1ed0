package engine

import (
	"crypto/tls"
	"io"
	"testing"
	"time"
)

// The TLS 1.2 cipher list is the driver's tls.Config.CipherSuites, on the
// control connection and on data connections alike.
func TestDriverCipherListAppliesToControlAndData(t *testing.T) {
	t.Parallel()
	const only = tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
	ts := newTestServer(t, withTLS(), func(d *testDriver, _ *Server) {
		d.tlsConfig.CipherSuites = []uint16{only}
	})
	ptWriteFile(t, ts.driver.fs, "/f", []byte("ciphered"))
	tls12 := func(suites ...uint16) *tls.Config {
		cfg := clientTLSConfig()
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = suites
		return cfg
	}

	// A client that offers only another suite cannot connect.
	c := ts.dial(t)
	c.expect("AUTH TLS", 234)
	tc := tls.Client(c.conn, tls12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256))
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err == nil {
		t.Fatal("a suite outside the driver's list was negotiated")
	}

	c = ts.dialExplicitTLS(t, "TLS", tls12())
	if got := c.conn.(*tls.Conn).ConnectionState().CipherSuite; got != only {
		t.Fatalf("control connection suite %s", tls.CipherSuiteName(got))
	}
	c.protectedLogin()
	data := c.dataTLS(tls12())
	c.expect("RETR f", 150)
	b, err := io.ReadAll(data)
	if err != nil || string(b) != "ciphered" {
		t.Fatalf("RETR over TLS: %q, %v", b, err)
	}
	c.expectRead(226)
	if got := data.ConnectionState().CipherSuite; got != only {
		t.Fatalf("data connection suite %s", tls.CipherSuiteName(got))
	}
}
