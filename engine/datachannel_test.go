package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pasvAddr sends PASV and returns the advertised host and port.
func (c *rawClient) pasvAddr() (string, int) {
	c.t.Helper()
	text := c.expect("PASV", 227)
	m := pasvReply.FindStringSubmatch(text)
	if m == nil {
		c.t.Fatalf("PASV reply %q", text)
	}
	p1, _ := strconv.Atoi(m[5])
	p2, _ := strconv.Atoi(m[6])
	return strings.Join(m[1:5], "."), p1<<8 | p2
}

// epsvPortOnly sends EPSV and returns the advertised port.
func (c *rawClient) epsvPortOnly() int {
	c.t.Helper()
	text := c.expect("EPSV", 229)
	m := epsvReply.FindStringSubmatch(text)
	if m == nil {
		c.t.Fatalf("EPSV reply %q", text)
	}
	port, _ := strconv.Atoi(m[1])
	return port
}

// dialFromIP connects to addr from the local address ip, or skips the test
// where ip cannot be used.
func dialFromIP(t testing.TB, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot connect from %s: %v", ip, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// listenActive opens a listener for active-mode data connections, or skips
// the test where addr cannot be bound.
func listenActive(t testing.TB, addr string) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.(*net.TCPListener)
}

// acceptActive waits for the server's active-mode data connection.
func acceptActive(t testing.TB, ln *net.TCPListener) net.Conn {
	t.Helper()
	_ = ln.SetDeadline(time.Now().Add(waitTimeout))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("no active data connection: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// portArg renders a TCP address as a PORT argument.
func portArg(a net.Addr) string {
	ta := a.(*net.TCPAddr)
	ip := ta.IP.To4()
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d", ip[0], ip[1], ip[2], ip[3], ta.Port>>8, ta.Port&0xff)
}

// heldPortRange finds n consecutive free loopback ports and keeps them
// bound; the caller closes the listeners to free them.
func heldPortRange(t testing.TB, n int) (int, []net.Listener) {
	t.Helper()
	for start := 42000 + int(time.Now().UnixNano()%1000)*16; start < 65000; start += 97 {
		var lns []net.Listener
		for p := start; p < start+n; p++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == n {
			t.Cleanup(func() {
				for _, ln := range lns {
					_ = ln.Close()
				}
			})
			return start, lns
		}
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	t.Skip("no free range of loopback ports")
	return 0, nil
}

func TestPASVAdvertisesPublicHost(t *testing.T) {
	t.Parallel()
	var resolved atomic.Int32
	ts := newTestServer(t, withSettings(func(s *Settings) {
		s.PublicHost = "203.0.113.7"
		s.PublicIPResolver = func(ClientContext) (string, error) {
			resolved.Add(1)
			return "198.51.100.9", nil
		}
	}))
	writeFile(t, ts.driver.fs, "/f", []byte("via the public host"))
	c := ts.login(t)
	host, port := c.pasvAddr()
	if host != "203.0.113.7" {
		t.Fatalf("PASV advertised %s, want the PublicHost", host)
	}
	if n := resolved.Load(); n != 0 {
		t.Fatalf("PublicIPResolver called %d times though PublicHost is set", n)
	}
	// The listener itself is on the control connection's address.
	data := c.dialData(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	c.expect("RETR f", 150)
	if got := expectClosed(t, data, "data connection"); string(got) != "via the public host" {
		t.Fatalf("RETR got %q", got)
	}
	c.expectRead(226)
}

func TestPASVAdvertisesResolverAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer string
		err    error
		code   int
		want   string
	}{
		{"IPv4", "198.51.100.9", nil, 227, "(198,51,100,9,"},
		{"IPv4-mapped", "::ffff:198.51.100.10", nil, 227, "(198,51,100,10,"},
		{"error", "", errors.New("metadata service down"), 425, ""},
		{"IPv6", "2001:db8::1", nil, 425, ""},
		{"garbage", "not an address", nil, 425, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seen := make(chan string, 1)
			ts := newTestServer(t, withSettings(func(s *Settings) {
				s.PublicIPResolver = func(cc ClientContext) (string, error) {
					seen <- cc.RemoteAddr().String()
					return tc.answer, tc.err
				}
			}))
			c := ts.login(t)
			code, text := c.cmd("PASV")
			if code != tc.code || !strings.Contains(text, tc.want) {
				t.Fatalf("PASV: %d %s, want %d %s", code, text, tc.code, tc.want)
			}
			if got := recv(t, seen, "the resolver"); got != c.conn.LocalAddr().String() {
				t.Fatalf("resolver got session of %s, want %s", got, c.conn.LocalAddr())
			}
			// EPSV advertises no address and does not ask the resolver.
			c.expect("EPSV", 229)
		})
	}
}

func TestPassivePortRange(t *testing.T) {
	t.Parallel()
	const n = 3
	start, held := heldPortRange(t, n)
	ts := newTestServer(t, withSettings(func(s *Settings) {
		s.PassiveTransferPortRange = &PortRange{Start: start, End: start + n - 1}
	}))
	writeFile(t, ts.driver.fs, "/f", []byte("in range"))
	c := ts.login(t)

	// Every port of the range is taken by someone else.
	c.expect("PASV", 425)
	c.expect("EPSV", 425)
	c.expect("RETR f", 425) // no data connection was prepared

	for _, ln := range held {
		_ = ln.Close()
	}
	seen := map[int]bool{}
	for range 2 * n {
		_, port := c.pasvAddr()
		if port < start || port >= start+n {
			t.Fatalf("PASV port %d outside %d-%d", port, start, start+n-1)
		}
		seen[port] = true
		if p := c.epsvPortOnly(); p < start || p >= start+n {
			t.Fatalf("EPSV port %d outside %d-%d", p, start, start+n-1)
		}
	}
	if len(seen) != n {
		t.Fatalf("PASV used ports %v, want all %d of the range in turn", seen, n)
	}
	if got := c.retr("f"); string(got) != "in range" {
		t.Fatalf("RETR over a ranged port got %q", got)
	}
}

func TestPasvConnectionsCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		check    DataConnectionRequirement
		stranger bool // whether the connection from 127.0.0.2 gets the file
	}{
		{"required", IPMatchRequired, false},
		{"disabled", IPMatchDisabled, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, withSettings(func(s *Settings) { s.PasvConnectionsCheck = tc.check }))
			content := pattern(100_000)
			writeFile(t, ts.driver.fs, "/f", content)
			c := ts.login(t)
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.epsvPortOnly()))
			stranger := dialFromIP(t, "127.0.0.2", addr)
			c.expect("RETR f", 150)
			got := expectClosed(t, stranger, "the stranger's data connection")
			if tc.stranger {
				if !bytes.Equal(got, content) {
					t.Fatalf("stranger got %d bytes, want the file", len(got))
				}
				c.expectRead(226)
				return
			}
			if len(got) != 0 {
				t.Fatalf("a connection from another IP got %d bytes", len(got))
			}
			// The client's own connection still gets the file.
			own := c.dialData(addr)
			if got := expectClosed(t, own, "data connection"); !bytes.Equal(got, content) {
				t.Fatalf("client got %d bytes, want %d", len(got), len(content))
			}
			c.expectRead(226)
		})
	}
}

func TestActiveModeChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		check DataConnectionRequirement
		cmd   string
		code  int
	}{
		{"PORT elsewhere", IPMatchRequired, "PORT 192,0,2,1,15,160", 504},
		{"EPRT elsewhere", IPMatchRequired, "EPRT |1|192.0.2.1|4000|", 504},
		{"EPRT IPv6 elsewhere", IPMatchRequired, "EPRT |2|2001:db8::1|4000|", 504},
		{"PORT elsewhere allowed", IPMatchDisabled, "PORT 192,0,2,1,15,160", 200},
		{"EPRT elsewhere allowed", IPMatchDisabled, "EPRT |1|192.0.2.1|4000|", 200},
		{"PORT privileged", IPMatchRequired, "PORT 127,0,0,1,0,21", 504},
		{"PORT privileged allowed elsewhere", IPMatchDisabled, "PORT 192,0,2,1,0,25", 504},
		{"EPRT privileged", IPMatchDisabled, "EPRT |1|127.0.0.1|1023|", 504},
		{"PORT own unprivileged", IPMatchRequired, "PORT 127,0,0,1,4,0", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, withSettings(func(s *Settings) { s.ActiveConnectionsCheck = tc.check }))
			c := ts.login(t)
			c.expect(tc.cmd, tc.code)
			if tc.code == 504 {
				// A refused address leaves no data connection prepared.
				c.expect("LIST", 425)
			}
		})
	}
}

func TestActiveModeToAnotherAddressWhenAllowed(t *testing.T) {
	t.Parallel()
	ln := listenActive(t, "127.0.0.2:0")
	ts := newTestServer(t, withSettings(func(s *Settings) {
		s.ActiveConnectionsCheck = IPMatchDisabled
		s.ActiveTransferPortNon20 = true
	}))
	writeFile(t, ts.driver.fs, "/f", []byte("to 127.0.0.2"))
	c := ts.login(t)
	c.expect("PORT "+portArg(ln.Addr()), 200)
	c.expect("RETR f", 150)
	if got := expectClosed(t, acceptActive(t, ln), "active data connection"); string(got) != "to 127.0.0.2" {
		t.Fatalf("active RETR got %q", got)
	}
	c.expectRead(226)
}

func TestEPRTOverIPv6(t *testing.T) {
	t.Parallel()
	ctl, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ts := newTestServerOn(t, ctl, withSettings(func(s *Settings) { s.ActiveTransferPortNon20 = true }))
	content := pattern(200_000)
	writeFile(t, ts.driver.fs, "/f", content)
	c := dialNoBanner(t, ts.addr)
	c.expectRead(220)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)

	ln := listenActive(t, "[::1]:0")
	port := ln.Addr().(*net.TCPAddr).Port
	c.expect(fmt.Sprintf("EPRT |2|::1|%d|", port), 200)
	c.expect("RETR f", 150)
	if got := expectClosed(t, acceptActive(t, ln), "active data connection"); !bytes.Equal(got, content) {
		t.Fatalf("EPRT RETR got %d bytes", len(got))
	}
	c.expectRead(226)

	// An IPv4 address is not the client's.
	c.expect(fmt.Sprintf("EPRT |1|127.0.0.1|%d|", port), 504)
	// PASV cannot express IPv6; EPSV can.
	c.expect("PASV", 425)
	c.expect("EPSV 1", 522)
	if got := c.retr("f"); !bytes.Equal(got, content) {
		t.Fatalf("EPSV RETR over IPv6 got %d bytes", len(got))
	}
}

func TestEPSVAllRefusesOtherModes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	writeFile(t, ts.driver.fs, "/f", []byte("epsv only"))
	c := ts.login(t)
	ln := listenActive(t, "127.0.0.1:0")
	c.expect("EPSV ALL", 200)
	c.expect("PORT "+portArg(ln.Addr()), 503)
	c.expect(fmt.Sprintf("EPRT |1|127.0.0.1|%d|", ln.Addr().(*net.TCPAddr).Port), 503)
	c.expect("PASV", 503)
	c.expect("LIST", 425) // nothing was prepared
	if got := c.retr("f"); string(got) != "epsv only" {
		t.Fatalf("EPSV RETR got %q", got)
	}
	// REIN ends EPSV ALL.
	c.expect("REIN", 220)
	c.expect("USER test", 331)
	c.expect("PASS test", 230)
	data := c.pasv()
	c.expect("RETR f", 150)
	if got := expectClosed(t, data, "data connection"); string(got) != "epsv only" {
		t.Fatalf("RETR over PASV got %q", got)
	}
	c.expectRead(226)
}

func TestPassiveNobodyConnectsIs425(t *testing.T) {
	t.Parallel()
	ffs, _, c := newFaultServer(t, []byte("never sent"), withConnTimeout(1))
	c.expect("EPSV", 229)
	start := time.Now()
	c.expect("RETR f.bin", 150)
	code, text := c.read()
	elapsed := time.Since(start)
	if code != 425 {
		t.Fatalf("RETR without a data connection: %d %s, want 425", code, text)
	}
	if elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("425 came after %v, want about the 1 s ConnectionTimeout", elapsed)
	}
	h := ffs.onlyHandle(t, "/f.bin")
	h.expectFailure(t, nil)
	var ne net.Error
	if err := h.transferErrors()[0]; !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("TransferError(%v), want a timeout", err)
	}
	c.expect("NOOP", 200)
}

func TestDisableActiveMode(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withSettings(func(s *Settings) { s.DisableActiveMode = true }))
	writeFile(t, ts.driver.fs, "/f", []byte("passive only"))
	c := ts.login(t)
	c.expect("PORT 127,0,0,1,4,0", 502)
	c.expect("EPRT |1|127.0.0.1|1024|", 502)
	c.expect("LIST", 425)
	if got := c.retr("f"); string(got) != "passive only" {
		t.Fatalf("RETR got %q", got)
	}
	data := c.pasv()
	c.expect("RETR f", 150)
	if got := expectClosed(t, data, "data connection"); string(got) != "passive only" {
		t.Fatalf("RETR over PASV got %q", got)
	}
	c.expectRead(226)
}
