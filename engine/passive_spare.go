package engine

import (
	"net"
	"time"
)

// A session keeps the passive listener of its last transfer open for its
// next PASV or EPSV, which then advertises the same port again instead of
// opening a new listener. A client moving many small files thus costs one
// accept per file rather than socket, setsockopt, bind, listen, accept,
// and two closes with their epoll calls (about 10% of the server's CPU per
// file in the small-files benchmark).
//
// What keeps this as safe as a new listener per PASV:
//   - Only a listener that handed a connection to a transfer is kept, and
//     only a TCP listener of the session's own, plain or wrapped by a
//     ReusablePassiveListener (the PROXY protocol's, whose winning
//     connection interrupts Accept with a deadline instead of closing
//     the listener): never one of Settings.PassiveTransferPortMultiplexing,
//     never one a driver wrapped (MainDriverExtensionPassiveWrapper) unless
//     it says it may be, never one closed by ABOR, the accept deadline or
//     an unclaimed PASV. A proxied connection still having its header
//     read when the transfer's winner was taken is closed, never handed
//     to a later transfer.
//   - Before the port is advertised again, any connection that reached
//     the kept listener in between is detected (spareIsIdle), and then
//     the listener is closed, which resets it, and a new one opened: a
//     transfer never takes a connection made before its PASV reply. The
//     peer check (PasvConnectionsCheck) applies as ever.
//   - An unused kept listener is closed after maxSpareKeep (or the
//     connection timeout when shorter) and when the session ends. Only
//     ports of the ephemeral range are kept: with
//     Settings.PassiveTransferPortRange the ports are few and shared by
//     all sessions (often a firewall's rule), and an idle session must
//     not hold one that another session's PASV needs.

// maxSpareKeep bounds how long a kept listener waits for the session's
// next PASV or EPSV. A client moving many files sends it within
// milliseconds; a port held longer only takes room in the ephemeral range.
const maxSpareKeep = 5 * time.Second

// spareListener is a kept passive listener and the timer that closes it
// when no PASV or EPSV comes for it.
type spareListener struct {
	ln    net.Listener     // the listener, wrapped or not (keepableTCP)
	raw   *net.TCPListener // its TCP socket
	port  int              // the port the client was given
	hold  *portHold        // the passive hooks' claim: a kept port is still held
	timer *time.Timer
}

// close closes the listener and gives the hooks' hold back.
func (sp *spareListener) close() {
	_ = sp.ln.Close()
	sp.hold.release()
}

// keepSpare keeps ln, advertised as port, for the session's next PASV or
// EPSV, closing it after maxSpareKeep or the connection timeout. hold
// stays taken while ln is kept, and is given back when it is closed.
func (s *session) keepSpare(port int, ln net.Listener, raw *net.TCPListener, hold *portHold) {
	sp := &spareListener{ln: ln, raw: raw, port: port, hold: hold}
	if s.st.PassiveTransferPortRange != nil {
		sp.close() // a range's ports are few and shared
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.spare != nil {
		sp.close()
		return
	}
	s.spare = sp
	// Armed under the lock: dropSpare needs it, so it finds sp in place.
	sp.timer = time.AfterFunc(min(maxSpareKeep, s.st.connectionTimeout()), func() { s.dropSpare(sp) })
}

// dropSpare closes sp unless a PASV or EPSV took it first.
func (s *session) dropSpare(sp *spareListener) {
	s.mu.Lock()
	mine := s.spare == sp
	if mine {
		s.spare = nil
	}
	s.mu.Unlock()
	if mine {
		sp.close()
	}
}

// takeSpare returns the kept listener, now the caller's, or nil.
func (s *session) takeSpare() *spareListener {
	s.mu.Lock()
	sp := s.spare
	s.spare = nil
	s.mu.Unlock()
	if sp != nil {
		sp.timer.Stop()
	}
	return sp
}

// closeSpare closes the kept listener, if any.
func (s *session) closeSpare() {
	if sp := s.takeSpare(); sp != nil {
		sp.close()
	}
}

// reuseSpare returns the kept listener as the new passive listener when no
// connection reached it meanwhile, and nil otherwise.
func (s *session) reuseSpare(unclaimed time.Duration) *passiveListener {
	sp := s.takeSpare()
	if sp == nil {
		return nil
	}
	if !spareIsIdle(sp.raw) {
		sp.close()
		return nil
	}
	return newPassiveListener(sp.port, sp.ln, nil, sp.hold, unclaimed)
}
