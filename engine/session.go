package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

const (
	// maxLineLength bounds a command line, CRLF included: room for a
	// 4096-byte path and a verb, far more than any real client sends.
	maxLineLength = 8192
	// maxBadLines is how many unparsable lines in a row a session may
	// send before it is closed.
	maxBadLines = 5
	// controlReaderSize is the control connection's read buffer; command
	// lines are short, and idle sessions should cost little memory
	// (readLine assembles longer lines in s.line).
	controlReaderSize = 128
	// replyWriteTimeout bounds a reply write, so that a client that stops
	// reading cannot pin a goroutine.
	replyWriteTimeout = 30 * time.Second
	// farewellTimeout bounds the last reply of a session being closed.
	farewellTimeout = 2 * time.Second
	// idleParkDelay is how long the command loop waits for a line before
	// it hands an idle session to a fresh goroutine (parkIdle). A
	// goroutine blocked in the command loop's read keeps a 4 KiB stack
	// (its frames are too deep for the GC to halve it again); the fresh
	// one waits with its first 2 KiB. A second is long enough that a
	// busy session never parks between its commands, and short enough
	// that idle sessions are all parked by the time they matter.
	idleParkDelay = time.Second
)

// errLineTooLong is returned by readLine for a line over maxLineLength.
var errLineTooLong = errors.New("command line too long")

// session is one control connection: its state, its command loop, and the
// ClientContext the drivers and hooks see.
type session struct {
	srv *Server
	st  *Settings
	id  uint32
	// badLines sits here, in id's padding, to keep the session in the
	// 512-byte size class; the command loop owns it.
	badLines int32
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	values   SessionValues // plugins' values (values.go)

	rawConn net.Conn      // the accepted connection
	proxy   *ProxyInfo    // what a load balancer's PROXY header said, or nil
	reader  *bufio.Reader // reads s.conn; only the command loop uses it
	line    []byte        // the command line being assembled
	queued  []heldLine    // lines held until the running transfer ends (commandqueue.go)

	writeMu sync.Mutex // serialises replies from the command loop and the transfer goroutine
	conn    net.Conn   // the control connection, a *tls.Conn after AUTH TLS; guarded by writeMu
	// lastCode is the code of the last reply written, for the command
	// loop's Results (results.go); guarded by writeMu. since, the accept
	// time in Unix seconds, never changes.
	lastCode int16
	since    uint32

	// The bool fields of each group come last in it, so that they share
	// words: the session stays in the 512-byte size class.
	mu              sync.Mutex // guards what other goroutines may read, below
	path            string
	user            string
	fs              ClientDriver
	protected       ClientDriverExtensionProtectedData // fs's, found once per login (unwrap.go)
	login           *Login                             // the login, while a login hook waits for its end
	clientVersion   string
	lastCommand     string
	extra           any
	hostName        string
	tlsServerName   string
	tlsState        *tls.ConnectionState // of the control connection, once TLS; a pointer keeps plain sessions small
	lastDataChannel DataChannel
	xfer            *transfer      // the running transfer, or nil
	spare           *spareListener // the last transfer's passive listener, kept for the next PASV/EPSV
	loggedIn        bool
	debug           bool
	controlTLS      bool
	transferTLS     bool
	closing         bool // the server shuts down: end the session once no transfer runs
	closed          bool // the control connection is closed
	ending          bool // forceClose waits to write its last reply

	// Owned by the command loop.
	tlsConfig    *tls.Config
	transferType TransferType
	restOffset   int64
	renameFrom   string
	pasv         *passiveListener
	activeAddr   *net.TCPAddr
	cur          *Command // the command running, while ResultHooks wait for its Result
	ext          extState // the command extensions' state (extensions.go)
	mlstFacts    factSet
	epsvAll      bool
	pbsz         bool
	discard      bool // the current line is too long and is being skipped
	partial      bool // s.line holds the start of a line cut by a read deadline
	parkDue      bool // the current read's deadline is the park delay, not the idle timeout
	noPark       bool // the connection has no socket to wait on (idlewait_unix.go)
}

func newSession(srv *Server, st *Settings, conn net.Conn, proxy *ProxyInfo) *session {
	s := &session{
		srv:          srv,
		st:           st,
		id:           srv.ids.next(),
		since:        uint32(time.Now().Unix()),
		rawConn:      conn,
		proxy:        proxy,
		conn:         conn,
		reader:       bufio.NewReaderSize(conn, controlReaderSize),
		path:         "/",
		transferType: st.DefaultTransferType,
		mlstFacts:    defaultFacts,
		noPark:       !parkable(socketConn(conn)),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.log = withProxy(newSessionLogger(srv.logger(), s), proxy)
	return s
}

// serveConn runs one control connection from admission to goodbye.
func (srv *Server) serveConn(conn net.Conn, implicit bool) {
	st, err := srv.loadSettings()
	if err != nil {
		_ = conn.Close()
		return
	}
	// The PROXY header is read here, in the connection's own goroutine,
	// never in the accept loop (proxyinfo.go).
	proxy, err := srv.proxyHandshake(conn)
	if err != nil {
		_ = conn.Close()
		return
	}
	setOOBInline(socketConn(conn))
	s := newSession(srv, st, conn, proxy)
	if !srv.addSession(s) {
		s.closeWith(421, "Server is shutting down.")
		return
	}
	s.run(implicit)
}

// run greets the client, then hands the session over to serveCommands in
// a goroutine of its own and returns, so that this goroutine's frames
// (serveConn's and run's, with the accept-time work) are not under the
// command loop while it waits for the first lines. A session idle for
// longer is parked (parkIdle) in a goroutine of 2 KiB; the guard in bench
// watches both.
func (s *session) run(implicit bool) {
	var release []func() // the admission hooks' done functions
	var connected bool   // ClientConnected was called
	if !s.greet(implicit, &release, &connected) {
		s.finish(release, connected)
		return
	}
	go s.serveCommands(release, connected)
}

// serveCommands runs the command loop, then ends the session, unless the
// loop parked it: its next line is then awaited by a fresh goroutine,
// which runs serveCommands again (parkIdle).
func (s *session) serveCommands(release []func(), connected bool) {
	if s.commandLoop() && s.parkIdle(release, connected) {
		return
	}
	defer s.finish(release, connected)
	s.endTransfer()
	s.closePassive()
	s.closeSpare()
	s.log.Debug("ftp: disconnected")
}

// finish ends a session, undoing its start in reverse: the login hooks'
// releases, the driver's ClientDisconnected once ClientConnected was
// called, the admission hooks' done functions (last first); then the
// plugins' values, the connection, the context and the server's record.
func (s *session) finish(release []func(), connected bool) {
	s.endLogin()
	if connected {
		s.srv.Driver.ClientDisconnected(s)
	}
	for i := len(release) - 1; i >= 0; i-- {
		release[i]()
	}
	s.values.end()
	s.closeConn()
	s.cancel()
	s.srv.removeSession(s)
}

// greet runs the admission hooks, the implicit TLS handshake and the
// driver's ClientConnected, and sends the welcome; it reports whether the
// session goes on. It appends the admission hooks' done functions to
// release and sets connected once ClientConnected was called.
func (s *session) greet(implicit bool, release *[]func(), connected *bool) bool {
	for _, admit := range s.srv.AdmissionHooks {
		done, err := admit(s.ctx, s)
		if done != nil {
			*release = append(*release, done)
		}
		if err != nil {
			s.log.Info("ftp: connection refused at admission", "err", err)
			code, msg := replyFor(err, 421, "Service not available, closing control connection.")
			s.reply(code, msg)
			return false
		}
	}
	if implicit {
		if err := s.startTLS(); err != nil {
			s.log.Info("ftp: implicit TLS handshake failed", "err", err)
			return false
		}
	}
	welcome, err := s.srv.Driver.ClientConnected(s)
	*connected = true
	if err != nil {
		s.log.Info("ftp: connection refused by driver", "err", err)
		code, msg := replyFor(err, 421, "Service not available, closing control connection.")
		s.reply(code, msg)
		return false
	}
	if welcome == "" {
		welcome = "FTP server ready."
	}
	s.log.Debug("ftp: connected")
	s.reply(220, welcome)
	return true
}

// commandLoop reads and runs commands until the client leaves or the
// session is closed, and reports false then; it reports true when the
// session has waited idleParkDelay for a line with nothing half-read, so
// that it may be parked.
func (s *session) commandLoop() (park bool) {
	for {
		if h, ok := s.nextQueued(); ok {
			if !s.runHeld(h) {
				return false
			}
			continue
		}
		wake, ok := s.queueWake()
		if !ok {
			return false
		}
		line, err := s.readLine(wake)
		switch {
		case err == nil:
			if s.holdLine(line) {
				continue
			}
			if !s.handleLine(line) {
				return false
			}
		case errors.Is(err, errLineTooLong):
			if !s.holdTooLong() && !s.lineTooLong() {
				return false
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			if s.parkDue && s.idleNow() {
				return true
			}
			if s.parkDue || s.transferRunning() || len(s.queued) > 0 {
				// A long transfer is not idleness, and its end
				// wakes the read when lines wait for it. A line
				// begun before the park delay ran out is read on,
				// up to the idle timeout.
				continue
			}
			s.idleTimedOut()
			return false
		default:
			return false // EOF, reset, or closed by us
		}
	}
}

// idleTimedOut ends a session that sent nothing for its idle timeout.
func (s *session) idleTimedOut() {
	s.log.Info("ftp: idle timeout")
	s.closeWith(421, "Idle timeout, closing control connection.")
}

// idleNow reports whether nothing of a next command has been read and no
// transfer runs, so that the session may be parked.
func (s *session) idleNow() bool {
	return !s.partial && s.reader.Buffered() == 0 && len(s.queued) == 0 && !s.transferRunning()
}

// parkIdle hands an idle session to a fresh goroutine that waits for the
// control connection to become readable (idleWait), and reports whether
// it did. The caller's goroutine then ends, and with it its stack, which
// the command loop's frames had grown past 2 KiB. The read deadline left
// is the idle timeout's remainder, the park delay being spent.
func (s *session) parkIdle(release []func(), connected bool) bool {
	rc := idleRawConn(socketConn(s.rawConn))
	if rc == nil {
		s.noPark = true
		return false
	}
	conn := s.readConn()
	if d := s.idleTimeout(); d > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(d - idleParkDelay))
	} else {
		_ = conn.SetReadDeadline(time.Time{})
	}
	// Nothing is buffered (idleNow): the reader and the line buffer are
	// made again when a line comes.
	s.reader, s.line = nil, nil
	go s.idleWait(rc, release, connected)
	return true
}

// idleWait is a parked session's goroutine. It waits, in frames small
// enough for the goroutine's first 2 KiB stack, until the control
// connection has a byte, an EOF or an error to read, or its idle timeout
// passes, or the session is closed (closeConn closes the socket, which
// ends the wait); then it runs the command loop again, which reads what
// came or finds the connection closed and ends the session.
func (s *session) idleWait(rc syscall.RawConn, release []func(), connected bool) {
	if err := rc.Read(socketReadable); errors.Is(err, os.ErrDeadlineExceeded) {
		s.idleTimedOut()
	}
	s.reader = bufio.NewReaderSize(s.readConn(), controlReaderSize)
	s.serveCommands(release, connected)
}

// lineTooLong answers an over-long line and reports whether the session
// may go on.
func (s *session) lineTooLong() bool {
	s.reply(500, "Command line too long.")
	s.resultOfTooLong()
	return s.countBadLine()
}

// countBadLine counts an unparsable line and reports whether the session
// may go on. The count starts again after each command (handleLine), so
// only a run of bad lines closes a session, not a few over a long one.
func (s *session) countBadLine() bool {
	s.badLines++
	if s.badLines < maxBadLines {
		return true
	}
	s.log.Info("ftp: too many malformed command lines")
	s.closeWith(421, "Too many malformed commands, closing control connection.")
	return false
}

// readLine returns the next command line without its line ending. The
// slice is valid until the next call. A line that grows past
// maxLineLength is skipped to its end and reported as errLineTooLong.
// When wake is closed the read ends early with os.ErrDeadlineExceeded;
// a line cut short by a deadline is completed by the next call.
func (s *session) readLine(wake <-chan struct{}) ([]byte, error) {
	conn := s.readConn()
	d := s.idleTimeout() // SITE IDLE may have shortened it
	// The park delay stands in for a longer idle timeout, unless a line
	// was cut short (it is read on up to the idle timeout) or lines wait
	// for a transfer.
	s.parkDue = !s.noPark && wake == nil && !s.partial && (d <= 0 || d > idleParkDelay)
	if s.parkDue {
		_ = conn.SetReadDeadline(time.Now().Add(idleParkDelay))
	} else if d > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(d))
	} else {
		_ = conn.SetReadDeadline(time.Time{}) // clear an earlier wake-up
	}
	defer wakeRead(conn, wake)()
	if !s.partial {
		if cap(s.line) > 2*controlReaderSize {
			s.line = nil // an idle session should not keep a large buffer
		}
		s.line = s.line[:0]
	}
	s.partial = false
	for {
		chunk, err := s.reader.ReadSlice('\n')
		if !s.discard && len(s.line)+len(chunk) > maxLineLength {
			s.discard = true
		}
		if !s.discard {
			s.line = append(s.line, chunk...)
		}
		switch {
		case err == nil && s.discard:
			s.discard = false
			s.line = s.line[:0]
			return nil, errLineTooLong
		case err == nil:
			return s.line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			// A timeout keeps the partial line: the transfer case reads on.
			s.partial = errors.Is(err, os.ErrDeadlineExceeded) && len(s.line) > 0
			return nil, err
		}
	}
}

// readConn returns the control connection for reading; only the command
// loop changes it, so it needs no lock there.
func (s *session) readConn() net.Conn {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.conn
}

// runLine parses and runs one command line and reports whether the
// session goes on. With ResultHooks, s.cur is the Command to fill in
// (handleLine, results.go).
func (s *session) runLine(raw []byte) bool {
	verb, arg, err := parseCommandLine(raw)
	if err != nil {
		var re *ReplyError
		if errors.As(err, &re) {
			s.reply(re.Code, re.Message)
		}
		return s.countBadLine()
	}
	s.badLines = 0
	s.mu.Lock()
	s.lastCommand = verb
	debug := s.debug
	s.mu.Unlock()
	if level := slog.LevelDebug; debug || s.log.Enabled(s.ctx, level) {
		if debug {
			level = slog.LevelInfo
		}
		s.log.Log(s.ctx, level, "ftp: command", "verb", verb, "arg", loggedArg(verb, arg))
	}

	spec := commands[verb]
	if x := s.runningTransfer(); x != nil && (spec == nil || !spec.duringTransfer) {
		// Commands other than ABOR, STAT and QUIT wait for the transfer,
		// so that replies stay in order.
		select {
		case <-x.done:
		case <-s.ctx.Done():
			return false
		}
	}
	if verb != "RNTO" {
		s.renameFrom = ""
	}

	cmd := s.cur
	if cmd == nil {
		cmd = &Command{}
	}
	cmd.Session, cmd.Verb, cmd.Arg = s, verb, arg
	if spec != nil {
		if spec.enabled != nil && !spec.enabled(s) {
			s.reply(502, "Command not implemented: "+verb+".")
			return true
		}
		if msg := spec.prepare(s, cmd); msg != "" {
			s.reply(501, msg)
			return true
		}
	}
	if err := s.runCommandHooks(cmd); err != nil {
		code, msg := replyFor(err, 550, "Command refused.")
		if code == 421 {
			// 421 means the service closes the connection (RFC 959 4.2).
			s.closeWith(code, msg)
			return false
		}
		s.reply(code, msg)
		return !s.isClosed()
	}
	if spec == nil {
		s.reply(502, "Command not implemented: "+verb+".")
		return true
	}
	if !spec.public && !s.LoggedIn() {
		s.reply(530, "Please log in with USER and PASS.")
		return true
	}
	spec.handler(s, cmd)
	return !s.isClosed()
}

// runCommandHooks runs the command hooks and re-cleans what they left.
func (s *session) runCommandHooks(cmd *Command) error {
	for _, hook := range s.srv.CommandHooks {
		if err := hook(s.ctx, cmd); err != nil {
			s.log.Info("ftp: command refused by hook", "verb", cmd.Verb, "err", err)
			return err
		}
	}
	for i, p := range cmd.Paths {
		cmd.Paths[i] = cleanPath(p)
	}
	return nil
}

// secretArg reports whether verb's argument may be a secret: PASS's, and
// ACCT's, which some clients send a second password in.
func secretArg(verb string) bool { return verb == "PASS" || verb == "ACCT" }

// loggedArg hides passwords from logs.
func loggedArg(verb, arg string) string {
	if secretArg(verb) && arg != "" {
		return "****"
	}
	return arg
}

// reply sends a reply; text with newlines becomes a multi-line reply.
func (s *session) reply(code int, text string) {
	s.writeReply(formatReply(code, text))
}

// replyLines sends a multi-line reply: first and last are the text of the
// first and last lines, lines go between them indented by a space.
func (s *session) replyLines(code int, first string, lines []string, last string) {
	s.writeReply(formatMultiline(code, first, lines, last))
}

// replyError answers with the *ReplyError inside err, or with code and
// text when there is none, logs err, and returns the code it sent.
func (s *session) replyError(err error, code int, text string) int {
	code, text = replyFor(err, code, text)
	s.log.Debug("ftp: command failed", "err", err, "code", code)
	s.reply(code, text)
	return code
}

// writeReply writes a reply to the command being run, whose code the
// Results take (results.go).
func (s *session) writeReply(b []byte) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.lastCode = replyCode(b)
	s.writeLocked(b, replyWriteTimeout)
}

// writeLocked writes b with writeMu held.
func (s *session) writeLocked(b []byte, timeout time.Duration) {
	_ = s.conn.SetWriteDeadline(time.Now().Add(timeout))
	// forceClose waits for this write: it cut the deadline, which the
	// line above may have set back after it. Set, then checked, so that
	// one of the two shorter deadlines holds.
	if timeout > farewellTimeout && s.isEnding() {
		_ = s.conn.SetWriteDeadline(time.Now().Add(farewellTimeout))
	}
	s.writeConn(b)
}

// writeConn writes b with writeMu held and the deadline set.
func (s *session) writeConn(b []byte) {
	if _, err := s.conn.Write(b); err != nil {
		// A client that cannot take replies is gone; closing the
		// connection also ends the command loop's read.
		_ = s.rawConn.Close()
	}
}

// closeWith sends a last reply to the command being run (QUIT, a hook's
// 421), then closes the session.
func (s *session) closeWith(code int, text string) {
	s.writeMu.Lock()
	s.lastCode = int16(code)
	s.writeLocked(formatReply(code, text), farewellTimeout)
	s.writeMu.Unlock()
	s.closeConn()
}

// farewell is closeWith for an end that no command asked for (the
// server's shutdown): its code is no command's, so a command finishing
// meanwhile keeps its own in its Result.
func (s *session) farewell(code int, text string) {
	s.writeMu.Lock()
	s.writeLastLocked(code, text, time.Now().Add(farewellTimeout))
	s.writeMu.Unlock()
	s.closeConn()
}

// writeLastLocked writes the last reply of an end that came from another
// goroutine than the command loop, with writeMu held, and closes the
// connection before the lock goes: a command the loop is running would
// otherwise write its reply after this one, and the client would read
// that reply last instead.
func (s *session) writeLastLocked(code int, text string, deadline time.Time) {
	_ = s.conn.SetWriteDeadline(deadline)
	s.writeConn(formatReply(code, text))
	_ = s.rawConn.Close()
}

// forceClose closes the session now, with a last reply. The reply waits
// for the reply lock, which is held for a moment per command (the reply
// being written, the loop's read of the next line, a Result's code), so
// that a client that reads gets it after the reply before, as its last
// line; skipping it when the lock was taken lost it for idle sessions
// caught at such a moment. A client that stopped reading cannot delay it
// past farewellTimeout: the write in progress has its deadline cut to
// that (see writeLocked), and this one ends by the same time. Like
// farewell, it leaves the Results' code alone.
func (s *session) forceClose(code int, text string) {
	deadline := time.Now().Add(farewellTimeout)
	s.mu.Lock()
	s.ending = true
	s.mu.Unlock()
	_ = s.rawConn.SetWriteDeadline(deadline)
	s.writeMu.Lock()
	s.writeLastLocked(code, text, deadline)
	s.writeMu.Unlock()
	s.closeConn()
}

// closeConn closes the control connection and aborts any transfer. It may
// be called from any goroutine, more than once. Closing the accepted
// connection, not the TLS one above it, needs no lock and unblocks every
// pending read and write.
func (s *session) closeConn() {
	s.mu.Lock()
	s.closed = true
	x := s.xfer
	s.mu.Unlock()
	if x != nil {
		x.abort()
	}
	_ = s.rawConn.Close()
	s.cancel()
}

// isEnding reports whether forceClose waits for the reply lock.
func (s *session) isEnding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ending
}

func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// shutdown ends the session for Server.Shutdown: now if it is idle, after
// its transfer otherwise.
func (s *session) shutdown() {
	s.mu.Lock()
	s.closing = true
	busy := s.xfer != nil
	s.mu.Unlock()
	if !busy {
		s.farewell(421, "Server is shutting down.")
	}
}

// ClientContext

// Path returns the working directory.
func (s *session) Path() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.path
}

// SetPath sets the working directory.
func (s *session) SetPath(p string) {
	p = cleanPath(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.path = p
}

// SetDebug turns per-command logging on or off.
func (s *session) SetDebug(debug bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.debug = debug
}

// Debug reports whether per-command logging is on.
func (s *session) Debug() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.debug
}

// ID returns the session's identifier.
func (s *session) ID() uint32 { return s.id }

// RemoteAddr returns the client's address.
func (s *session) RemoteAddr() net.Addr { return s.rawConn.RemoteAddr() }

// LocalAddr returns the control connection's local address.
func (s *session) LocalAddr() net.Addr { return s.rawConn.LocalAddr() }

// GetClientVersion returns the CLNT text.
func (s *session) GetClientVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientVersion
}

// Close ends the session.
func (s *session) Close() error {
	s.closeConn()
	return nil
}

var _ ReplyCloser = (*session)(nil)

// CloseWithReply ends the session after a last reply (ReplyCloser).
func (s *session) CloseWithReply(code int, text string) error {
	s.forceClose(code, text)
	return nil
}

// HasTLSForControl reports whether the control connection uses TLS.
func (s *session) HasTLSForControl() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.controlTLS
}

// HasTLSForTransfers reports whether PROT P is in effect.
func (s *session) HasTLSForTransfers() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transferTLS
}

// GetLastCommand returns the last verb received.
func (s *session) GetLastCommand() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastCommand
}

// GetLastDataChannel returns the last data channel mode.
func (s *session) GetLastDataChannel() DataChannel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastDataChannel
}

// User returns the USER name.
func (s *session) User() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// LoggedIn reports whether the session is logged in.
func (s *session) LoggedIn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loggedIn
}

// HostName returns the HOST name.
func (s *session) HostName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostName
}

// TLSServerName returns the control connection's SNI name.
func (s *session) TLSServerName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tlsServerName
}

// SetExtra stores a value for drivers and hooks.
func (s *session) SetExtra(extra any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extra = extra
}

// Extra returns the value stored by SetExtra.
func (s *session) Extra() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.extra
}

// driver returns the logged-in filesystem.
func (s *session) driver() ClientDriver {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fs
}
