package engine

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// Helpers shared by the infrastructure tests (hooks, shutdown, TLS, data
// channels, faults, zero-copy).

// waitTimeout bounds every wait of these tests for something that should
// happen promptly.
const waitTimeout = 10 * time.Second

// onServer adjusts the Server of a test server before it starts, to set
// hooks.
func onServer(f func(*Server)) serverOption {
	return func(_ *testDriver, srv *Server) { f(srv) }
}

// withConnTimeout sets Settings.ConnectionTimeout in seconds.
func withConnTimeout(seconds int) serverOption {
	return withSettings(func(s *Settings) { s.ConnectionTimeout = seconds })
}

// recv waits for a value on ch, failing the test after waitTimeout.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// newTestServerOn is newTestServer over a listener of the caller's, for
// IPv6 and the like.
func newTestServerOn(t testing.TB, ln net.Listener, opts ...serverOption) *testServer {
	t.Helper()
	d := &testDriver{
		fs:       afero.NewMemMapFs(),
		settings: &Settings{ConnectionTimeout: 5},
		users:    map[string]string{"test": "test"},
	}
	srv := &Server{Driver: d, Logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(d, srv)
	}
	ts := &testServer{srv: srv, driver: d, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := recv(t, ts.done, "Serve to return"); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ts
}

// serveResult waits for Serve to return and gives its error, leaving it
// for the harness's clean-up to check too.
func (ts *testServer) serveResult(t testing.TB) error {
	t.Helper()
	err := recv(t, ts.done, "Serve to return")
	ts.done <- err
	return err
}

// dialNoBanner connects without reading the banner.
func dialNoBanner(t testing.TB, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// clientTLSConfig trusts any certificate and names "localhost".
func clientTLSConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
}

// startTLS runs a TLS handshake over the control connection, after AUTH.
func (c *rawClient) startTLS(cfg *tls.Config) {
	c.t.Helper()
	if c.r.Buffered() > 0 {
		c.t.Fatalf("%d bytes after the AUTH reply", c.r.Buffered())
	}
	tc := tls.Client(c.conn, cfg)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	_ = tc.SetDeadline(time.Time{})
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// expectClosed reads conn to its end and fails unless the peer closes it
// (EOF or reset) within waitTimeout. It returns what was read.
func expectClosed(t testing.TB, conn net.Conn, what string) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	b, err := io.ReadAll(conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s was not closed (read %d bytes)", what, len(b))
	}
	return b
}

// expectReplyThenClose reads one reply with code, then the end of the
// control connection.
func (c *rawClient) expectReplyThenClose(code int) {
	c.t.Helper()
	c.expectRead(code)
	_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	rest, err := io.ReadAll(c.r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("control connection not closed after %d", code)
	}
	if len(rest) > 0 {
		c.t.Fatalf("bytes after the %d reply: %q", code, rest)
	}
}

// smallReadBuffer makes conn advertise a small window, so that a peer
// writing to it blocks quickly when the test does not read.
func smallReadBuffer(t testing.TB, conn net.Conn) {
	t.Helper()
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		t.Fatalf("%T is not a TCP connection", conn)
	}
	if err := tc.SetReadBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
}

// pattern returns n deterministic pseudo-random bytes, so that a shifted
// or truncated copy does not compare equal.
func pattern(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{'f', 't', 'p'}).Read(b)
	return b
}

// writeFile stores content at name on fs.
func writeFile(t testing.TB, fs afero.Fs, name string, content []byte) {
	t.Helper()
	if err := afero.WriteFile(fs, name, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

// expectFile fails unless name on fs holds exactly want.
func expectFile(t testing.TB, fs afero.Fs, name string, want []byte) {
	t.Helper()
	got, err := afero.ReadFile(fs, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes, want %d (equal prefix: %v)", name, len(got), len(want),
			bytes.HasPrefix(want, got))
	}
}

// expectNoFile fails if name exists on fs.
func expectNoFile(t testing.TB, fs afero.Fs, name string) {
	t.Helper()
	if _, err := fs.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s: Stat gave %v, want not exist", name, err)
	}
}

// sendAll writes b to a data connection, ignoring errors: the server may
// close it before everything is sent.
func sendAll(conn net.Conn, b []byte) {
	_ = conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	_, _ = conn.Write(b)
}
