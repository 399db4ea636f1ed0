package ratelimit

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	"github.com/ftpgate/ftpgate/engine/conf"
	"github.com/ftpgate/ftpgate/engine/enginetest"
	"github.com/ftpgate/ftpgate/engine/proxyproto"
	"github.com/jlaffaye/ftp"
	"github.com/spf13/afero"
)

// proxiedServer is a limited server behind a PROXY protocol listener that
// trusts loopback, so that tests can connect "from" any address.
type proxiedServer struct {
	addr string
	l    *Limiter
}

// newProxiedServer serves drv (the passwordDriver of the harness when nil)
// limited by cfg, reading a PROXY header on every connection.
func newProxiedServer(t *testing.T, cfg Config, drv engine.MainDriver) *proxiedServer {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.Logger = slog.New(slog.DiscardHandler)
	if drv == nil {
		drv = &passwordDriver{users: map[string]string{"alice": "secret", "bob": "secret"}, fs: afero.NewMemMapFs(),
			settings: engine.Settings{ConnectionTimeout: 10}}
	}
	srv := &engine.Server{Driver: drv, Logger: slog.New(slog.DiscardHandler)}
	l.Install(srv)
	w, err := proxyproto.New(proxyproto.Config{Mode: proxyproto.Required, Trusted: []string{"127.0.0.0/8"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(w.Wrap(ln)) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return &proxiedServer{addr: ln.Addr().String(), l: l}
}

// dialAs connects to the server and sends a PROXY v1 header saying the
// connection comes from src.
func dialAs(addr, src string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return nil, err
	}
	a := netip.MustParseAddr(src)
	fam, dst := "TCP4", "127.0.0.1"
	if a.Is6() {
		fam, dst = "TCP6", "::1"
	}
	_ = conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := fmt.Fprintf(conn, "PROXY %s %s %s 40000 21\r\n", fam, src, dst); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// rawAs is dialRaw through a PROXY header from src.
func (ps *proxiedServer) rawAs(t *testing.T, src string) (*rawClient, int, string) {
	t.Helper()
	conn, err := dialAs(ps.addr, src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := enginetest.NewConn(t, conn)
	code, text := c.Read()
	return c, code, text
}

// ftpAs logs in with jlaffaye/ftp from src.
func (ps *proxiedServer) ftpAs(t *testing.T, src, user, pass string) (*ftp.ServerConn, error) {
	t.Helper()
	c, err := ftp.Dial(ps.addr, ftp.DialWithTimeout(ioTimeout), ftp.DialWithDialFunc(func(string, string) (net.Conn, error) {
		return dialAs(ps.addr, src)
	}))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Quit() })
	return c, c.Login(user, pass)
}

// TestIPv6SubnetIsOneClient: the addresses of one IPv6 /64 share one
// connection count and one failure score, and a ban covers the whole /64;
// the next /64 is another client.
func TestIPv6SubnetIsOneClient(t *testing.T) {
	t.Parallel()
	ps := newProxiedServer(t, Config{LoginFailures: 3, MaxConnsPerIP: 2, BanTime: conf.Duration(time.Hour), FailedLoginDelay: -1}, nil)

	// Connections at once: two addresses of the /64 hold its two slots.
	a1, code, _ := ps.rawAs(t, "2001:db8:1:1::1")
	if code != 220 {
		t.Fatalf("first address of the /64: %d", code)
	}
	a2, code, _ := ps.rawAs(t, "2001:db8:1:1::2")
	if code != 220 {
		t.Fatalf("second address of the /64: %d", code)
	}
	a3, code, text := ps.rawAs(t, "2001:db8:1:1::3")
	if code != 421 || !strings.Contains(text, "connections from your address") {
		t.Fatalf("a third address of the same /64 with two connections open: %d %s, want 421", code, text)
	}
	a3.ExpectClosed()
	if c, code, text := ps.rawAs(t, "2001:db8:1:2::1"); code != 220 {
		t.Fatalf("another /64: %d %s, want 220", code, text)
	} else {
		c.Expect("QUIT", 221)
	}
	a1.Expect("QUIT", 221)
	a2.Expect("QUIT", 221)
	freed := func() {
		eventually(t, "the /64's connection slots", func() bool {
			n := -1
			ps.l.ips.peek(netip.MustParseAddr("2001:db8:1:1::"), time.Now(), func(s *ipState) { n = s.conns })
			return n == 0
		})
	}
	freed()

	// Failures: one each from three addresses of the /64, on three
	// accounts (so that no account's own count is what bans).
	for i, user := range []string{"u1", "u2", "u3"} {
		c, code, _ := ps.rawAs(t, fmt.Sprintf("2001:db8:1:1::%x", 0x10+i))
		if code != 220 {
			t.Fatalf("attempt %d: banner %d", i, code)
		}
		c.Expect("USER "+user, 331)
		c.Expect("PASS wrong", 530)
		if i < 2 {
			c.Expect("QUIT", 221)
			freed()
		}
	}
	c, code, text := ps.rawAs(t, "2001:db8:1:1::99")
	if code != 421 || !strings.Contains(text, "failed logins") {
		t.Fatalf("a fresh address of the banned /64: %d %s, want 421", code, text)
	}
	c.ExpectClosed()
	if _, banned := ps.l.Banned(netip.MustParseAddr("2001:db8:1:1:ffff::1")); !banned {
		t.Fatal("Banned: the /64 is not banned")
	}
	if _, err := ps.ftpAs(t, "2001:db8:1:2::1", "bob", "secret"); err != nil {
		t.Fatalf("bob from the next /64: %v", err)
	}
}

// TestIPv4Prefix: with ipv4_prefix = 24 the addresses of a /24 are one
// client; by default each IPv4 address is its own.
func TestIPv4Prefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prefix int
		banned bool
	}{{0, false}, {24, true}} {
		ps := newProxiedServer(t, Config{LoginFailures: 2, IPv4Prefix: tc.prefix, FailedLoginDelay: -1}, nil)
		for i, user := range []string{"u1", "u2"} {
			c, _, _ := ps.rawAs(t, fmt.Sprintf("192.0.2.%d", 10+i))
			c.Expect("USER "+user, 331)
			c.Expect("PASS wrong", 530)
		}
		_, code, _ := ps.rawAs(t, "192.0.2.200")
		if banned := code == 421; banned != tc.banned {
			t.Errorf("ipv4_prefix %d: a third address of the /24 got %d, want banned=%v", tc.prefix, code, tc.banned)
		}
	}
}

// gateDriver is a passwordDriver whose check of the password "block"
// waits until release is closed, so that tests can hold logins in flight.
type gateDriver struct {
	passwordDriver
	inside  atomic.Int32 // checks of "block" waiting now
	release chan struct{}
}

func (d *gateDriver) AuthUser(cc engine.ClientContext, user, pass string) (engine.ClientDriver, error) {
	if pass == "block" {
		d.inside.Add(1)
		<-d.release
	}
	return d.passwordDriver.AuthUser(cc, user, pass)
}

// TestParallelAttemptsOnOneAccount: an account with two failures left
// lets a fresh address have only two of ten parallel attempts checked;
// the other eight are refused before their password is looked at, and
// then the account refuses logins from anywhere.
func TestParallelAttemptsOnOneAccount(t *testing.T) {
	t.Parallel()
	drv := &gateDriver{release: make(chan struct{}), passwordDriver: passwordDriver{
		users: map[string]string{"alice": "secret", "bob": "secret"}, fs: afero.NewMemMapFs(),
		settings: engine.Settings{ConnectionTimeout: 10}}}
	var once sync.Once
	open := func() { once.Do(func() { close(drv.release) }) }
	t.Cleanup(open)
	ps := newProxiedServer(t, Config{LoginFailures: 4, BanTime: conf.Duration(time.Hour), FailedLoginDelay: -1}, drv)

	// Two failures on alice, each from an address of its own.
	for _, src := range []string{"192.0.2.1", "192.0.2.2"} {
		c, _, _ := ps.rawAs(t, src)
		c.Expect("USER alice", 331)
		c.Expect("PASS wrong", 530)
	}
	// Ten parallel attempts from a fresh address: it may have four in
	// flight, the account only two.
	const n = 10
	var refused atomic.Int32
	codes := make(chan int, n)
	for range n {
		go func() {
			conn, err := dialAs(ps.addr, "192.0.2.3")
			if err != nil {
				codes <- 0
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(ioTimeout))
			r := bufio.NewReader(conn)
			read := func() int {
				line, err := r.ReadString('\n')
				if err != nil || len(line) < 3 {
					return 0
				}
				var code int
				fmt.Sscanf(line[:3], "%d", &code)
				return code
			}
			read() // banner
			_, _ = io.WriteString(conn, "USER alice\r\n")
			read()
			_, _ = io.WriteString(conn, "PASS block\r\n")
			code := read()
			if code == 421 {
				refused.Add(1)
			}
			codes <- code
		}()
	}
	eventually(t, "every attempt checked or refused", func() bool {
		return refused.Load()+drv.inside.Load() == n
	})
	if in := drv.inside.Load(); in != 2 {
		t.Errorf("%d attempts reached the password check at once, want the 2 the account has left", in)
	}
	open()
	got := map[int]int{}
	for range n {
		got[<-codes]++
	}
	if got[530] != 2 || got[421] != n-2 {
		t.Errorf("replies %v, want 2×530 and %d×421", got, n-2)
	}
	// alice has no attempt left, whatever the address; bob is unaffected.
	c, _, _ := ps.rawAs(t, "198.51.100.7")
	c.Expect("USER alice", 331)
	if code, text := c.Cmd("PASS secret"); code != 421 || !strings.Contains(text, "account") {
		t.Fatalf("alice from a fresh address: %d %s, want 421", code, text)
	}
	if _, err := ps.ftpAs(t, "198.51.100.8", "bob", "secret"); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if st := ps.l.Stats(); st.RefusedUserLoginAttempts < uint64(n-2) {
		t.Errorf("Stats.RefusedUserLoginAttempts = %d, want at least %d", st.RefusedUserLoginAttempts, n-2)
	}
}
