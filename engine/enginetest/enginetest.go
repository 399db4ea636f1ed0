// Package enginetest runs engine.Servers in tests, as net/http/httptest
// runs HTTP servers: Start serves a Server on 127.0.0.1, Dial opens a raw
// control connection that checks reply codes line by line (Conn.Expect),
// Login logs in with github.com/jlaffaye/ftp, and TLSConfig makes a
// throw-away certificate. Everything it opens is closed by t.Cleanup.
//
// Every wait is bounded by Timeout, which is generous on purpose: the
// tests of this repository run on loaded machines and must fail by a
// wrong reply, never by a slow one. It imports only the engine and the
// FTP client, so a plugin's tests can use it; the engine's own internal
// tests (package engine) cannot, as that would be an import cycle.
package enginetest

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
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/jlaffaye/ftp"
)

// Timeout bounds every read, write, dial and wait of this package.
const Timeout = 20 * time.Second

// Server is a Server serving on 127.0.0.1 for the length of a test.
type Server struct {
	// Server is the engine.Server given to Start.
	*engine.Server
	// Addr is the control listener's address, host:port.
	Addr string
}

// Start serves srv on a new listener on 127.0.0.1:0 and closes it when
// the test ends, failing the test if Serve has not returned ErrServerClosed
// within Timeout by then. Set srv's Driver and hooks before calling it.
func Start(t testing.TB, srv *engine.Server) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case err := <-done:
			if !errors.Is(err, engine.ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(Timeout):
			t.Error("Serve did not return after Close")
		}
	})
	return &Server{Server: srv, Addr: ln.Addr().String()}
}

// Dialer returns a dialer whose connections come from ip, one of the
// loopback addresses ("127.0.0.2"); "" lets the system choose.
func Dialer(ip string) *net.Dialer {
	d := &net.Dialer{Timeout: Timeout}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	return d
}

// Conn is a raw control connection that reads whole replies.
type Conn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// Dial connects to addr from ip (see Dialer) and returns the connection
// and the first reply (the banner, or a refusal); code 0 means the server
// closed the connection without one.
func Dial(t testing.TB, addr, ip string) (*Conn, int, string) {
	t.Helper()
	conn, err := Dialer(ip).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &Conn{t: t, conn: conn, r: bufio.NewReader(conn)}
	code, text := c.Read()
	return c, code, text
}

// NetConn returns the connection, to write bytes as they are or to
// upgrade it to TLS (see SetConn).
func (c *Conn) NetConn() net.Conn { return c.conn }

// SetConn replaces the connection, for one wrapped after AUTH TLS.
func (c *Conn) SetConn(conn net.Conn) {
	c.conn, c.r = conn, bufio.NewReader(conn)
}

// Send writes one command line, adding CRLF.
func (c *Conn) Send(line string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// Read reads one reply, a multi-line one whole, its lines' texts joined
// with "\n". Code 0 means the connection ended, with the error as text;
// no reply within Timeout fails the test.
func (c *Conn) Read() (int, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(Timeout))
	line, err := c.r.ReadString('\n')
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.t.Fatalf("no reply within %v", Timeout)
		}
		return 0, err.Error()
	}
	line = strings.TrimRight(line, "\r\n")
	code, err := strconv.Atoi(line[:min(3, len(line))])
	if err != nil || len(line) < 4 || code < 100 || code > 599 {
		c.t.Fatalf("bad reply %q", line)
	}
	text := line[4:]
	if line[3] != '-' {
		return code, text
	}
	end := line[:3] + " "
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read multi-line reply: %v", err)
		}
		l = strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(l, end) {
			return code, text + "\n" + l[4:]
		}
		text += "\n" + l
	}
}

// Cmd sends a line and reads its reply.
func (c *Conn) Cmd(line string) (int, string) {
	c.t.Helper()
	c.Send(line)
	return c.Read()
}

// Expect sends a line and fails the test unless the reply has code; it
// returns the reply's text.
func (c *Conn) Expect(line string, code int) string {
	c.t.Helper()
	got, text := c.Cmd(line)
	if got != code {
		c.t.Fatalf("%s: got %d %s, want %d", line, got, text, code)
	}
	return text
}

// ExpectClosed fails the test unless the server ends the connection
// within Timeout without sending anything more.
func (c *Conn) ExpectClosed() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(Timeout))
	rest, err := io.ReadAll(c.r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatal("connection not closed")
	}
	if len(rest) > 0 {
		c.t.Fatalf("bytes after the last reply: %q", rest)
	}
}

// Login connects to addr from ip (see Dialer) with jlaffaye/ftp and logs
// in; the client quits when the test ends.
func Login(t testing.TB, addr, ip, user, pass string, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	opts = append([]ftp.DialOption{ftp.DialWithDialer(*Dialer(ip)), ftp.DialWithTimeout(Timeout)}, opts...)
	c, err := ftp.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Login(user, pass); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// TLSConfig returns a server TLS config (TLS 1.2 at least) with a fresh
// self-signed certificate from Certificate for "localhost" and 127.0.0.1.
func TLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	return &tls.Config{
		Certificates: []tls.Certificate{Certificate(t, "localhost")},
		MinVersion:   tls.VersionTLS12,
	}
}

// Certificate returns a fresh self-signed ECDSA P-256 server certificate,
// valid for an hour, for 127.0.0.1 and the DNS names given (the first is
// also its common name), with its Leaf set.
func Certificate(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cn := "enginetest"
	if len(names) > 0 {
		cn = names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
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
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// Eventually polls cond until it holds, for at most Timeout. Only for
// state a server changes after the client can see the event (the engine
// releases a connection's slot after closing it), never to wait for time.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(Timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// NewConn wraps conn, already open (through a PROXY header, say), as a
// Conn; it reads nothing. conn is closed when the test ends.
func NewConn(t testing.TB, conn net.Conn) *Conn {
	t.Cleanup(func() { _ = conn.Close() })
	return &Conn{t: t, conn: conn, r: bufio.NewReader(conn)}
}
