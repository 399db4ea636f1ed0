package engine

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// With PassiveTransferPortMultiplexing, one passive listener serves every
// client IP that reserved its port: a connection is handed to the session
// that reserved the port for the connection's source IP, and refused when
// no session did. A port can thus carry as many concurrent transfers as
// there are distinct client IPs, which lets a small port range (a firewall
// or balancer rule) serve many clients. Routing by source IP means that
// data connections must come from the control connection's IP, whatever
// PasvConnectionsCheck says.

// errPortTaken means the client's IP already holds a reservation on a port.
var errPortTaken = errors.New("the port is reserved for this client already")

// sharedPorts holds the Server's shared passive listeners. Its zero value
// is ready to use.
type sharedPorts struct {
	mu        sync.Mutex
	listeners map[netip.AddrPort]*sharedListener
}

// sharedListener is one listening port and the client IPs waiting on it.
type sharedListener struct {
	local   netip.AddrPort
	ln      net.Listener
	waiting map[netip.Addr]*reservation // guarded by sharedPorts.mu
}

// reservation is one session's claim on a shared port for its client IP.
type reservation struct {
	ports  *sharedPorts
	sl     *sharedListener
	client netip.Addr
	conns  chan net.Conn // receives the data connection; capacity 1
	done   chan struct{} // closed by release
	once   sync.Once
}

// reserve claims the port local for client, opening the listener when no
// session uses it yet.
func (sp *sharedPorts) reserve(srv *Server, local netip.AddrPort, client netip.Addr, log *slog.Logger) (*reservation, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sl := sp.listeners[local]
	if sl == nil {
		ln, err := srv.listenData(local)
		if err != nil {
			return nil, err
		}
		sl = &sharedListener{local: local, ln: ln, waiting: map[netip.Addr]*reservation{}}
		if sp.listeners == nil {
			sp.listeners = map[netip.AddrPort]*sharedListener{}
		}
		sp.listeners[local] = sl
		go sp.acceptLoop(sl, log)
	} else if sl.waiting[client] != nil {
		return nil, errPortTaken
	}
	r := &reservation{ports: sp, sl: sl, client: client, conns: make(chan net.Conn, 1), done: make(chan struct{})}
	sl.waiting[client] = r
	return r, nil
}

// acceptLoop hands each connection to the reservation of its source IP.
// It ends when the listener is closed, which happens once no reservation
// is left.
func (sp *sharedPorts) acceptLoop(sl *sharedListener, log *slog.Logger) {
	for {
		conn, err := sl.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				// A temporary failure would spin; the port is given up
				// instead and its sessions see their data connection fail.
				log.Warn("ftp: shared passive listener failed", "port", sl.local.String(), "err", err)
				sp.mu.Lock()
				sp.dropLocked(sl)
				sp.mu.Unlock()
			}
			return
		}
		if _, ok := conn.(ProxiedConn); ok {
			// Reading a PROXY header may wait on a slow peer: never in
			// the accept loop, which serves every client of the port.
			go sp.route(sl, conn, log)
			continue
		}
		sp.route(sl, conn, log)
	}
}

// route hands a data connection to the reservation of its source IP, or
// closes it when there is none.
func (sp *sharedPorts) route(sl *sharedListener, conn net.Conn, log *slog.Logger) {
	if _, err := proxyHandshake(conn); err != nil {
		_ = conn.Close() // the wrapper logged why
		return
	}
	from := addrIP(conn.RemoteAddr())
	sp.mu.Lock()
	r := sl.waiting[from]
	if r != nil {
		// Sent under the lock, so that release either finds the
		// reservation still waiting or the connection in its channel.
		delete(sl.waiting, from)
		r.conns <- conn
		sp.closeIfUnusedLocked(sl)
	}
	sp.mu.Unlock()
	if r == nil {
		log.Warn("ftp: refused a data connection nobody reserved", "port", sl.local.String(), "from", from.String())
		_ = conn.Close()
	}
}

// closeIfUnusedLocked closes a listener no client waits on.
func (sp *sharedPorts) closeIfUnusedLocked(sl *sharedListener) {
	if len(sl.waiting) == 0 {
		sp.dropLocked(sl)
	}
}

// dropLocked closes a listener and forgets it; reservations still waiting
// on it are ended.
func (sp *sharedPorts) dropLocked(sl *sharedListener) {
	if sp.listeners[sl.local] == sl {
		delete(sp.listeners, sl.local)
	}
	_ = sl.ln.Close()
	for ip, r := range sl.waiting {
		delete(sl.waiting, ip)
		r.once.Do(func() { close(r.done) })
	}
}

// accept waits for the data connection until release.
func (r *reservation) accept() (net.Conn, error) {
	select {
	case conn := <-r.conns:
		return conn, nil
	case <-r.done:
		select {
		case conn := <-r.conns:
			return conn, nil
		default:
			return nil, net.ErrClosed
		}
	}
}

// release gives the reservation up and closes a connection that arrived
// for it but was never taken.
func (r *reservation) release() {
	sp := r.ports
	sp.mu.Lock()
	if r.sl.waiting[r.client] == r {
		delete(r.sl.waiting, r.client)
		sp.closeIfUnusedLocked(r.sl)
	}
	sp.mu.Unlock()
	r.once.Do(func() { close(r.done) })
	select {
	case conn := <-r.conns:
		_ = conn.Close()
	default:
	}
}
