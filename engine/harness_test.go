package engine

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// testDriver is a MainDriver over one afero.Fs shared by all its users.
type testDriver struct {
	fs        afero.Fs
	settings  *Settings
	tlsConfig *tls.Config
	users     map[string]string // name → password

	connected    atomic.Int32
	disconnected atomic.Int32
	welcomeErr   error

	mu       sync.Mutex
	contexts []ClientContext
}

func (d *testDriver) GetSettings() (*Settings, error) { return d.settings, nil }

func (d *testDriver) ClientConnected(cc ClientContext) (string, error) {
	d.connected.Add(1)
	d.mu.Lock()
	d.contexts = append(d.contexts, cc)
	d.mu.Unlock()
	if d.welcomeErr != nil {
		return "", d.welcomeErr
	}
	return "test server ready", nil
}

func (d *testDriver) ClientDisconnected(ClientContext) { d.disconnected.Add(1) }

func (d *testDriver) AuthUser(_ ClientContext, user, pass string) (ClientDriver, error) {
	if want, ok := d.users[user]; ok && want == pass {
		return d.fs, nil
	}
	return nil, errors.New("bad credentials")
}

func (d *testDriver) GetTLSConfig() (*tls.Config, error) {
	if d.tlsConfig == nil {
		return nil, nil
	}
	return d.tlsConfig, nil
}

// testServer is a running in-process server on 127.0.0.1.
type testServer struct {
	srv    *Server
	driver *testDriver
	addr   string
	done   chan error
}

// serverOption adjusts a test server before it starts.
type serverOption func(*testDriver, *Server)

func withSettings(f func(*Settings)) serverOption {
	return func(d *testDriver, _ *Server) { f(d.settings) }
}

func withTLS() serverOption {
	return func(d *testDriver, _ *Server) { d.tlsConfig = testTLSConfig() }
}

func withFs(fs afero.Fs) serverOption {
	return func(d *testDriver, _ *Server) { d.fs = fs }
}

// newTestServer starts a server on 127.0.0.1:0 over a MemMapFs with the
// user "test"/"test"; it is closed when the test ends.
func newTestServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	d := &testDriver{
		fs:       afero.NewMemMapFs(),
		settings: &Settings{ConnectionTimeout: 30},
		users:    map[string]string{"test": "test"},
	}
	srv := &Server{Driver: d, Logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(d, srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, driver: d, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case err := <-ts.done:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return ts
}

// rawClient speaks the protocol line by line, for exact reply codes.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// dial connects to the test server and reads the banner.
func (ts *testServer) dial(t testing.TB) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { _ = conn.Close() })
	if code, msg := c.read(); code != 220 {
		t.Fatalf("banner: %d %s", code, msg)
	}
	return c
}

// login dials and logs in as test/test.
func (ts *testServer) login(t testing.TB) *rawClient {
	t.Helper()
	c := ts.dial(t)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	return c
}

// send writes one command line.
func (c *rawClient) send(line string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// read reads one reply, multi-line replies whole; the text has the lines
// joined with "\n".
func (c *rawClient) read() (int, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read reply: %v (got %q)", err, line)
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) < 4 {
		c.t.Fatalf("short reply %q", line)
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil {
		c.t.Fatalf("bad reply %q", line)
	}
	text := line[4:]
	if line[3] == '-' {
		end := line[:3] + " "
		for {
			l, err := c.r.ReadString('\n')
			if err != nil {
				c.t.Fatalf("read multi-line reply: %v", err)
			}
			l = strings.TrimRight(l, "\r\n")
			if strings.HasPrefix(l, end) {
				text += "\n" + l[4:]
				break
			}
			text += "\n" + l
		}
	}
	return code, text
}

// cmd sends a line and returns the reply.
func (c *rawClient) cmd(line string) (int, string) {
	c.t.Helper()
	c.send(line)
	return c.read()
}

// expect sends a line and fails the test unless the reply has code.
func (c *rawClient) expect(line string, code int) string {
	c.t.Helper()
	got, text := c.cmd(line)
	if got != code {
		c.t.Fatalf("%s: got %d %s, want %d", line, got, text, code)
	}
	return text
}

// expectRead reads a reply and fails the test unless it has code.
func (c *rawClient) expectRead(code int) string {
	c.t.Helper()
	got, text := c.read()
	if got != code {
		c.t.Fatalf("got %d %s, want %d", got, text, code)
	}
	return text
}

var pasvReply = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)

// pasv sends PASV and dials the advertised address.
func (c *rawClient) pasv() net.Conn {
	c.t.Helper()
	text := c.expect("PASV", 227)
	m := pasvReply.FindStringSubmatch(text)
	if m == nil {
		c.t.Fatalf("PASV reply %q", text)
	}
	p1, _ := strconv.Atoi(m[5])
	p2, _ := strconv.Atoi(m[6])
	addr := fmt.Sprintf("%s.%s.%s.%s:%d", m[1], m[2], m[3], m[4], p1<<8|p2)
	return c.dialData(addr)
}

var epsvReply = regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)

// epsv sends EPSV and dials the advertised port on the control host.
func (c *rawClient) epsv() net.Conn {
	c.t.Helper()
	text := c.expect("EPSV", 229)
	m := epsvReply.FindStringSubmatch(text)
	if m == nil {
		c.t.Fatalf("EPSV reply %q", text)
	}
	host, _, _ := net.SplitHostPort(c.conn.RemoteAddr().String())
	return c.dialData(net.JoinHostPort(host, m[1]))
}

func (c *rawClient) dialData(addr string) net.Conn {
	c.t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		c.t.Fatalf("dial data %s: %v", addr, err)
	}
	c.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// retr downloads a file over EPSV and returns its bytes.
func (c *rawClient) retr(name string) []byte {
	c.t.Helper()
	data := c.epsv()
	c.expect("RETR "+name, 150)
	b, err := io.ReadAll(data)
	if err != nil {
		c.t.Fatalf("RETR %s: %v", name, err)
	}
	c.expectRead(226)
	return b
}

// stor uploads content over EPSV.
func (c *rawClient) stor(name string, content []byte) {
	c.t.Helper()
	data := c.epsv()
	c.expect("STOR "+name, 150)
	if _, err := data.Write(content); err != nil {
		c.t.Fatalf("STOR %s: %v", name, err)
	}
	_ = data.Close()
	c.expectRead(226)
}

// list runs a listing command over EPSV and returns what it sent.
func (c *rawClient) list(line string) string {
	c.t.Helper()
	data := c.epsv()
	c.expect(line, 150)
	b, err := io.ReadAll(data)
	if err != nil {
		c.t.Fatalf("%s: %v", line, err)
	}
	c.expectRead(226)
	return string(b)
}

// testTLSConfig returns a server config with a fresh self-signed
// certificate for 127.0.0.1, ::1 and localhost.
func testTLSConfig() *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ftpgate test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
}
