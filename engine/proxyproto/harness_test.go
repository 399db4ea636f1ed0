package proxyproto

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	pp "github.com/pires/go-proxyproto"
	"github.com/spf13/afero"
)

// testWait bounds every wait of these tests: far above anything a passing
// test needs, far below the go test timeout.
const testWait = 20 * time.Second

// logBuffer is a slog destination the tests read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mustLog fails the test unless the log holds every part. The wrapper
// logs a refusal before the connection is closed, so once the client has
// seen the close (or the banner) the line is there: no waiting needed.
func (b *logBuffer) mustLog(t *testing.T, parts ...string) {
	t.Helper()
	s := b.String()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Fatalf("log lacks %q:\n%s", p, s)
		}
	}
}

// count returns how many times part occurs in the log.
func (b *logBuffer) count(part string) int { return strings.Count(b.String(), part) }

// seen records what the hooks saw of each session.
type seen struct {
	mu       sync.Mutex
	admitted []string // RemoteAddr at admission
	commands []string // "VERB remote" per command
	proxies  []*engine.ProxyInfo
	conns    []string // the type of the data connection each transfer's bytes moved on
}

// transfer records the connection side of each transfer's copy.
func (s *seen) transfer(t *engine.Transfer, next engine.CopyFunc) engine.CopyFunc {
	return func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
		side := any(dst)
		if t.Direction == engine.Upload {
			side = src
		}
		s.mu.Lock()
		s.conns = append(s.conns, fmt.Sprintf("%T", side))
		s.mu.Unlock()
		return next(ctx, dst, src)
	}
}

// dataConns returns what transfer recorded.
func (s *seen) dataConns() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.conns...)
}

func (s *seen) admission(_ context.Context, cc engine.ClientContext) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.admitted = append(s.admitted, cc.RemoteAddr().String())
	s.proxies = append(s.proxies, engine.ProxyInfoOf(cc))
	return nil, nil
}

func (s *seen) command(_ context.Context, c *engine.Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = append(s.commands, c.Verb+" "+c.Session.RemoteAddr().String())
	return nil
}

func (s *seen) snapshot() ([]string, []string, []*engine.ProxyInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.admitted...), append([]string(nil), s.commands...), append([]*engine.ProxyInfo(nil), s.proxies...)
}

// testDriver serves one user over an in-memory filesystem and wraps the
// passive listeners with the Wrapper.
type testDriver struct {
	st  *engine.Settings
	fs  afero.Fs
	tls *tls.Config
}

func (d *testDriver) GetSettings() (*engine.Settings, error) { return d.st, nil }
func (d *testDriver) ClientConnected(engine.ClientContext) (string, error) {
	return "ready", nil
}
func (d *testDriver) ClientDisconnected(engine.ClientContext) {}
func (d *testDriver) AuthUser(_ engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if user == "u" && pass == "p" {
		return d.fs, nil
	}
	return nil, errors.New("bad login")
}
func (d *testDriver) GetTLSConfig() (*tls.Config, error) { return d.tls, nil }

// testServer is an engine.Server behind a Wrapper on a loopback address.
type testServer struct {
	addr string
	fs   afero.Fs
	log  *logBuffer
	seen *seen
}

// startServer serves on host:0 with cfg; tweak may change the settings.
func startServer(t *testing.T, host string, cfg Config, tweak func(*engine.Settings)) *testServer {
	t.Helper()
	return startServerTLS(t, host, cfg, tweak, nil)
}

// startServerTLS is startServer with a TLS configuration.
func startServerTLS(t *testing.T, host string, cfg Config, tweak func(*engine.Settings), tlsConfig *tls.Config) *testServer {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	st := &engine.Settings{Listener: w.Wrap(ln), ConnectionTimeout: 10}
	if tweak != nil {
		tweak(st)
	}
	ts := &testServer{addr: ln.Addr().String(), fs: afero.NewMemMapFs(), log: logs, seen: &seen{}}
	srv := &engine.Server{
		Driver:         &testDriver{st: st, fs: ts.fs, tls: tlsConfig},
		Logger:         logger,
		AdmissionHooks: []engine.AdmissionHook{ts.seen.admission},
		CommandHooks:   []engine.CommandHook{ts.seen.command},
		TransferHooks:  []engine.TransferHook{ts.seen.transfer},
	}
	w.Install(srv) // passive data listeners
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case <-done:
		case <-time.After(testWait):
			t.Error("server did not stop")
		}
	})
	return ts
}

// client is a raw FTP client that can send a PROXY header first: an
// enginetest.Conn whose replies read as whole last lines ("229 ...").
type client struct {
	*enginetest.Conn
	t    *testing.T
	conn net.Conn
}

// dial connects from the local address from ("" for any) and writes
// prefix (a header, or nothing) before anything else.
func dial(t *testing.T, from, addr string, prefix []byte) *client {
	t.Helper()
	conn, err := enginetest.Dialer(from).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(prefix) > 0 {
		_ = conn.SetWriteDeadline(time.Now().Add(testWait))
		if _, err := conn.Write(prefix); err != nil {
			t.Fatal(err)
		}
	}
	return &client{Conn: enginetest.NewConn(t, conn), t: t, conn: conn}
}

// read returns the next reply's code and its last line, code first; code
// 0 with the error text when the connection ends instead.
func (c *client) read() (int, string) {
	c.t.Helper()
	code, text := c.Read()
	if code == 0 {
		return 0, text
	}
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[i+1:]
	}
	return code, fmt.Sprintf("%d %s", code, text)
}

func (c *client) expect(code int) string {
	c.t.Helper()
	got, line := c.read()
	if got != code {
		c.t.Fatalf("want %d, got %q", code, line)
	}
	return line
}

func (c *client) cmd(line string, code int) string {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.conn, "%s\r\n", line); err != nil {
		c.t.Fatal(err)
	}
	return c.expect(code)
}

// closed fails the test unless the server closes the connection without
// a reply.
func (c *client) closed() {
	c.t.Helper()
	if code, line := c.read(); code != 0 {
		c.t.Fatalf("want the connection closed, got %q", line)
	}
}

func (c *client) login() {
	c.t.Helper()
	c.expect(220)
	c.cmd("USER u", 331)
	c.cmd("PASS p", 230)
}

// v1 returns a version 1 header for a client at src reaching dst.
func v1(src, dst string) []byte {
	s, d := netAddr(src), netAddr(dst)
	fam := "TCP4"
	if s.IP.To4() == nil {
		fam = "TCP6"
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", fam, s.IP, d.IP, s.Port, d.Port)
}

// v2 returns a version 2 PROXY header with the given TLVs.
func v2(t testing.TB, src, dst string, tlvs ...pp.TLV) []byte {
	t.Helper()
	h := pp.HeaderProxyFromAddrs(2, netAddr(src), netAddr(dst))
	if len(tlvs) > 0 {
		if err := h.SetTLVs(tlvs); err != nil {
			t.Fatal(err)
		}
	}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// v2Local returns a version 2 LOCAL header, as HAProxy's health checks
// send.
func v2Local() []byte {
	return append(append([]byte(nil), pp.SIGV2...), 0x20, 0x00, 0x00, 0x00)
}

func netAddr(s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err) // test inputs only
	}
	return a
}

// timeAfter bounds a wait for something that should happen at once.
func timeAfter() <-chan time.Time { return time.After(testWait) }

// selfSigned returns a certificate for "localhost" with its Leaf set.
func selfSigned(t *testing.T) tls.Certificate { return enginetest.Certificate(t, "localhost") }

// trustLoopback is the usual config: headers from 127.0.0.0/8.
func trustLoopback(mode Mode) Config {
	return Config{Mode: mode, Trusted: []string{"127.0.0.0/8"}, HeaderTimeout: conf.Duration(testWait)}
}
