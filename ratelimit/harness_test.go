package ratelimit

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/jlaffaye/ftp"
	"github.com/spf13/afero"
)

// ioTimeout bounds every read and write of the tests' clients.
const ioTimeout = 20 * time.Second

// passwordDriver is a MainDriver with fixed users sharing one filesystem.
type passwordDriver struct {
	users    map[string]string
	fs       afero.Fs
	tls      *tls.Config
	settings engine.Settings
}

var errBadLogin = errors.New("bad credentials")

func (d *passwordDriver) GetSettings() (*engine.Settings, error) {
	st := d.settings
	return &st, nil
}
func (d *passwordDriver) ClientConnected(engine.ClientContext) (string, error) { return "ready", nil }
func (d *passwordDriver) ClientDisconnected(engine.ClientContext)              {}
func (d *passwordDriver) GetTLSConfig() (*tls.Config, error)                   { return d.tls, nil }

func (d *passwordDriver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if want, ok := d.users[user]; ok && want == pass {
		if d.fs == nil {
			return afero.NewMemMapFs(), nil
		}
		return d.fs, nil
	}
	return nil, errBadLogin
}

// testServer is an engine.Server on 127.0.0.1 with a Limiter installed,
// serving a temporary directory on disk (so that sendfile and splice are
// in play) to the users alice/secret and bob/secret.
type testServer struct {
	addr string
	dir  string
	l    *Limiter
}

// newTestServer starts a server limited by cfg; setup may adjust the
// limiter before it serves. Everything stops when the test ends.
func newTestServer(t testing.TB, cfg Config, setup func(*Limiter)) *testServer {
	t.Helper()
	return newTestServerWith(t, cfg, setup, nil)
}

// newTestServerWith is newTestServer with a chance to change the server
// after the limiter is installed.
func newTestServerWith(t testing.TB, cfg Config, setup func(*Limiter), srvSetup func(*engine.Server)) *testServer {
	t.Helper()
	dir := t.TempDir()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.Logger = slog.New(slog.DiscardHandler)
	if setup != nil {
		setup(l)
	}
	drv := &passwordDriver{
		users:    map[string]string{"alice": "secret", "bob": "secret"},
		fs:       afero.NewBasePathFs(afero.NewOsFs(), dir),
		tls:      testTLSConfig(t),
		settings: engine.Settings{ConnectionTimeout: 10},
	}
	srv := &engine.Server{Driver: drv, Logger: slog.New(slog.DiscardHandler)}
	l.Install(srv)
	if srvSetup != nil {
		srvSetup(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return &testServer{addr: ln.Addr().String(), dir: dir, l: l}
}

// writeFile puts a file of n random bytes into the served directory.
func (ts *testServer) writeFile(t testing.TB, name string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	if err := os.WriteFile(filepath.Join(ts.dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

// dialerFrom returns a dialer whose connections come from ip, one of the
// loopback addresses.
func dialerFrom(ip string) net.Dialer {
	return net.Dialer{Timeout: ioTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
}

// rawClient speaks the control protocol line by line.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dialRaw connects from ip and returns the client and the first reply.
func (ts *testServer) dialRaw(t *testing.T, ip string) (*rawClient, int, string) {
	t.Helper()
	d := dialerFrom(ip)
	conn, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	code, text := c.read()
	return c, code, text
}

// send writes a command line.
func (c *rawClient) send(line string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// read reads a one-line reply; 0 means the connection ended.
func (c *rawClient) read() (int, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	line, err := c.r.ReadString('\n')
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.t.Fatalf("no reply within %v", ioTimeout)
		}
		return 0, err.Error()
	}
	line = strings.TrimRight(line, "\r\n")
	code, err := strconv.Atoi(line[:min(3, len(line))])
	if err != nil || len(line) < 4 {
		c.t.Fatalf("bad reply %q", line)
	}
	return code, line[4:]
}

// cmd sends a line and reads the reply.
func (c *rawClient) cmd(line string) (int, string) {
	c.t.Helper()
	c.send(line)
	return c.read()
}

// expect sends a line and fails unless the reply has code.
func (c *rawClient) expect(line string, code int) string {
	c.t.Helper()
	got, text := c.cmd(line)
	if got != code {
		c.t.Fatalf("%s: got %d %s, want %d", line, got, text, code)
	}
	return text
}

// expectClosed fails unless the server ends the connection.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	rest, err := io.ReadAll(c.r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatal("connection not closed")
	}
	if len(rest) > 0 {
		c.t.Fatalf("bytes after the last reply: %q", rest)
	}
}

// ftpClient logs in with jlaffaye/ftp from ip.
func (ts *testServer) ftpClient(t testing.TB, ip, user string, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithDialer(dialerFrom(ip)), ftp.DialWithTimeout(ioTimeout)}, opts...)
	c, err := ftp.Dial(ts.addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Login(user, "secret"); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// testTLSConfig returns a server TLS config with a fresh self-signed
// certificate.
func testTLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ratelimit test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
}

// eventually polls cond until it holds, for at most ioTimeout. Only for
// state the server changes after the client can observe the end of a
// connection (the engine releases a connection's slot after closing it).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(ioTimeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func newReader(conn net.Conn) *bufio.Reader { return bufio.NewReader(conn) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
