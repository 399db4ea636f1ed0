package engine

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// lineProxyConn is a ProxiedConn with a toy header: a first line
// "FROM host:port" names the client, "LOCAL" is a health check, anything
// else is refused. It stands in for engine/proxyproto, which the engine
// must not import.
type lineProxyConn struct {
	net.Conn
	once sync.Once
	r    *bufio.Reader
	info *ProxyInfo
	err  error
}

func (c *lineProxyConn) ProxyHandshake() (*ProxyInfo, error) {
	c.once.Do(func() {
		c.r = bufio.NewReader(c.Conn)
		line, err := c.r.ReadString('\n')
		line = strings.TrimSpace(line)
		switch {
		case err != nil:
			c.err = err
		case line == "LOCAL":
			c.info = &ProxyInfo{Version: 2, Local: true, Balancer: c.Conn.RemoteAddr()}
		case strings.HasPrefix(line, "FROM "):
			src, err := net.ResolveTCPAddr("tcp", strings.TrimPrefix(line, "FROM "))
			if err != nil {
				c.err = err
				return
			}
			c.info = &ProxyInfo{Version: 1, Balancer: c.Conn.RemoteAddr(), Source: src, Authority: "tenant.example"}
		default:
			c.err = errors.New("bad header")
		}
	})
	return c.info, c.err
}

func (c *lineProxyConn) Read(b []byte) (int, error) {
	if _, err := c.ProxyHandshake(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

func (c *lineProxyConn) RemoteAddr() net.Addr {
	if info, err := c.ProxyHandshake(); err == nil && info != nil && info.Source != nil {
		return info.Source
	}
	return c.Conn.RemoteAddr()
}

func (c *lineProxyConn) NetConn() net.Conn { return c.Conn }

// lineProxyListener hands out lineProxyConns; Accept itself never reads.
type lineProxyListener struct{ net.Listener }

func (l lineProxyListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lineProxyConn{Conn: conn}, nil
}

// proxiedTestServer serves a lineProxyListener and wraps passive listeners
// the same way: through the driver's MainDriverExtensionPassiveWrapper, or
// with serverLevel through Server.PassiveListenerWrapper.
func proxiedTestServer(t *testing.T, shared bool, serverLevel ...bool) (*testServer, *Server) {
	t.Helper()
	td := &testDriver{
		fs:       afero.NewMemMapFs(),
		settings: &Settings{ConnectionTimeout: 5},
		users:    map[string]string{"test": "test"},
	}
	var d interface {
		MainDriver
		test() *testDriver
	} = &proxyWrapDriver{testDriver: td}
	if len(serverLevel) > 0 && serverLevel[0] {
		d = plainDriver{td}
	}
	if shared {
		port := freeTestPort(t)
		td.settings.PassiveTransferPortRange = &PortRange{Start: port, End: port}
		td.settings.PassiveTransferPortMultiplexing = true
	}
	srv := &Server{Driver: d, Logger: slog.New(slog.DiscardHandler)}
	if _, ok := d.(plainDriver); ok {
		srv.PassiveListenerWrapper = func(ln net.Listener) (net.Listener, error) { return lineProxyListener{ln}, nil }
	}
	ln, err := net.Listen("tcp", "127.0.0.6:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, driver: d.test(), addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(lineProxyListener{ln}) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case <-ts.done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return ts, srv
}

// proxyWrapDriver is the test driver plus MainDriverExtensionPassiveWrapper.
type proxyWrapDriver struct{ *testDriver }

func (d *proxyWrapDriver) test() *testDriver { return d.testDriver }

// plainDriver is the test driver without the extension.
type plainDriver struct{ *testDriver }

func (d plainDriver) test() *testDriver { return d.testDriver }

func (d *proxyWrapDriver) WrapPassiveListener(ln net.Listener) (net.Listener, error) {
	return lineProxyListener{ln}, nil
}

// freeTestPort returns a port free on 127.0.0.6, an address no other test
// of the package uses.
func freeTestPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.6:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// dialWith connects, sends a header line, and returns the client.
func dialWith(t *testing.T, addr, header string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if header != "" {
		if _, err := conn.Write([]byte(header + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func TestProxiedConnContract(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name                string
		shared, serverLevel bool
	}{
		{"own-passive-port", false, false},
		{"shared-passive-port", true, false},
		{"own-passive-port/server-wrapper", false, true},
		{"shared-passive-port/server-wrapper", true, true},
	} {
		shared := c.shared
		t.Run(c.name, func(t *testing.T) {
			ts, _ := proxiedTestServer(t, shared, c.serverLevel)
			// A silent client first: the accept loop must not wait on it.
			silent := dialWith(t, ts.addr, "")
			_ = silent

			c := dialWith(t, ts.addr, "FROM 192.0.2.10:4000")
			if code, msg := c.read(); code != 220 {
				t.Fatalf("banner %d %s", code, msg)
			}
			c.expect("USER test", 331)
			c.expect("PASS test", 230)
			ts.driver.mu.Lock()
			cc := ts.driver.contexts[len(ts.driver.contexts)-1]
			ts.driver.mu.Unlock()
			info := ProxyInfoOf(cc)
			if cc.RemoteAddr().String() != "192.0.2.10:4000" || info == nil || info.Authority != "tenant.example" {
				t.Fatalf("RemoteAddr %v, ProxyInfo %+v", cc.RemoteAddr(), info)
			}
			if cc.LocalAddr().String() != ts.addr {
				t.Fatalf("LocalAddr %v, want the socket's %s", cc.LocalAddr(), ts.addr)
			}
			if got := c.expect("STAT", 211); !strings.Contains(got, "Connected to 192.0.2.10:4000") {
				t.Fatalf("STAT: %q", got)
			}

			// Passive data: a silent connection, a refused header and
			// another client's header come before the right one. The
			// silent one must hold up neither the session's own port nor
			// a shared port's other clients.
			m := epsvReply.FindStringSubmatch(c.expect("EPSV", 229))
			if m == nil {
				t.Fatal("EPSV reply without a port")
			}
			dataAddr := net.JoinHostPort("127.0.0.6", m[1])
			_ = dialWith(t, dataAddr, "")
			bad := dialWith(t, dataAddr, "GARBAGE")
			thief := dialWith(t, dataAddr, "FROM 192.0.2.99:1")
			good := dialWith(t, dataAddr, "FROM 192.0.2.10:4001")
			c.send("STOR f")
			if code, msg := c.read(); code != 150 {
				t.Fatalf("STOR: %d %s", code, msg)
			}
			_, _ = good.conn.Write([]byte("data"))
			_ = good.conn.Close()
			if code, msg := c.read(); code != 226 {
				t.Fatalf("STOR end: %d %s", code, msg)
			}
			if b, _ := afero.ReadFile(ts.driver.fs, "/f"); string(b) != "data" {
				t.Fatalf("stored %q", b)
			}
			for _, dc := range []*rawClient{bad, thief} {
				_ = dc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				if n, err := dc.conn.Read(make([]byte, 1)); n != 0 || err == nil {
					t.Fatal("a refused data connection stayed open")
				}
			}
		})
	}
}

func TestProxiedConnRefusedOrLocal(t *testing.T) {
	t.Parallel()
	ts, _ := proxiedTestServer(t, false)
	bad := dialWith(t, ts.addr, "GARBAGE")
	_ = bad.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _ := bad.conn.Read(make([]byte, 64)); n != 0 {
		t.Fatal("a refused header got a banner")
	}
	local := dialWith(t, ts.addr, "LOCAL")
	if code, _ := local.read(); code != 220 {
		t.Fatalf("LOCAL banner %d", code)
	}
	ts.driver.mu.Lock()
	cc := ts.driver.contexts[len(ts.driver.contexts)-1]
	ts.driver.mu.Unlock()
	if info := ProxyInfoOf(cc); info == nil || !info.Local || cc.RemoteAddr().String() != local.conn.LocalAddr().String() {
		t.Fatalf("LOCAL: RemoteAddr %v, ProxyInfo %+v", cc.RemoteAddr(), info)
	}
	if ProxyInfoOf(nil) != nil {
		t.Fatal("ProxyInfoOf(nil)")
	}
}

// TestShutdownClosesConnectionsAwaitingTheirHeader: a peer that connects
// and never sends its PROXY header is closed by Shutdown at once, not left
// until a header timeout, and Shutdown does not wait for it.
func TestShutdownClosesConnectionsAwaitingTheirHeader(t *testing.T) {
	t.Parallel()
	ts, srv := proxiedTestServer(t, false)
	silent, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A session that did send its header proves the server has accepted
	// connections before the shutdown starts.
	c := dialWith(t, ts.addr, "FROM 192.0.2.1:1000")
	if code, msg := c.read(); code != 220 {
		t.Fatalf("banner %d %s", code, msg)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); n != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the silent peer's connection is still open after Shutdown: %d bytes, %v", n, err)
	}
}
