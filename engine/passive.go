package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// passiveListener is where the data connection prepared by one PASV or
// EPSV arrives: a listener of the session's own, or, with
// Settings.PassiveTransferPortMultiplexing, a reservation for the client's
// IP on a listener shared with clients from other IPs. It takes a single
// connection and is closed after it, when the session moves on, or when no
// transfer command claims it within the connection timeout, so that a
// client that never connects does not keep a port.
type passiveListener struct {
	port    int          // the port advertised to the client
	own     net.Listener // the session's own listener, or nil
	shared  *reservation // a reservation on a shared listener, or nil
	expiry  *time.Timer  // closes an unclaimed listener
	hold    *portHold    // the passive hooks' claim, given back with the port
	expired atomic.Bool
	once    sync.Once
	// raw is the TCP socket of own when own may be kept for the session's
	// next PASV or EPSV (keepableTCP), else nil.
	raw *net.TCPListener
	// kept is set when accept took a connection and claimed own for the
	// session's next PASV or EPSV (passive_spare.go) instead of closing
	// it. Only the goroutine that called accept reads it, after accept
	// returns.
	kept bool
}

// ReusablePassiveListener is implemented by a listener that
// Server.PassiveListenerWrapper returns when the engine may keep it for a
// session's next PASV or EPSV, as it keeps its own plain listeners
// (passive_spare.go): its Accept only wraps the connections of the TCP
// listener it was made from, it holds nothing per connection between
// calls, and it returns that listener's errors as they are, a deadline's
// included. TCPListener returns that listener (nil: never keep).
type ReusablePassiveListener interface {
	net.Listener
	TCPListener() *net.TCPListener
}

// keepableTCP returns the TCP listener under ln when ln may be kept: a
// plain TCP listener, or a ReusablePassiveListener.
func keepableTCP(ln net.Listener) *net.TCPListener {
	switch l := ln.(type) {
	case *net.TCPListener:
		return l
	case ReusablePassiveListener:
		return l.TCPListener()
	}
	return nil
}

// errPassiveExpired means no transfer command came for a passive port
// within the connection timeout, so the port was given back.
var errPassiveExpired = errors.New("the passive port expired unused")

// acceptTimeout is the error of a passive port nobody connected to in time.
type acceptTimeout struct{}

func (acceptTimeout) Error() string   { return "no data connection arrived in time" }
func (acceptTimeout) Timeout() bool   { return true }
func (acceptTimeout) Temporary() bool { return false }

// newPassiveListener arms the expiry of an unclaimed port. hold is given
// back with the port.
func newPassiveListener(port int, own net.Listener, shared *reservation, hold *portHold, unclaimed time.Duration) *passiveListener {
	p := &passiveListener{port: port, own: own, shared: shared, hold: hold, raw: keepableTCP(own)}
	// The expiry callback calls release, not close: it must not read
	// p.expiry, which is assigned only after AfterFunc returns.
	p.expiry = time.AfterFunc(unclaimed, func() {
		p.expired.Store(true)
		p.release()
	})
	return p
}

func (p *passiveListener) close() {
	p.expiry.Stop()
	p.release()
}

// release gives the port back, once, and with it the hooks' hold.
func (p *passiveListener) release() {
	p.once.Do(func() {
		if p.own != nil {
			_ = p.own.Close()
		}
		if p.shared != nil {
			p.shared.release()
		}
		p.hold.release()
	})
}

// keepOpen claims a keepable listener of the session's own (keepableTCP)
// so that the deferred close leaves it open for reuse; a listener already
// closed (by ABOR, the session's end, or the accept deadline) stays
// closed. The hooks' hold stays with the kept listener (keepSpare).
func (p *passiveListener) keepOpen() {
	if p.raw == nil || !spareReuse {
		return // e.g. a driver's wrapper: it may hold state per connection
	}
	p.once.Do(func() {
		p.expiry.Stop()
		p.kept = true
	})
}

// interrupt makes the pending Accept on a keepable listener return (a
// deadline in the past) without closing it; acceptProxied clears the
// deadline again.
func (p *passiveListener) interrupt() { _ = p.raw.SetDeadline(time.Unix(1, 0)) }

// accept waits until deadline for a data connection from an allowed peer.
// Connections from other peers are closed and waiting goes on, so that a
// stranger who guesses the port cannot take the transfer (and cannot end
// it either).
func (p *passiveListener) accept(deadline time.Time, allowed func(net.Addr) bool, onRefused func(net.Addr)) (net.Conn, error) {
	defer p.close()
	if !p.expiry.Stop() && p.expired.Load() {
		return nil, errPassiveExpired
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(time.Until(deadline), func() {
		timedOut.Store(true)
		p.close()
	})
	defer timer.Stop()
	if p.shared != nil {
		conn, err := p.shared.accept()
		if err != nil && timedOut.Load() {
			return nil, acceptTimeout{}
		}
		return conn, err
	}
	// PROXY headers are read beside this loop (proxyinfo.go); the winner
	// wakes it by interrupting a keepable listener's Accept, else by
	// closing the listener.
	proxied := proxiedAccept{wake: p.close}
	if p.raw != nil && spareReuse {
		proxied.wake = p.interrupt
	}
	defer func() {
		if conn := proxied.finish(); conn != nil {
			_ = conn.Close()
		}
	}()
	for {
		conn, err := p.own.Accept()
		if err != nil {
			if conn := proxied.finish(); conn != nil {
				// No wake comes after finish: clear an interrupt's
				// deadline, so that the listener can be kept.
				if p.raw != nil && spareReuse && p.raw.SetDeadline(time.Time{}) == nil {
					p.keepOpen()
				}
				return conn, nil
			}
			if timedOut.Load() {
				return nil, acceptTimeout{}
			}
			return nil, err
		}
		if _, ok := conn.(ProxiedConn); ok {
			if r, ok := conn.(ProxyHeaderReady); ok && r.ProxyHeaderReady() {
				// The header is there whole: reading it cannot wait.
				if !proxiedAllowed(conn, allowed, onRefused) {
					continue
				}
				if early := proxied.finish(); early != nil {
					// A check in its goroutine won meanwhile and woke
					// the listener: this one came first to the loop.
					_ = early.Close()
					if p.raw != nil && spareReuse && p.raw.SetDeadline(time.Time{}) != nil {
						return conn, nil
					}
				}
				p.keepOpen()
				return conn, nil
			}
			go proxied.check(conn, allowed, onRefused)
			continue
		}
		if allowed(conn.RemoteAddr()) {
			p.keepOpen()
			return conn, nil
		}
		onRefused(conn.RemoteAddr())
		_ = conn.Close()
	}
}

// listenPassive opens a passive listener on the control connection's local
// address (never the wildcard, so that it is not exposed on other
// interfaces), with a port from Settings.PassiveTransferPortRange when set
// and from the ephemeral range otherwise (passive_ephemeral.go). The
// session's earlier passive listener is closed first, so that it never
// counts against the passive hooks' bounds beside its replacement. An
// error from a passive hook comes back as a *passiveRefusal.
func (s *session) listenPassive(verb string) (*passiveListener, error) {
	s.closePassive()
	ip := addrIP(s.LocalAddr())
	if !ip.IsValid() {
		return nil, errors.New("unknown local address")
	}
	unclaimed := s.st.connectionTimeout()
	ports := s.st.PassiveTransferPortRange
	if ports == nil {
		if p := s.reuseSpare(unclaimed); p != nil {
			return p, nil
		}
	}
	hold, err := s.holdPassivePort(verb)
	if err != nil {
		return nil, err
	}
	p, err := s.openPassive(ip, hold, unclaimed)
	if err != nil {
		hold.release()
		return nil, err
	}
	return p, nil
}

// openPassive binds the listener for listenPassive.
func (s *session) openPassive(ip netip.Addr, hold *portHold, unclaimed time.Duration) (*passiveListener, error) {
	ports := s.st.PassiveTransferPortRange
	if ports == nil {
		ln, err := s.srv.listenEphemeral(ip)
		if err != nil {
			return nil, err
		}
		return newPassiveListener(ln.Addr().(*net.TCPAddr).Port, ln, nil, hold, unclaimed), nil
	}
	client := addrIP(s.RemoteAddr())
	var lastErr error = errors.New("the passive port range is empty")
	for range max(ports.NumberAttempts(), 1) {
		exposed, port, ok := ports.FetchNext()
		if !ok {
			break
		}
		local := netip.AddrPortFrom(ip, uint16(port))
		if s.st.PassiveTransferPortMultiplexing {
			r, err := s.srv.sharedPorts.reserve(s.srv, local, client, s.log)
			if err == nil {
				return newPassiveListener(exposed, nil, r, hold, unclaimed), nil
			}
			lastErr = err
			if errors.Is(err, errPortTaken) || errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			break
		}
		ln, err := s.srv.listenData(local)
		if err == nil {
			return newPassiveListener(exposed, ln, nil, hold, unclaimed), nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("no free passive port: %w", lastErr)
}

// listenData binds a passive data listener and lets the Server
// (PassiveListenerWrapper), then the driver (MainDriverExtensionPassiveWrapper),
// wrap it, for example to read PROXY protocol headers.
func (srv *Server) listenData(local netip.AddrPort) (net.Listener, error) {
	// A data listener takes one connection for one transfer, so it is
	// made as cheap as the kernel allows: no TCP keepalive (the transfer
	// has its own stall timeout; Go spends four setsockopt calls per
	// accepted connection on it), and plain TCP rather than MPTCP, which
	// Go's listeners default to and which creates and tears down an MPTCP
	// socket beside the TCP one (together 5-10% of the server's CPU in the
	// small-files benchmark).
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", local.String())
	if err != nil {
		return nil, err
	}
	if f := srv.PassiveListenerWrapper; f != nil {
		wrapped, err := f(ln)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("wrapping the passive listener: %w", err)
		}
		ln = wrapped
	}
	w := srv.mainExt().passive
	if w == nil {
		return ln, nil
	}
	wrapped, err := w.WrapPassiveListener(ln)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("wrapping the passive listener: %w", err)
	}
	return wrapped, nil
}
