package engine

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// When Settings.PassiveTransferPortRange is nil, passive listeners still
// get explicit ports, picked by the Server from the system's ephemeral
// range, rather than port 0. Linux's bind(0) searches the ephemeral range
// for a port that no socket holds, TIME_WAIT sockets included; a busy
// server keeps tens of thousands of those, and the search then costs about
// half a millisecond of CPU per passive port (profiled: 70% of all CPU of
// the small-files benchmark). Binding a given port is a single hash lookup,
// and SO_REUSEADDR (which Go sets on listeners) lets it succeed over the
// TIME_WAIT sockets of earlier data connections.

const (
	// ephemeralAttempts is how many explicit ports a passive listener
	// tries before falling back to port 0.
	ephemeralAttempts = 8
	// Linux's default ip_local_port_range, used when it cannot be read.
	defaultEphemeralLow  = 32768
	defaultEphemeralHigh = 60999
	// ipLocalPortRange is where Linux keeps its ephemeral range.
	ipLocalPortRange = "/proc/sys/net/ipv4/ip_local_port_range"
)

// ephemeralPorts hands out ports of the ephemeral range in turn, from a
// random starting point so that servers started together do not collide.
// Its zero value is ready to use.
type ephemeralPorts struct {
	once sync.Once
	low  uint32
	n    uint32 // ports in the range, odd ones only (see init)
	next atomic.Uint32
}

func (e *ephemeralPorts) init() {
	low, high := readEphemeralRange(ipLocalPortRange)
	// Only odd ports: Linux's connect() picks even ephemeral ports first
	// and leaves the odd ones to bind(0), so passive ports taken from the
	// odd half rarely meet the TIME_WAIT sockets of outgoing connections
	// (which, unlike those of accepted ones, lack SO_REUSEADDR and block a
	// bind). On loopback, the clients' own ports come from the same range.
	e.low = low | 1
	if e.low > high {
		e.low, e.n = low, 1
	} else {
		e.n = (high-e.low)/2 + 1
	}
	e.next.Store(rand.Uint32N(e.n))
}

// port returns the next port to try.
func (e *ephemeralPorts) port() uint16 {
	e.once.Do(e.init)
	if e.n == 1 {
		return uint16(e.low)
	}
	return uint16(e.low + 2*((e.next.Add(1)-1)%e.n))
}

// size returns how many ports port hands out in turn.
func (e *ephemeralPorts) size() int {
	e.once.Do(e.init)
	return int(e.n)
}

// readEphemeralRange returns the range in name ("low\thigh\n"), or Linux's
// default when it cannot be read or makes no sense.
func readEphemeralRange(name string) (low, high uint32) {
	b, err := os.ReadFile(name)
	if err != nil {
		return defaultEphemeralLow, defaultEphemeralHigh
	}
	return parseEphemeralRange(string(b))
}

func parseEphemeralRange(s string) (low, high uint32) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return defaultEphemeralLow, defaultEphemeralHigh
	}
	l, err1 := strconv.ParseUint(f[0], 10, 16)
	h, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || l == 0 || l > h {
		return defaultEphemeralLow, defaultEphemeralHigh
	}
	return uint32(l), uint32(h)
}

// listenEphemeral binds a passive listener on ip with a port from the
// ephemeral range, skipping ports in use, and on port 0 after
// ephemeralAttempts of those.
func (srv *Server) listenEphemeral(ip netip.Addr) (net.Listener, error) {
	for range ephemeralAttempts {
		ln, err := srv.listenData(netip.AddrPortFrom(ip, srv.ephemeral.port()))
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			return ln, err
		}
	}
	return srv.listenData(netip.AddrPortFrom(ip, 0))
}
