package engine

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

func TestParseEphemeralRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in        string
		low, high uint32
	}{
		{"32768\t60999\n", 32768, 60999},
		{"1024 65535", 1024, 65535},
		{"40000 40000\n", 40000, 40000},
		{"", defaultEphemeralLow, defaultEphemeralHigh},
		{"60999 32768", defaultEphemeralLow, defaultEphemeralHigh},
		{"0 100", defaultEphemeralLow, defaultEphemeralHigh},
		{"1 70000", defaultEphemeralLow, defaultEphemeralHigh},
		{"a b", defaultEphemeralLow, defaultEphemeralHigh},
		{"1 2 3", defaultEphemeralLow, defaultEphemeralHigh},
	} {
		low, high := parseEphemeralRange(tc.in)
		if low != tc.low || high != tc.high {
			t.Errorf("parseEphemeralRange(%q) = %d, %d; want %d, %d", tc.in, low, high, tc.low, tc.high)
		}
	}
}

func FuzzParseEphemeralRange(f *testing.F) {
	f.Add("32768\t60999\n")
	f.Add("65535 65535")
	f.Add("x")
	f.Fuzz(func(t *testing.T, s string) {
		low, high := parseEphemeralRange(s)
		if low == 0 || low > high || high > 65535 {
			t.Fatalf("parseEphemeralRange(%q) = %d, %d", s, low, high)
		}
	})
}

// TestEphemeralPortsCycle checks that the cursor visits every odd port of
// the range, stays inside it, and copes with one-port ranges.
func TestEphemeralPortsCycle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ low, high uint32 }{{32768, 60999}, {40000, 40009}, {40001, 40010}, {40000, 40000}, {40001, 40001}} {
		var e ephemeralPorts
		e.once.Do(func() {}) // set the range by hand, not from /proc
		e.low = tc.low | 1
		if e.low > tc.high {
			e.low, e.n = tc.low, 1
		} else {
			e.n = (tc.high-e.low)/2 + 1
		}
		seen := map[uint16]bool{}
		for range 2 * e.n {
			p := e.port()
			if uint32(p) < tc.low || uint32(p) > tc.high {
				t.Fatalf("range %d-%d: port %d outside", tc.low, tc.high, p)
			}
			if e.n > 1 && p%2 == 0 {
				t.Fatalf("range %d-%d: even port %d", tc.low, tc.high, p)
			}
			seen[p] = true
		}
		if uint32(len(seen)) != e.n {
			t.Errorf("range %d-%d: %d distinct ports, want %d", tc.low, tc.high, len(seen), e.n)
		}
	}
}

// TestListenEphemeralSkipsBusyPorts holds the next port of the cursor and
// checks that a passive listener still opens, on another port.
func TestListenEphemeralSkipsBusyPorts(t *testing.T) {
	t.Parallel()
	srv := &Server{}
	ip := netip.MustParseAddr("127.0.0.1")
	next := srv.ephemeral.port()
	busy, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, next+2)))
	if err != nil {
		t.Skipf("cannot hold port %d: %v", next+2, err)
	}
	defer busy.Close()
	ln, err := srv.listenEphemeral(ip)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := ln.Addr().(*net.TCPAddr).Port; got == int(next+2) || got == 0 {
		t.Fatalf("listener on port %d, the busy one was %d", got, next+2)
	}
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dialing the passive listener: %v", err)
	}
	_ = conn.Close()
}

// BenchmarkListenPassive measures one passive data connection's socket
// work, as a small-file transfer pays it: open a listener, connect, accept,
// close all three. "kernel" is a plain net.ListenTCP on port 0 (the
// engine's former way); "engine" is Server.listenEphemeral. Run it after a
// transfer-heavy benchmark has left TIME_WAIT sockets behind to see what
// bind(0) costs then.
func BenchmarkListenPassive(b *testing.B) {
	ip := netip.MustParseAddr("127.0.0.1")
	srv := &Server{}
	for _, tc := range []struct {
		name   string
		listen func() (net.Listener, error)
	}{
		{"kernel", func() (net.Listener, error) {
			return net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		}},
		{"engine", func() (net.Listener, error) { return srv.listenEphemeral(ip) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				ln, err := tc.listen()
				if errors.Is(err, syscall.EADDRINUSE) && tc.name == "kernel" {
					// What the engine's cursor avoids: with enough
					// TIME_WAIT sockets, bind(0) finds no port at all.
					b.Skipf("bind(0) found no free port: %v", err)
				}
				if err != nil {
					b.Fatal(err)
				}
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				a, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				_ = ln.Close()
				_ = a.Close()
				_ = c.Close()
			}
		})
	}
}
