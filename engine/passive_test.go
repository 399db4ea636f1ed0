package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// testPorts hands out ports below Linux's default ephemeral range
// (32768 and up), so that the listeners of parallel tests that bind port 0
// cannot take a port between freePort and its use. The random start keeps
// test binaries that run at the same time apart.
var testPorts = struct {
	once sync.Once
	next atomic.Int32
}{}

// freePort returns a loopback TCP port that was free a moment ago and that
// no other test of this process is given.
func freePort(t *testing.T) int {
	t.Helper()
	testPorts.once.Do(func() { testPorts.next.Store(int32(20000 + rand.IntN(10000))) })
	for range 200 {
		port := int(testPorts.next.Add(1))
		if port >= 32000 {
			testPorts.next.Store(20000)
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return port
	}
	t.Fatal("no free loopback port below the ephemeral range")
	return 0
}

// dialFrom connects to the test server from a chosen loopback address, or
// skips the test where that address cannot be used.
func (ts *testServer) dialFrom(t *testing.T, ip string) *rawClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Skipf("cannot connect from %s: %v", ip, err)
	}
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { _ = conn.Close() })
	c.expectRead(220)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	return c
}

// epsvPort sends EPSV and returns the advertised port.
func (c *rawClient) epsvPort() int {
	c.t.Helper()
	m := epsvReply.FindStringSubmatch(c.expect("EPSV", 229))
	if m == nil {
		c.t.Fatal("EPSV reply without a port")
	}
	port, _ := strconv.Atoi(m[1])
	return port
}

// dialDataFrom opens a data connection from a chosen local address.
func (c *rawClient) dialDataFrom(ip string, port int) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

func TestPassivePortNobodyClaimsIsFreedAfterConnectionTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withSettings(func(st *Settings) { st.ConnectionTimeout = 1 }))
	c := ts.login(t)
	port := c.epsvPort()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // the port was given back
		}
		_ = conn.Close()
		select {
		case <-deadline:
			t.Fatal("the unclaimed passive port was still open after 10 s")
		case <-tick.C:
		}
	}
	_ = afero.WriteFile(ts.driver.fs, "/f", []byte("x"), 0o644)
	c.expect("RETR f", 150)
	if text := c.expectRead(425); !strings.Contains(text, "expired") {
		t.Fatalf("425 reply %q does not say the port expired", text)
	}
	if got := c.retr("f"); string(got) != "x" {
		t.Fatalf("after a new EPSV, RETR got %q", got)
	}
}

func TestPassivePortClaimedInTimeIsKept(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login(t)
	_ = afero.WriteFile(ts.driver.fs, "/f", []byte("kept"), 0o644)
	if got := c.retr("f"); string(got) != "kept" {
		t.Fatalf("RETR got %q", got)
	}
}

func TestPortRangeOfOneIsBusyWithoutMultiplexing(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	ts := newTestServer(t, withSettings(func(st *Settings) {
		st.PassiveTransferPortRange = &PortRange{Start: port, End: port}
	}))
	a := ts.login(t)
	if got := a.epsvPort(); got != port {
		t.Fatalf("EPSV port %d, want %d from the range", got, port)
	}
	b := ts.login(t)
	b.expect("EPSV", 425)
}

func TestMultiplexedPortServesClientsFromDifferentIPs(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	ts := newTestServer(t, withSettings(func(st *Settings) {
		st.PassiveTransferPortRange = &PortRange{Start: port, End: port}
		st.PassiveTransferPortMultiplexing = true
	}))
	contents := map[string][]byte{
		"127.0.0.1": bytes.Repeat([]byte("one "), 300000),
		"127.0.0.2": bytes.Repeat([]byte("two "), 300000),
	}
	clients := map[string]*rawClient{}
	for ip, content := range contents {
		_ = afero.WriteFile(ts.driver.fs, "/"+ip, content, 0o644)
		clients[ip] = ts.dialFrom(t, ip)
		if got := clients[ip].epsvPort(); got != port {
			t.Fatalf("client %s got port %d, want the shared %d", ip, got, port)
		}
	}

	// A second session from an IP that holds the port already gets none.
	again := ts.dialFrom(t, "127.0.0.1")
	again.expect("EPSV", 425)

	// A stranger's connection to the shared port is refused and takes
	// nobody's transfer.
	if stranger, err := clients["127.0.0.1"].dialDataFrom("127.0.0.3", port); err == nil {
		_ = stranger.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _ := stranger.Read(make([]byte, 1)); n != 0 {
			t.Fatal("a stranger read data from the shared port")
		}
		_ = stranger.Close()
	}

	var wg sync.WaitGroup
	for ip, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, err := c.dialDataFrom(ip, port)
			if err != nil {
				t.Errorf("%s: %v", ip, err)
				return
			}
			defer data.Close()
			c.send("RETR " + ip)
			if code, text := c.read(); code != 150 {
				t.Errorf("%s: RETR got %d %s", ip, code, text)
				return
			}
			got, err := io.ReadAll(data)
			if err != nil || !bytes.Equal(got, contents[ip]) {
				t.Errorf("%s received %d bytes (%v), want its own %d", ip, len(got), err, len(contents[ip]))
			}
			if code, text := c.read(); code != 226 {
				t.Errorf("%s: after RETR got %d %s", ip, code, text)
			}
		}()
	}
	wg.Wait()

	// Once the transfers are done the port is free for the next client.
	if got := again.epsvPort(); got != port {
		t.Fatalf("after the transfers EPSV got port %d, want %d", got, port)
	}
}

// wrappingDriver wraps passive listeners, as a PROXY protocol reader does.
type wrappingDriver struct {
	*testDriver
	accepted atomic.Int32
	fail     atomic.Bool
}

func (d *wrappingDriver) WrapPassiveListener(ln net.Listener) (net.Listener, error) {
	if d.fail.Load() {
		return nil, errors.New("no wrapping today")
	}
	return &countingListener{Listener: ln, n: &d.accepted}, nil
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return conn, err
}

func TestPassiveListenersAreWrappedByTheDriver(t *testing.T) {
	t.Parallel()
	for _, multiplex := range []bool{false, true} {
		t.Run(fmt.Sprint("multiplexing=", multiplex), func(t *testing.T) {
			var wd *wrappingDriver
			port := freePort(t)
			ts := newTestServer(t, func(d *testDriver, srv *Server) {
				wd = &wrappingDriver{testDriver: d}
				srv.Driver = wd
				d.settings.PassiveTransferPortMultiplexing = multiplex
				d.settings.PassiveTransferPortRange = &PortRange{Start: port, End: port}
			})
			_ = afero.WriteFile(ts.driver.fs, "/f", []byte("wrapped"), 0o644)
			c := ts.login(t)
			if got := c.retr("f"); string(got) != "wrapped" {
				t.Fatalf("RETR got %q", got)
			}
			if n := wd.accepted.Load(); n != 1 {
				t.Fatalf("the wrapped listener accepted %d connections, want 1", n)
			}
			wd.fail.Store(true)
			c.expect("EPSV", 425)
		})
	}
}
