package engine

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// lastContext returns the ClientContext of the driver's latest connection.
func (ts *testServer) lastContext(t testing.TB) ClientContext {
	t.Helper()
	ts.driver.mu.Lock()
	defer ts.driver.mu.Unlock()
	if len(ts.driver.contexts) == 0 {
		t.Fatal("no connection reached the driver")
	}
	return ts.driver.contexts[len(ts.driver.contexts)-1]
}

// dialExplicitTLS connects, upgrades with AUTH TLS and returns the client
// before login.
func (ts *testServer) dialExplicitTLS(t testing.TB, mech string, cfg *tls.Config) *rawClient {
	t.Helper()
	c := ts.dial(t)
	c.expect("AUTH "+mech, 234)
	c.startTLS(cfg)
	return c
}

// dialImplicitTLS connects to an implicit-TLS address and reads the banner.
func dialImplicitTLS(t testing.TB, addr string, cfg *tls.Config) *rawClient {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("implicit TLS dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expectRead(220)
	return c
}

// protectedLogin sends PBSZ 0, PROT P and logs in.
func (c *rawClient) protectedLogin() {
	c.t.Helper()
	if text := c.expect("PBSZ 0", 200); text != "PBSZ=0" {
		c.t.Fatalf("PBSZ reply %q", text)
	}
	c.expect("PROT P", 200)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
}

// dataTLS opens an EPSV data connection and wraps it in TLS; the
// handshake runs on first use, once the server accepted.
func (c *rawClient) dataTLS(cfg *tls.Config) *tls.Conn {
	c.t.Helper()
	tc := tls.Client(c.epsv(), cfg)
	_ = tc.SetDeadline(time.Now().Add(waitTimeout))
	return tc
}

// storTLS uploads content over a TLS data connection.
func (c *rawClient) storTLS(name string, content []byte, cfg *tls.Config) {
	c.t.Helper()
	data := c.dataTLS(cfg)
	c.expect("STOR "+name, 150)
	if _, err := data.Write(content); err != nil {
		c.t.Fatalf("STOR over TLS: %v", err)
	}
	if err := data.Close(); err != nil {
		c.t.Fatalf("closing the TLS data connection: %v", err)
	}
	c.expectRead(226)
}

// retrTLS downloads name over a TLS data connection; the download must end
// with close_notify.
func (c *rawClient) retrTLS(name string, cfg *tls.Config) []byte {
	c.t.Helper()
	data := c.dataTLS(cfg)
	c.expect("RETR "+name, 150)
	b, err := io.ReadAll(data)
	if err != nil {
		c.t.Fatalf("RETR over TLS: %v (after %d bytes)", err, len(b))
	}
	c.expectRead(226)
	return b
}

func TestExplicitTLSTransfers(t *testing.T) {
	t.Parallel()
	log := &transferLog{}
	ts := newTestServer(t, withTLS(), onServer(func(srv *Server) { srv.TransferHooks = []TransferHook{log.hook} }))
	cfg := clientTLSConfig()
	c := ts.dialExplicitTLS(t, "TLS", cfg)
	c.protectedLogin()
	content := pattern(3<<20 + 17)
	c.storTLS("f.bin", content, cfg)
	expectFile(t, ts.driver.fs, "/f.bin", content)
	if x, n, _ := log.last(t); !x.TLS || n != int64(len(content)) {
		t.Fatalf("upload seen as TLS=%v, %d bytes", x.TLS, n)
	}
	if got := c.retrTLS("f.bin", cfg); !bytes.Equal(got, content) {
		t.Fatalf("RETR over TLS got %d bytes, want %d", len(got), len(content))
	}
	if x, n, _ := log.last(t); !x.TLS || n != int64(len(content)) {
		t.Fatalf("download seen as TLS=%v, %d bytes", x.TLS, n)
	}
	data := c.dataTLS(cfg)
	c.expect("LIST", 150)
	if list, err := io.ReadAll(data); err != nil || !bytes.Contains(list, []byte("f.bin")) {
		t.Fatalf("LIST over TLS: %q, %v", list, err)
	}
	c.expectRead(226)

	cc := ts.lastContext(t)
	if !cc.HasTLSForControl() || !cc.HasTLSForTransfers() || cc.TLSServerName() != "localhost" {
		t.Fatalf("context: control TLS %v, transfer TLS %v, server name %q",
			cc.HasTLSForControl(), cc.HasTLSForTransfers(), cc.TLSServerName())
	}
	c.expect("AUTH TLS", 503) // once is enough
	c.expect("QUIT", 221)
}

func TestExplicitTLSWithPROTC(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS())
	c := ts.dialExplicitTLS(t, "TLS", clientTLSConfig())
	c.expect("PBSZ 0", 200)
	c.expect("PROT C", 200)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	content := pattern(100_000)
	c.stor("clear.bin", content) // plain data connections
	if got := c.retr("clear.bin"); !bytes.Equal(got, content) {
		t.Fatalf("RETR with PROT C got %d bytes", len(got))
	}
	if cc := ts.lastContext(t); !cc.HasTLSForControl() || cc.HasTLSForTransfers() {
		t.Fatal("PROT C: want TLS on control only")
	}
	c.expect("PROT S", 536)
	c.expect("PROT X", 504)
}

func TestAUTHSSL(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS())
	cfg := clientTLSConfig()
	c := ts.dialExplicitTLS(t, "SSL", cfg)
	c.protectedLogin()
	c.storTLS("f", []byte("over AUTH SSL"), cfg)
	expectFile(t, ts.driver.fs, "/f", []byte("over AUTH SSL"))
}

func TestAUTHWithoutTLSConfig(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial(t)
	c.expect("AUTH TLS", 534)
	c.expect("AUTH KERBEROS_V4", 504)
	c.expect("PBSZ 0", 503)
	c.expect("PROT P", 503)
	// The session goes on in plain text.
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	c.expect("NOOP", 200)
	if ts.lastContext(t).HasTLSForControl() {
		t.Fatal("control connection reported as TLS")
	}
}

func TestMandatoryEncryption(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS(), withSettings(func(s *Settings) { s.TLSRequired = MandatoryEncryption }))
	writeFile(t, ts.driver.fs, "/f", []byte("secret"))

	plain := ts.dial(t)
	plain.expect("USER test", 530)
	plain.expect("PASS test", 503) // no user was accepted
	plain.expect("RETR f", 530)

	cfg := clientTLSConfig()
	c := ts.dialExplicitTLS(t, "TLS", cfg)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	c.expect("EPSV", 229)
	c.expect("RETR f", 521) // PROT C is in effect
	c.expect("EPSV", 229)
	c.expect("STOR g", 521)
	expectNoFile(t, ts.driver.fs, "/g")
	c.expect("PROT C", 534)
	c.expect("PBSZ 0", 200)
	c.expect("PROT P", 200)
	if got := c.retrTLS("f", cfg); string(got) != "secret" {
		t.Fatalf("RETR got %q", got)
	}
}

// newImplicitServer starts a Server with the driver's main listener plain
// and Settings.ImplicitTLSListenAddr, through Listen and ListenAndServe.
func newImplicitServer(t *testing.T) (*Server, *testDriver) {
	t.Helper()
	srv, d := newIdleServer()
	d.settings.ImplicitTLSListenAddr = "127.0.0.1:0"
	d.tlsConfig = testTLSConfig()
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := recv(t, served, "ListenAndServe"); !errors.Is(err, ErrServerClosed) {
			t.Errorf("ListenAndServe returned %v, want ErrServerClosed", err)
		}
	})
	return srv, d
}

func TestImplicitTLSListenAddr(t *testing.T) {
	t.Parallel()
	srv, d := newImplicitServer(t)
	if srv.ImplicitTLSAddr() == nil || srv.ImplicitTLSAddr().String() == srv.Addr().String() {
		t.Fatalf("implicit address %v, main %v", srv.ImplicitTLSAddr(), srv.Addr())
	}
	cfg := clientTLSConfig()
	c := dialImplicitTLS(t, srv.ImplicitTLSAddr().String(), cfg)
	c.expect("AUTH TLS", 503) // TLS already
	c.protectedLogin()
	content := pattern(500_000)
	c.storTLS("f.bin", content, cfg)
	expectFile(t, d.fs, "/f.bin", content)
	if got := c.retrTLS("f.bin", cfg); !bytes.Equal(got, content) {
		t.Fatalf("RETR over implicit TLS got %d bytes", len(got))
	}

	// The main listener still speaks plain FTP.
	ts := &testServer{srv: srv, driver: d, addr: srv.Addr().String()}
	plain := ts.dial(t)
	plain.expect("AUTH TLS", 234)
	plain.startTLS(cfg)
	plain.expect("NOOP", 200)
}

func TestServeImplicitTLS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- ts.srv.ServeImplicitTLS(ln) }()
	cfg := clientTLSConfig()
	c := dialImplicitTLS(t, ln.Addr().String(), cfg)
	c.protectedLogin()
	c.storTLS("f", []byte("implicit"), cfg)
	expectFile(t, ts.driver.fs, "/f", []byte("implicit"))
	if cc := ts.lastContext(t); !cc.HasTLSForControl() || cc.TLSServerName() != "localhost" {
		t.Fatalf("implicit session: control TLS %v, server name %q", cc.HasTLSForControl(), cc.TLSServerName())
	}
	if err := ts.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, served, "ServeImplicitTLS"); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ServeImplicitTLS returned %v, want ErrServerClosed", err)
	}
}

func TestImplicitEncryptionMainListener(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS(), withConnTimeout(1),
		withSettings(func(s *Settings) { s.TLSRequired = ImplicitEncryption }))
	c := dialImplicitTLS(t, ts.addr, clientTLSConfig())
	c.protectedLogin()
	// A plain client gets no banner: the server waits for a handshake and
	// gives up after the connection timeout.
	plain := dialNoBanner(t, ts.addr)
	if got := expectClosed(t, plain.conn, "plain connection to an implicit-TLS port"); bytes.HasPrefix(got, []byte("220")) {
		t.Fatalf("plain client got a banner: %q", got)
	}
	c.expect("NOOP", 200)
}

func TestTLSServerName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ sni, want string }{
		{"localhost", "localhost"},
		{"127.0.0.1", ""}, // IP addresses are not sent as SNI
	} {
		t.Run(tc.sni, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, withTLS())
			c := ts.dialExplicitTLS(t, "TLS", &tls.Config{InsecureSkipVerify: true, ServerName: tc.sni})
			c.expect("NOOP", 200)
			if got := ts.lastContext(t).TLSServerName(); got != tc.want {
				t.Fatalf("TLSServerName %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTLSBelow12Refused(t *testing.T) {
	t.Parallel()
	lax := testTLSConfig()
	lax.MinVersion = 0 // the driver does not insist; the engine does
	ts := newTestServer(t, func(d *testDriver, _ *Server) { d.tlsConfig = lax })
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		c := ts.dial(t)
		c.expect("AUTH TLS", 234)
		tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v})
		_ = tc.SetDeadline(time.Now().Add(waitTimeout))
		if err := tc.Handshake(); err == nil {
			t.Fatalf("a TLS %x handshake succeeded", v)
		}
		expectClosed(t, c.conn, "control connection after a refused handshake")
	}
	c := ts.dialExplicitTLS(t, "TLS", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	c.expect("NOOP", 200)
}

func TestGarbageInsteadOfTLSHandshake(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withTLS())
	bystander := ts.login(t)
	content := pattern(200_000)
	bystander.stor("f", content)

	c := ts.dial(t)
	c.expect("AUTH TLS", 234)
	sendAll(c.conn, []byte("USER test\r\nPASS test\r\nDELE f\r\n"))
	if got := expectClosed(t, c.conn, "control connection after garbage"); bytes.Contains(got, []byte("230")) ||
		bytes.Contains(got, []byte("250")) {
		t.Fatalf("commands sent in place of a handshake ran: %q", got)
	}
	expectFile(t, ts.driver.fs, "/f", content)

	// Others are unharmed.
	bystander.expect("NOOP", 200)
	if got := bystander.retr("f"); !bytes.Equal(got, content) {
		t.Fatalf("bystander RETR got %d bytes", len(got))
	}
	ts.login(t).expect("PWD", 257)
}

// protectedFs is a user's filesystem whose data must travel over TLS.
type protectedFs struct{ afero.Fs }

func (protectedFs) RequireProtectedData() bool { return true }

// TestProtectedDataForOneUser: a ClientDriver with
// ClientDriverExtensionProtectedData gets 521 for every transfer and
// listing on a clear data connection, though the server allows clear data.
func TestProtectedDataForOneUser(t *testing.T) {
	t.Parallel()
	fs := afero.NewMemMapFs()
	_ = afero.WriteFile(fs, "/f", []byte("x"), 0o644)
	ts := newTestServer(t, withFs(protectedFs{fs}))
	c := ts.login(t)
	for _, cmd := range []string{"LIST", "NLST", "MLSD", "RETR f", "STOR g", "APPE f"} {
		c.expect("EPSV", 229)
		if msg := c.expect(cmd, 521); !strings.Contains(msg, "PROT P") {
			t.Errorf("%s: %q, want a reply that names PROT P", cmd, msg)
		}
	}
	if ok, _ := afero.Exists(fs, "/g"); ok {
		t.Error("a refused STOR created the file")
	}
}
