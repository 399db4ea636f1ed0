package proxyproto

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/spf13/afero"
)

// passivePort parses a 227 or 229 reply.
func passivePort(t *testing.T, reply string) (string, int) {
	t.Helper()
	if strings.HasPrefix(reply, "229") {
		var port int
		if _, err := fmt.Sscanf(reply[strings.Index(reply, "(|||"):], "(|||%d|)", &port); err != nil {
			t.Fatalf("229 reply %q: %v", reply, err)
		}
		return "", port
	}
	var a, b, c, d, p1, p2 int
	if _, err := fmt.Sscanf(reply[strings.Index(reply, "("):], "(%d,%d,%d,%d,%d,%d)", &a, &b, &c, &d, &p1, &p2); err != nil {
		t.Fatalf("227 reply %q: %v", reply, err)
	}
	return fmt.Sprintf("%d.%d.%d.%d", a, b, c, d), p1<<8 | p2
}

// upload stores content through PASV or EPSV, the data connection coming
// from 127.0.0.1 with dataHeader, and returns the final reply code.
func upload(t *testing.T, c *client, host, verb, name string, dataHeader []byte, content string) int {
	t.Helper()
	code := 227
	if verb == "EPSV" {
		code = 229
	}
	_, port := passivePort(t, c.cmd(verb, code))
	data := dial(t, "127.0.0.1", net.JoinHostPort(host, fmt.Sprint(port)), dataHeader)
	if _, err := fmt.Fprintf(c.conn, "STOR %s\r\n", name); err != nil {
		t.Fatal(err)
	}
	c.expect(150)
	if _, err := io.WriteString(data.conn, content); err != nil {
		t.Fatal(err)
	}
	_ = data.conn.Close()
	got, _ := c.read()
	return got
}

func TestPassiveDataThroughBalancer(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	const client = "192.0.2.10:40000"
	for _, verb := range []string{"PASV", "EPSV"} {
		t.Run(verb, func(t *testing.T) {
			c := dial(t, "127.0.0.1", ts.addr, v2(t, client, ts.addr))
			c.login()
			name := "/up-" + verb
			if code := upload(t, c, "127.0.0.1", verb, name, v2(t, "192.0.2.10:40001", "127.0.0.1:1"), "hello "+verb); code != 226 {
				t.Fatalf("upload: %d", code)
			}
			got, err := afero.ReadFile(ts.fs, name)
			if err != nil || string(got) != "hello "+verb {
				t.Fatalf("stored %q, %v", got, err)
			}
		})
	}
}

func TestPassiveDataFromAnotherClientIsRefused(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	c := dial(t, "127.0.0.1", ts.addr, v1("192.0.2.10:40000", ts.addr))
	c.login()
	_, port := passivePort(t, c.cmd("EPSV", 229))
	dataAddr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	// A thief behind the same balancer: its header names another client,
	// so the engine's IP match refuses it and keeps waiting. A malformed
	// header on the data port is dropped the same way. The passive port is
	// accepted from only once STOR comes, in connection order.
	// A silent peer first: its header read (timeout: testWait) must not
	// hold up the others.
	_ = dial(t, "127.0.0.1", dataAddr, nil)
	thief := dial(t, "127.0.0.1", dataAddr, v1("192.0.2.99:5", "127.0.0.1:1"))
	garbage := dial(t, "127.0.0.1", dataAddr, []byte("PROXY TCP4 nonsense\r\n"))
	data := dial(t, "127.0.0.1", dataAddr, v1("192.0.2.10:40001", "127.0.0.1:1"))
	c.cmd("STOR /kept", 150)
	_, _ = io.WriteString(data.conn, "kept")
	_ = data.conn.Close()
	c.expect(226)
	if got, _ := afero.ReadFile(ts.fs, "/kept"); string(got) != "kept" {
		t.Fatalf("stored %q", got)
	}
	thief.closed()
	garbage.closed()
	ts.log.mustLog(t, "refused a passive data connection from another address", "from=192.0.2.99:5", "malformed PROXY header")
}

func TestUntrustedDataConnectionBytesAreKept(t *testing.T) {
	t.Parallel()
	// 127.0.0.1 is not trusted: a direct client. A file that starts like
	// a PROXY header must be stored as it is, whatever the action.
	content := "PROXY TCP4 203.0.113.66 127.0.0.1 1 21\r\nthe rest of the file"
	for _, action := range []UntrustedAction{Reject, Ignore} {
		t.Run(action.String(), func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, "127.0.0.1", Config{Mode: Required, Trusted: []string{"192.0.2.0/24"}, Untrusted: action}, nil)
			c := dial(t, "127.0.0.1", ts.addr, nil)
			c.login()
			if code := upload(t, c, "127.0.0.1", "EPSV", "/f", nil, content); code != 226 {
				t.Fatalf("upload: %d", code)
			}
			if got, _ := afero.ReadFile(ts.fs, "/f"); string(got) != content {
				t.Fatalf("stored %q", got)
			}
		})
	}
}

func TestPassiveListenerBindsControlLocalAddress(t *testing.T) {
	t.Parallel()
	// Served on 127.0.0.3: the passive port must not answer on 127.0.0.4,
	// which a wildcard bind would.
	ts := startServer(t, "127.0.0.3", trustLoopback(Required), nil)
	c := dial(t, "127.0.0.1", ts.addr, v1("192.0.2.10:40000", "203.0.113.1:21"))
	c.login()
	host, port := passivePort(t, c.cmd("PASV", 227))
	if host != "127.0.0.3" {
		t.Fatalf("PASV advertised %s; want the control connection's local address", host)
	}
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.4", fmt.Sprint(port)), testWait); err == nil {
		_ = conn.Close()
		t.Fatal("the passive port answered on another address")
	}
}

func TestPassiveHostResolver(t *testing.T) {
	t.Parallel()
	override, err := ParseNetworkHost("192.0.2.0/25=10.9.8.7")
	if err != nil {
		t.Fatal(err)
	}
	ph := &PassiveHost{Networks: []NetworkHost{override}, UseDestination: true}
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), func(st *engine.Settings) {
		st.PublicIPResolver = ph.Resolve
	})
	for _, tc := range []struct {
		name, client, dst, want string
		code                    int
	}{
		{"network-override", "192.0.2.10:1", "203.0.113.5:21", "10.9.8.7", 227},
		{"balancer-destination", "192.0.2.200:1", "203.0.113.5:21", "203.0.113.5", 227},
		{"ipv6-client-side", "[2001:db8::5]:1", "[2001:db8::1]:21", "", 425},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, "127.0.0.1", ts.addr, v1(tc.client, tc.dst))
			c.login()
			reply := c.cmd("PASV", tc.code)
			if tc.code == 425 {
				if !strings.Contains(reply, "EPSV") {
					t.Fatalf("PASV over IPv6 should point to EPSV: %q", reply)
				}
				c.cmd("EPSV", 229) // EPSV carries no address and works
				return
			}
			if host, _ := passivePort(t, reply); host != tc.want {
				t.Fatalf("PASV advertised %s, want %s", host, tc.want)
			}
		})
	}
	if _, err := ParseNetworkHost("192.0.2.0/24=2001:db8::1"); err == nil {
		t.Error("an IPv6 PASV host was accepted")
	}
	if _, err := ParseNetworkHost("192.0.2.0/24"); err == nil {
		t.Error("a network without a host was accepted")
	}
	fallback := &PassiveHost{Default: "198.51.100.1", UseDestination: true}
	if got, err := fallback.Resolve(fakeCC{remote: netAddr("192.0.2.1:1"), local: netAddr("127.0.0.1:21")}); err != nil || got != "198.51.100.1" {
		t.Errorf("default: %q %v", got, err)
	}
}

func TestPASVOverIPv6BalancerLink(t *testing.T) {
	t.Parallel()
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback here")
	} else {
		_ = ln.Close()
	}
	ph := &PassiveHost{UseDestination: true}
	ts := startServer(t, "::1", Config{Mode: Required, Trusted: []string{"::1"}, HeaderTimeout: conf.Duration(testWait)}, func(st *engine.Settings) {
		st.PublicIPResolver = ph.Resolve
	})
	// The balancer reaches ftpgate over IPv6, the client reached the
	// balancer over IPv4: PASV can advertise the balancer's IPv4.
	c := dial(t, "::1", ts.addr, v2(t, "192.0.2.10:1", "203.0.113.5:21"))
	c.login()
	if host, _ := passivePort(t, c.cmd("PASV", 227)); host != "203.0.113.5" {
		t.Fatalf("PASV advertised %s", host)
	}
	// Without a header destination to go by, PASV on IPv6 points to EPSV.
	local := dial(t, "::1", ts.addr, v2Local())
	local.login()
	if reply := local.cmd("PASV", 425); !strings.Contains(reply, "EPSV") {
		t.Fatalf("PASV on IPv6: %q", reply)
	}
	local.cmd("EPSV", 229)
}

// fakeCC is a ClientContext without a session, for the resolver; it has
// no Proxy method, which ProxyInfoOf must handle.
type fakeCC struct {
	engine.ClientContext
	remote, local net.Addr
}

func (f fakeCC) RemoteAddr() net.Addr { return f.remote }
func (f fakeCC) LocalAddr() net.Addr  { return f.local }

func TestSharedPassivePortsDoNotWaitOnSilentPeers(t *testing.T) {
	t.Parallel()
	// An address of its own, so that no other test's ephemeral port can
	// take the port between freePort and the bind.
	port := freePort(t, "127.0.0.5")
	ts := startServer(t, "127.0.0.5", trustLoopback(Required), func(st *engine.Settings) {
		st.PassiveTransferPortRange = &engine.PortRange{Start: port, End: port}
		st.PassiveTransferPortMultiplexing = true
	})
	c := dial(t, "127.0.0.1", ts.addr, v1("192.0.2.10:40000", ts.addr))
	c.login()
	_, got := passivePort(t, c.cmd("EPSV", 229))
	if got != port {
		t.Fatalf("EPSV port %d, want %d", got, port)
	}
	dataAddr := net.JoinHostPort("127.0.0.5", fmt.Sprint(port))
	silent := dial(t, "127.0.0.1", dataAddr, nil) // holds a header read, not the port
	_ = silent
	data := dial(t, "127.0.0.1", dataAddr, v1("192.0.2.10:40001", "127.0.0.1:1"))
	c.cmd("STOR /shared", 150)
	_, _ = io.WriteString(data.conn, "shared")
	_ = data.conn.Close()
	c.expect(226)
	if b, _ := afero.ReadFile(ts.fs, "/shared"); string(b) != "shared" {
		t.Fatalf("stored %q", b)
	}
}

// freePort returns a port free on host right now.
func freePort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestSilentClientsDoNotDelayLogin opens 1,000 connections that never
// send a header, then logs in through the balancer. With the header read
// in the accept loop the login would wait behind them (the header timeout
// here is longer than the test's bound); with it in each connection's own
// goroutine it goes through at once.
func TestSilentClientsDoNotDelayLogin(t *testing.T) {
	t.Parallel()
	cfg := trustLoopback(Required)
	cfg.HeaderTimeout = conf.Duration(10 * time.Minute)
	ts := startServer(t, "127.0.0.1", cfg, nil)
	const silent = 1000
	conns := make([]net.Conn, 0, silent)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range silent {
		conn, err := net.DialTimeout("tcp", ts.addr, testWait)
		if err != nil {
			t.Fatalf("silent client %d: %v", len(conns), err)
		}
		conns = append(conns, conn)
	}
	// dial's deadline (testWait) bounds the login.
	c := dial(t, "127.0.0.1", ts.addr, v2(t, "192.0.2.77:1", ts.addr))
	c.login()
	c.cmd("QUIT", 221)
	admitted, _, _ := ts.seen.snapshot()
	if len(admitted) != 1 || netip.MustParseAddrPort(admitted[0]).Addr().String() != "192.0.2.77" {
		t.Fatalf("admitted %v: only the real client should have reached admission", admitted)
	}
}

// TestDataBytesMoveOnTheSocket: once a data connection's header is read
// and nothing past it is buffered, the transfer's bytes move on the plain
// socket (where sendfile and splice apply: always for downloads, for
// uploads when the client's first bytes come after the header was read);
// bytes that came with the header keep the wrapper, and none is lost.
func TestDataBytesMoveOnTheSocket(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	c := dial(t, "127.0.0.1", ts.addr, v2(t, "192.0.2.10:40000", ts.addr))
	c.login()

	// The header alone, the content after 150: drained at once.
	if code := upload(t, c, "127.0.0.1", "EPSV", "/drained", v2(t, "192.0.2.10:40001", "127.0.0.1:1"), "after the header"); code != 226 {
		t.Fatalf("upload: %d", code)
	}
	_ = afero.WriteFile(ts.fs, "/down", []byte("download bytes"), 0o644)
	_, port := passivePort(t, c.cmd("EPSV", 229))
	data := dial(t, "127.0.0.1", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), v2(t, "192.0.2.10:40002", "127.0.0.1:1"))
	c.cmd("RETR /down", 150)
	if got, err := io.ReadAll(data.conn); err != nil || string(got) != "download bytes" {
		t.Fatalf("RETR got %q, %v", got, err)
	}
	c.expect(226)

	// Content sent in the same write as the header is buffered past it:
	// the wrapper carries the transfer and hands those bytes over first.
	early := append(v2(t, "192.0.2.10:40003", "127.0.0.1:1"), "early "...)
	if code := upload(t, c, "127.0.0.1", "EPSV", "/buffered", early, "and late"); code != 226 {
		t.Fatalf("upload with early bytes: %d", code)
	}
	if got, _ := afero.ReadFile(ts.fs, "/drained"); string(got) != "after the header" {
		t.Fatalf("/drained holds %q", got)
	}
	if got, _ := afero.ReadFile(ts.fs, "/buffered"); string(got) != "early and late" {
		t.Fatalf("/buffered holds %q", got)
	}
	// The first upload's content may reach the server before it reads the
	// header (150 can precede the accept), so either side is right there;
	// the download's socket has nothing buffered once the header is read.
	got := ts.seen.dataConns()
	if len(got) != 3 || (got[0] != "*net.TCPConn" && got[0] != "*proxyproto.Conn") ||
		got[1] != "*net.TCPConn" || got[2] != "*proxyproto.Conn" {
		t.Fatalf("data connections of the transfers: %v, want [either *net.TCPConn *proxyproto.Conn]", got)
	}
}

// TestProxiedPassiveListenerIsKept: a PROXY-wrapped passive listener is
// kept for the session's next EPSV, as a plain one is (the engine's
// passive_spare.go), so that a client behind a balancer moving many small
// files costs one accept per file rather than a new listener; a silent
// connection that reached the listener during the first transfer is never
// handed to the next one.
func TestProxiedPassiveListenerIsKept(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	c := dial(t, "127.0.0.1", ts.addr, v2(t, "192.0.2.10:40000", ts.addr))
	c.login()

	_, p1 := passivePort(t, c.cmd("EPSV", 229))
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(p1))
	silent := dial(t, "127.0.0.1", addr, nil) // connects first, never sends a header
	defer func() { _ = silent.conn.Close() }()
	data := dial(t, "127.0.0.1", addr, v2(t, "192.0.2.10:40001", "127.0.0.1:1"))
	if _, err := fmt.Fprintf(c.conn, "STOR /one\r\n"); err != nil {
		t.Fatal(err)
	}
	c.expect(150)
	_, _ = io.WriteString(data.conn, "first")
	_ = data.conn.Close()
	c.expect(226)

	for i, name := range []string{"/two", "/three"} {
		_, p := passivePort(t, c.cmd("EPSV", 229))
		if p != p1 {
			t.Fatalf("EPSV %d after a proxied transfer advertised %d, want the kept %d", i+2, p, p1)
		}
		data := dial(t, "127.0.0.1", addr, v2(t, fmt.Sprintf("192.0.2.10:4100%d", i), "127.0.0.1:1"))
		c.cmd("STOR "+name, 150)
		_, _ = io.WriteString(data.conn, "more "+name)
		_ = data.conn.Close()
		c.expect(226)
	}
	for name, want := range map[string]string{"/one": "first", "/two": "more /two", "/three": "more /three"} {
		if got, err := afero.ReadFile(ts.fs, name); err != nil || string(got) != want {
			t.Fatalf("%s holds %q, %v; want %q", name, got, err, want)
		}
	}
}

// TestProxiedPassiveSplitHeaderIsKept: a data connection whose header is
// not there whole when it is accepted is checked in a goroutine of its own
// (the accept loop checks only whole ones, engine.ProxyHeaderReady); it
// still wins, and the listener its win interrupted is kept and serves the
// next transfer, whose header comes whole and is checked in the loop.
func TestProxiedPassiveSplitHeaderIsKept(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "127.0.0.1", trustLoopback(Required), nil)
	c := dial(t, "127.0.0.1", ts.addr, v2(t, "192.0.2.10:40000", ts.addr))
	c.login()
	_, p1 := passivePort(t, c.cmd("EPSV", 229))
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(p1))
	header := v2(t, "192.0.2.10:40001", "127.0.0.1:1")
	data := dial(t, "127.0.0.1", addr, header[:10])
	if _, err := fmt.Fprintf(c.conn, "STOR /split\r\n"); err != nil {
		t.Fatal(err)
	}
	// The loop has the connection once STOR is taken; the rest of the
	// header comes after 150, when its check waits in its goroutine.
	c.expect(150)
	if _, err := data.conn.Write(header[10:]); err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(data.conn, "split")
	_ = data.conn.Close()
	c.expect(226)

	_, p2 := passivePort(t, c.cmd("EPSV", 229))
	if p2 != p1 {
		t.Fatalf("EPSV after a split header's transfer advertised %d, want the kept %d", p2, p1)
	}
	whole := dial(t, "127.0.0.1", addr, v2(t, "192.0.2.10:40002", "127.0.0.1:1"))
	c.cmd("STOR /whole", 150)
	_, _ = io.WriteString(whole.conn, "whole")
	_ = whole.conn.Close()
	c.expect(226)
	for name, want := range map[string]string{"/split": "split", "/whole": "whole"} {
		if got, err := afero.ReadFile(ts.fs, name); err != nil || string(got) != want {
			t.Fatalf("%s holds %q, %v; want %q", name, got, err, want)
		}
	}
}
