package ratelimit

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
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
	es := enginetest.Start(t, srv)
	return &testServer{addr: es.Addr, dir: dir, l: l}
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
func dialerFrom(ip string) net.Dialer { return *enginetest.Dialer(ip) }

// rawClient speaks the control protocol line by line.
type rawClient = enginetest.Conn

// dialRaw connects from ip and returns the client and the first reply.
func (ts *testServer) dialRaw(t *testing.T, ip string) (*rawClient, int, string) {
	t.Helper()
	return enginetest.Dial(t, ts.addr, ip)
}

// ftpClient logs in with jlaffaye/ftp from ip.
func (ts *testServer) ftpClient(t testing.TB, ip, user string, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	return enginetest.Login(t, ts.addr, ip, user, "secret", opts...)
}

// testTLSConfig returns a server TLS config with a fresh self-signed
// certificate.
func testTLSConfig(t testing.TB) *tls.Config { return enginetest.TLSConfig(t) }

// eventually polls cond until it holds (enginetest.Eventually).
func eventually(t *testing.T, what string, cond func() bool) { enginetest.Eventually(t, what, cond) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
