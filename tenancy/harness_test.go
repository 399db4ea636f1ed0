package tenancy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/jlaffaye/ftp"
)

// cheapParams keep password hashing fast in tests; the format and code
// path are the real ones.
var cheapParams = Argon2Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

var (
	hashMu    sync.Mutex
	hashCache = map[string]string{}
)

// testHash returns a cheap argon2id hash of pass, reused within the run.
func testHash(t testing.TB, pass string) string {
	t.Helper()
	hashMu.Lock()
	defer hashMu.Unlock()
	if h, ok := hashCache[pass]; ok {
		return h
	}
	h, err := HashPasswordArgon2id(pass, cheapParams)
	if err != nil {
		t.Fatal(err)
	}
	hashCache[pass] = h
	return h
}

// fixture is a configuration directory with a running server.
type fixture struct {
	t      *testing.T
	dir    string // holds server.toml, tenants/, data/
	driver *Driver
	srv    *engine.Server
	addr   string
}

// writeFile writes a file below the fixture's directory.
func (f *fixture) writeFile(name, content string) {
	f.t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// serverTOML is a server file for tests; extra goes at its end.
func serverTOML(extra string) string {
	return `
[listen]
control = "127.0.0.1:0"
[timeouts]
connection = "5s"
login_failure_delay = "50ms"
[tenants]
dir = "tenants"
` + extra
}

// acmeTOML and globexTOML are the two standard test tenants: both have a
// user alice, with different passwords.
func acmeTOML(t testing.TB, extra string) string {
	return fmt.Sprintf(`
id = "acme"
hostnames = ["ftp.acme.test"]
[storage]
backend = "os"
dir = "../data/acme"
[[users]]
name = "alice"
password = %q
home = "/alice"
[[users]]
name = "bob"
password = %q
  [[users.permissions]]
  prefix = "/"
  allow = ["list", "download"]
  [[users.permissions]]
  prefix = "/incoming"
  allow = ["list", "upload", "mkdir"]
`, testHash(t, "acme-alice"), testHash(t, "acme-bob")) + extra
}

func globexTOML(t testing.TB, extra string) string {
	return fmt.Sprintf(`
id = "globex"
hostnames = ["ftp.globex.test"]
[storage]
backend = "os"
dir = "../data/globex"
[[users]]
name = "alice"
password = %q
`, testHash(t, "globex-alice")) + extra
}

// newFixture writes the given files, loads them and serves on 127.0.0.1.
func newFixture(t *testing.T, files map[string]string) *fixture {
	t.Helper()
	return newFixtureWith(t, files, nil)
}

// newFixtureWith is newFixture with a change to the engine settings
// before serving (may be nil).
func newFixtureWith(t *testing.T, files map[string]string, adjust func(*engine.Settings)) *fixture {
	t.Helper()
	return newFixtureHooks(t, files, adjust, nil)
}

// newFixtureHooks is newFixtureWith whose server also runs results.
func newFixtureHooks(t *testing.T, files map[string]string, adjust func(*engine.Settings), results []engine.ResultHook) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir()}
	for name, content := range files {
		f.writeFile(name, content)
	}
	cfg, err := LoadConfig(filepath.Join(f.dir, "server.toml"))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	d, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.driver = d
	waitCounts(t, d)
	if adjust != nil {
		adjust(d.Settings)
	}
	// Cleanups run last first: the server closes before the driver.
	t.Cleanup(func() { _ = d.Close() })
	f.srv = &engine.Server{Driver: d, Logger: slog.New(slog.DiscardHandler), ResultHooks: results}
	f.addr = enginetest.Start(t, f.srv).Addr
	return f
}

// standardFixture serves acme and globex with acme as the default tenant.
func standardFixture(t *testing.T) *fixture {
	return newFixture(t, map[string]string{
		"server.toml":         serverTOML("default = \"acme\"\n"),
		"tenants/acme.toml":   acmeTOML(t, ""),
		"tenants/globex.toml": globexTOML(t, ""),
	})
}

// reload reloads the fixture from its files and waits for the usage
// counts it starts.
func (f *fixture) reload() error {
	cfg, err := LoadConfig(filepath.Join(f.dir, "server.toml"))
	if err != nil {
		return err
	}
	if err := f.driver.Reload(cfg); err != nil {
		return err
	}
	waitCounts(f.t, f.driver)
	return nil
}

// waitFor polls cond every 5 ms until it holds, failing the test after
// 10 s: for state a server changes without telling the client (the bytes
// of an upload on disk, a queue filling, a shared count stored). The one
// polling helper of tenancy's tests.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitCounts waits (boundedly) until no usage count of d is running.
func waitCounts(t testing.TB, d *Driver) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for _, st := range d.state.Load().storages {
		select {
		case <-st.usage.done():
		case <-deadline.C:
			t.Fatal("usage counts did not end within 30s")
		}
	}
}

// login connects with jlaffaye/ftp and logs in.
func (f *fixture) login(user, pass string) (*ftp.ServerConn, error) {
	c, err := ftp.Dial(f.addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, pass); err != nil {
		_ = c.Quit()
		return nil, err
	}
	return c, nil
}

// mustLogin logs in or fails the test; the connection closes at the end.
func (f *fixture) mustLogin(user, pass string) *ftp.ServerConn {
	f.t.Helper()
	c, err := f.login(user, pass)
	if err != nil {
		f.t.Fatalf("login %s: %v", user, err)
	}
	f.t.Cleanup(func() { _ = c.Quit() })
	return c
}

// replyCode returns the FTP code of a jlaffaye error, or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// raw is a line-by-line client for exact replies: enginetest's, with
// cmd taking a format as the tests here write them.
type raw struct {
	*enginetest.Conn
	t *testing.T
}

// dialRaw connects and reads the banner.
func (f *fixture) dialRaw() *raw {
	f.t.Helper()
	c, code, msg := enginetest.Dial(f.t, f.addr, "")
	if code != 220 {
		f.t.Fatalf("banner %d %s", code, msg)
	}
	return &raw{Conn: c, t: f.t}
}

// read returns the code and text of the next reply; code 0 means the
// connection ended.
func (c *raw) read() (int, string) {
	c.t.Helper()
	return c.Read()
}

// cmd sends a command and returns its reply.
func (c *raw) cmd(format string, args ...any) (int, string) {
	c.t.Helper()
	return c.Cmd(fmt.Sprintf(format, args...))
}

// startTLS upgrades the connection after AUTH TLS's 234.
func (c *raw) startTLS(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.NetConn(), cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.SetConn(tc)
}
