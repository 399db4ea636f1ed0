package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("engine: server closed")

// Server is an FTP server. Fill in Driver (and any hooks), then call
// ListenAndServe, or Listen and ListenAndServe, or Serve with listeners of
// your own. A Server must not be copied after first use, and its hook
// slices must not change once it serves.
type Server struct {
	// Driver authenticates users and provides settings and filesystems.
	Driver MainDriver

	// Logger receives the server's logs; slog.Default() when nil.
	Logger *slog.Logger

	// AdmissionHooks run, in order, for every new connection.
	AdmissionHooks []AdmissionHook
	// CommandHooks run, in order, before every command.
	CommandHooks []CommandHook
	// TransferHooks wrap, first outermost, the copy of every transfer.
	TransferHooks []TransferHook
	// PassiveHooks run, in order, before a session takes a passive port;
	// each may refuse it (passive_hold.go).
	PassiveHooks []PassiveHook
	// LoginHooks wrap, first outermost, every login attempt.
	LoginHooks []LoginHook
	// ResultHooks run, in order, after every command's final reply
	// (results.go); none costs nothing.
	ResultHooks []ResultHook
	// PassiveListenerWrapper, when not nil, wraps every passive data
	// listener the server binds (a session's own and the shared ones of
	// PassiveTransferPortMultiplexing), the way Settings.Listener stands
	// for the control listener: a plugin that reads from the raw socket
	// (the PROXY protocol) plugs in here instead of wrapping the driver.
	// It is applied before the driver's MainDriverExtensionPassiveWrapper,
	// so it is the innermost. An error refuses the port (425) and closes
	// the listener. A wrapped listener is kept for the session's next
	// PASV (passive_spare.go) only when it is a ReusablePassiveListener.
	// Nil costs nothing.
	PassiveListenerWrapper func(ln net.Listener) (net.Listener, error)

	ids         sessionIDs     // session ids (sessionid.go)
	noPort20    atomic.Bool    // binding port 20 for active mode was refused once
	bufferPool  sync.Pool      // *[]byte copy buffers for transfers that cannot use sendfile/splice
	sharedPorts sharedPorts    // passive listeners shared by client IPs (PassiveTransferPortMultiplexing)
	ephemeral   ephemeralPorts // passive ports when Settings.PassiveTransferPortRange is nil
	exts        mainExtCache   // the Driver's extensions, looked up once (unwrap.go)

	mu           sync.Mutex
	settings     *Settings
	bound        []boundListener // created by Listen, served by ListenAndServe
	listeners    map[net.Listener]struct{}
	sessions     map[*session]struct{}
	handshaking  map[net.Conn]struct{} // connections whose PROXY header is still being read
	shuttingDown bool
	sessionsGone chan struct{} // closed once no session is left after shutdown began
}

// boundListener is a listener created by Listen and whether it speaks
// implicit TLS.
type boundListener struct {
	ln       net.Listener
	implicit bool
}

// logger returns the Server's logger.
func (srv *Server) logger() *slog.Logger {
	if srv.Logger != nil {
		return srv.Logger
	}
	return slog.Default()
}

// loadSettings asks the driver for its settings once.
func (srv *Server) loadSettings() (*Settings, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.loadSettingsLocked()
}

func (srv *Server) loadSettingsLocked() (*Settings, error) {
	if srv.settings != nil {
		return srv.settings, nil
	}
	if srv.Driver == nil {
		return nil, errors.New("engine: Server.Driver is nil")
	}
	st, err := srv.Driver.GetSettings()
	if err != nil {
		return nil, fmt.Errorf("engine: driver settings: %w", err)
	}
	if st == nil {
		st = &Settings{}
	}
	srv.settings = st
	return st, nil
}

// Listen binds the addresses of the driver's settings: Settings.Listener or
// ListenAddr, and ImplicitTLSListener or ImplicitTLSListenAddr when set. Addr reports the result.
// ListenAndServe then serves them.
func (srv *Server) Listen() error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.shuttingDown {
		return ErrServerClosed
	}
	if srv.bound != nil {
		return errors.New("engine: already listening")
	}
	st, err := srv.loadSettingsLocked()
	if err != nil {
		return err
	}
	ln := st.Listener
	if ln == nil {
		addr := st.ListenAddr
		if addr == "" {
			addr = ":21"
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("engine: listen: %w", err)
		}
	}
	bound := []boundListener{{ln: ln, implicit: st.TLSRequired == ImplicitEncryption}}
	if st.ImplicitTLSListener != nil {
		bound = append(bound, boundListener{ln: st.ImplicitTLSListener, implicit: true})
	} else if st.ImplicitTLSListenAddr != "" {
		tln, err := net.Listen("tcp", st.ImplicitTLSListenAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("engine: listen for implicit TLS: %w", err)
		}
		bound = append(bound, boundListener{ln: tln, implicit: true})
	}
	srv.bound = bound
	return nil
}

// Addr returns the address of the main listener bound by Listen, or nil.
func (srv *Server) Addr() net.Addr {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.bound) == 0 {
		return nil
	}
	return srv.bound[0].ln.Addr()
}

// ImplicitTLSAddr returns the address of the implicit-TLS listener bound by
// Listen for Settings.ImplicitTLSListenAddr, or nil.
func (srv *Server) ImplicitTLSAddr() net.Addr {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.bound) < 2 {
		return nil
	}
	return srv.bound[1].ln.Addr()
}

// ListenAndServe calls Listen unless it was called already, then serves
// every bound listener until Shutdown or Close, when it returns
// ErrServerClosed.
func (srv *Server) ListenAndServe() error {
	srv.mu.Lock()
	listening := srv.bound != nil
	srv.mu.Unlock()
	if !listening {
		if err := srv.Listen(); err != nil {
			return err
		}
	}
	srv.mu.Lock()
	bound := srv.bound
	srv.mu.Unlock()

	errs := make(chan error, len(bound))
	for _, b := range bound {
		go func() { errs <- srv.serve(b.ln, b.implicit) }()
	}
	var first error
	for range bound {
		if err := <-errs; first == nil || errors.Is(first, ErrServerClosed) {
			first = err
		}
		// One listener failing ends the others too: a half-served
		// server is worse than a stopped one.
		srv.closeListeners()
	}
	return first
}

// Serve accepts control connections on ln until Shutdown or Close, and
// returns ErrServerClosed then. Connections start in plain text (with AUTH
// TLS available) unless Settings.TLSRequired is ImplicitEncryption.
func (srv *Server) Serve(ln net.Listener) error {
	st, err := srv.loadSettings()
	if err != nil {
		return err
	}
	return srv.serve(ln, st.TLSRequired == ImplicitEncryption)
}

// ServeImplicitTLS accepts connections on ln that start with a TLS
// handshake (implicit FTPS), until Shutdown or Close.
func (srv *Server) ServeImplicitTLS(ln net.Listener) error {
	if _, err := srv.loadSettings(); err != nil {
		return err
	}
	return srv.serve(ln, true)
}

func (srv *Server) serve(ln net.Listener, implicit bool) error {
	if !srv.trackListener(ln) {
		_ = ln.Close()
		return ErrServerClosed
	}
	defer srv.untrackListener(ln)
	log := srv.logger()
	log.Info("ftp: serving", "addr", ln.Addr().String(), "implicit_tls", implicit)

	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if srv.isShuttingDown() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporaryAcceptError(err) {
				// Out of file descriptors and the like: wait a little
				// instead of spinning, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				log.Warn("ftp: accept failed; retrying", "err", err, "delay", backoff)
				if !srv.pause(backoff) {
					return ErrServerClosed
				}
				continue
			}
			return err
		}
		backoff = 0
		go srv.serveConn(conn, implicit)
	}
}

// pause waits d (at most a second) and reports whether the server still
// runs.
func (srv *Server) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
	return !srv.isShuttingDown()
}

// isTemporaryAcceptError reports errors after which accepting again later
// may work: the process or the system is out of descriptors or memory.
func isTemporaryAcceptError(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

func (srv *Server) isShuttingDown() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.shuttingDown
}

func (srv *Server) trackListener(ln net.Listener) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.shuttingDown {
		return false
	}
	if srv.listeners == nil {
		srv.listeners = make(map[net.Listener]struct{})
	}
	srv.listeners[ln] = struct{}{}
	return true
}

func (srv *Server) untrackListener(ln net.Listener) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.listeners, ln)
}

// closeListeners closes every listener being served or bound.
func (srv *Server) closeListeners() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.closeListenersLocked()
}

func (srv *Server) closeListenersLocked() {
	for ln := range srv.listeners {
		_ = ln.Close()
	}
	for _, b := range srv.bound {
		_ = b.ln.Close()
	}
}

// startHandshake registers a connection whose PROXY header is being
// read, so that shutdown closes it rather than waiting for the header
// timeout; it fails once shutdown has begun.
func (srv *Server) startHandshake(conn net.Conn) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.shuttingDown {
		return false
	}
	if srv.handshaking == nil {
		srv.handshaking = make(map[net.Conn]struct{})
	}
	srv.handshaking[conn] = struct{}{}
	return true
}

// endHandshake forgets a connection registered by startHandshake.
func (srv *Server) endHandshake(conn net.Conn) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.handshaking, conn)
}

// addSession registers a new session; it fails once shutdown has begun.
func (srv *Server) addSession(s *session) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.shuttingDown {
		return false
	}
	if srv.sessions == nil {
		srv.sessions = make(map[*session]struct{})
	}
	srv.sessions[s] = struct{}{}
	return true
}

func (srv *Server) removeSession(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.sessions, s)
	srv.signalIfEmptyLocked()
}

func (srv *Server) signalIfEmptyLocked() {
	if srv.shuttingDown && len(srv.sessions) == 0 && srv.sessionsGone != nil {
		select {
		case <-srv.sessionsGone:
		default:
			close(srv.sessionsGone)
		}
	}
}

// beginShutdown stops accepting and returns the sessions alive now.
func (srv *Server) beginShutdown() []*session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.shuttingDown = true
	if srv.sessionsGone == nil {
		srv.sessionsGone = make(chan struct{})
	}
	srv.closeListenersLocked()
	// A connection still waiting for its PROXY header has had no banner:
	// it is closed, and its handshake fails at once.
	for conn := range srv.handshaking {
		_ = conn.Close()
	}
	sessions := make([]*session, 0, len(srv.sessions))
	for s := range srv.sessions {
		sessions = append(sessions, s)
	}
	srv.signalIfEmptyLocked()
	return sessions
}

// Shutdown stops the server gracefully: it closes the listeners, ends idle
// sessions with 421 at once, and lets each running transfer finish before
// ending its session the same way. When ctx ends first, Shutdown closes
// whatever is left, as Close does, and returns ctx.Err(). It is safe to
// call from any goroutine, and more than once.
func (srv *Server) Shutdown(ctx context.Context) error {
	sessions := srv.beginShutdown()
	// Side by side: an idle session's farewell waits for its reply lock
	// and write, which a client that stops reading holds up to the reply
	// write timeout; one after the other, a few such clients would keep
	// Shutdown from ever seeing ctx end. One goroutine per session, each
	// done once its connection is closed (Close below at the latest).
	for _, s := range sessions {
		go s.shutdown()
	}
	srv.mu.Lock()
	gone := srv.sessionsGone
	srv.mu.Unlock()
	select {
	case <-gone:
		return nil
	case <-ctx.Done():
		_ = srv.Close()
		return ctx.Err()
	}
}

// Close stops the server at once: it closes the listeners and every
// session, aborting running transfers (each session still gets a 421 reply
// when its connection can take one). It is safe to call from any
// goroutine, and more than once.
func (srv *Server) Close() error {
	// Side by side, so that Close takes one farewell write's timeout at
	// most, not one per client that stopped reading.
	var wg sync.WaitGroup
	for _, s := range srv.beginShutdown() {
		wg.Go(func() { s.forceClose(421, "Server is shutting down.") })
	}
	wg.Wait()
	return nil
}

// copyBuffer returns a buffer for copies that cannot use sendfile or
// splice, and the function that gives it back.
func (srv *Server) copyBuffer() (*[]byte, func()) {
	bp, _ := srv.bufferPool.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, copyBufferSize)
		bp = &b
	}
	return bp, func() { srv.bufferPool.Put(bp) }
}
