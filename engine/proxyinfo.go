package engine

import (
	"log/slog"
	"net"
	"sync"
)

// ProxyInfo describes the load balancer a connection came through, as the
// PROXY protocol header the balancer sent ahead of the connection's bytes
// tells it. The engine never parses headers itself: a listener wrapper
// (such as engine/proxyproto) does, and hands the result over through
// ProxiedConn.
type ProxyInfo struct {
	// Version is the PROXY protocol version of the header, 1 or 2.
	Version int
	// Local is true for a version 2 LOCAL command: the balancer opened the
	// connection on its own behalf (a health check), so there is no client
	// address and RemoteAddr is the balancer's.
	Local bool
	// Balancer is the TCP peer of the connection: the balancer itself.
	Balancer net.Addr
	// Source is the client's address as the balancer saw it, which is what
	// ClientContext.RemoteAddr returns; nil for Local.
	Source net.Addr
	// Destination is the address the client connected to on the balancer;
	// nil for Local.
	Destination net.Addr
	// Authority is the host name the client asked the balancer for (the
	// TLS SNI, version 2 TLV PP2_TYPE_AUTHORITY), or "".
	Authority string
	// ALPN is the protocol the client negotiated with the balancer
	// (PP2_TYPE_ALPN), or "".
	ALPN string
	// SSL is true when the client spoke TLS to the balancer (PP2_TYPE_SSL).
	SSL bool
	// SSLVersion and SSLCipher name the TLS version and cipher of the
	// client's connection to the balancer, when the balancer sent them.
	SSLVersion, SSLCipher string
	// SSLClientCN is the common name of the client certificate the
	// balancer verified, or "".
	SSLClientCN string
	// SSLVerified is true when the client presented a certificate and the
	// balancer verified it.
	SSLVerified bool
}

// ProxiedConn is implemented by an accepted connection that may start with
// a PROXY protocol header. The engine calls ProxyHandshake in the
// connection's own goroutine before it uses the connection, never in an
// accept loop, so that a client that sends nothing delays only itself.
// After a successful ProxyHandshake, RemoteAddr returns the client's
// address; LocalAddr stays the server's own socket address, since passive
// listeners bind to it.
type ProxiedConn interface {
	net.Conn
	// ProxyHandshake reads and checks the header once; later calls return
	// the same result. A nil *ProxyInfo with a nil error means the
	// connection carries no header to believe and is used as it is. An
	// error means the connection must be dropped; the implementation has
	// logged why.
	ProxyHandshake() (*ProxyInfo, error)
}

// ProxyHeaderReady is implemented by a ProxiedConn that can tell, without
// waiting, that its ProxyHandshake would return at once: the header has
// arrived whole, there is no header to read (an untrusted peer), or what
// arrived cannot start one. What it reads to tell is kept for
// ProxyHandshake. The engine then checks a passive data connection in its
// accept loop rather than in a goroutine of its own, which costs a small
// file's transfer a goroutine, a second Accept that waits and a wake of
// the listener.
type ProxyHeaderReady interface {
	ProxyHeaderReady() bool
}

// ProxyInfoOf returns the ProxyInfo of a session whose control connection
// came through a load balancer, or nil. It is a function rather than a
// ClientContext method so that ClientContext implementations outside the
// engine (test doubles, wrappers) need no change.
func ProxyInfoOf(cc ClientContext) *ProxyInfo {
	if p, ok := cc.(interface{ Proxy() *ProxyInfo }); ok {
		return p.Proxy()
	}
	return nil
}

// Proxy returns what the load balancer's PROXY header said about the
// control connection, or nil when there was none.
func (s *session) Proxy() *ProxyInfo { return s.proxy }

// DrainedConn is implemented by a data connection that wraps a socket only
// to consume a prefix (a PROXY header) and leaves the bytes after it as
// they are. Once the prefix is read and nothing past it is buffered,
// Drained returns the socket, and the engine moves the transfer's bytes
// on it directly so that sendfile and splice still apply; otherwise it
// returns nil and the engine uses the wrapper.
type DrainedConn interface {
	net.Conn
	Drained() net.Conn
}

// transferConn is the connection a transfer's bytes move on: the socket
// under a drained wrapper, else conn itself.
func transferConn(conn net.Conn) net.Conn {
	if d, ok := conn.(DrainedConn); ok {
		if sock := d.Drained(); sock != nil {
			return sock
		}
	}
	return conn
}

// proxyHandshake reads the PROXY header of a connection that may have one.
// It must run in the connection's own goroutine.
func proxyHandshake(conn net.Conn) (*ProxyInfo, error) {
	pc, ok := conn.(ProxiedConn)
	if !ok {
		return nil, nil
	}
	return pc.ProxyHandshake()
}

// proxyHandshake is the package function for a control connection, which
// Shutdown and Close may end while its header is awaited.
func (srv *Server) proxyHandshake(conn net.Conn) (*ProxyInfo, error) {
	if _, ok := conn.(ProxiedConn); !ok {
		return nil, nil
	}
	if !srv.startHandshake(conn) {
		return nil, ErrServerClosed
	}
	defer srv.endHandshake(conn)
	return proxyHandshake(conn)
}

// socketConn returns the connection below a wrapper that exposes it with a
// NetConn method (as tls.Conn does), for socket options.
func socketConn(conn net.Conn) net.Conn {
	if u, ok := conn.(interface{ NetConn() net.Conn }); ok {
		return u.NetConn()
	}
	return conn
}

// withProxy adds the balancer's address to a session's log attributes.
func withProxy(log *slog.Logger, info *ProxyInfo) *slog.Logger {
	if info == nil || info.Balancer == nil {
		return log
	}
	return log.With("balancer", info.Balancer.String())
}

// proxiedAccept reads the PROXY headers of a session's passive data
// connections, each in a goroutine of its own, so that a peer that sends
// nothing cannot hold up the transfer while the right connection waits
// behind it. The first connection from the client wins.
type proxiedAccept struct {
	// wake makes the accept loop's Accept return, so that it takes the
	// winner: it closes or interrupts the listener. It is called under
	// mu, so that none comes after finish.
	wake   func()
	mu     sync.Mutex
	done   bool
	winner net.Conn
}

// proxiedAllowed reads conn's header and reports whether conn comes from
// an allowed peer; it closes conn when not.
func proxiedAllowed(conn net.Conn, allowed func(net.Addr) bool, onRefused func(net.Addr)) bool {
	if _, err := proxyHandshake(conn); err != nil {
		_ = conn.Close() // the wrapper logged why
		return false
	}
	if !allowed(conn.RemoteAddr()) {
		onRefused(conn.RemoteAddr())
		_ = conn.Close()
		return false
	}
	return true
}

// check reads conn's header and offers conn as the data connection.
func (pa *proxiedAccept) check(conn net.Conn, allowed func(net.Addr) bool, onRefused func(net.Addr)) {
	if !proxiedAllowed(conn, allowed, onRefused) {
		return
	}
	pa.mu.Lock()
	if pa.done || pa.winner != nil {
		pa.mu.Unlock()
		_ = conn.Close()
		return
	}
	pa.winner = conn
	pa.wake()
	pa.mu.Unlock()
}

// finish stops taking connections (later ones are closed) and returns the
// winner, if any, once.
func (pa *proxiedAccept) finish() net.Conn {
	pa.mu.Lock()
	defer pa.mu.Unlock()
	pa.done = true
	w := pa.winner
	pa.winner = nil
	return w
}
