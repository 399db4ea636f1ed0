package proxyproto

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ftpgate/ftpgate/engine"
	pp "github.com/pires/go-proxyproto"
)

// readBufferSize holds a v1 header (107 bytes at most) in one buffer, as
// go-proxyproto's v1 parser needs; v2 headers refill it as they go.
const readBufferSize = 256

// Errors a dropped connection's ProxyHandshake or Read returns.
var (
	// ErrNoHeader means a trusted peer sent no PROXY header in Required
	// mode.
	ErrNoHeader = errors.New("proxyproto: no PROXY header from a trusted balancer")
	// ErrHeaderTimeout means the header did not arrive (or not whole)
	// within the header timeout.
	ErrHeaderTimeout = errors.New("proxyproto: PROXY header timed out")
	// ErrUntrustedHeader means a peer outside the trusted balancers sent a
	// header and the config says to reject it.
	ErrUntrustedHeader = errors.New("proxyproto: PROXY header from an untrusted peer")
	// ErrUnsupportedAddress means the header names an address that is not
	// TCP over IPv4 or IPv6 (UDP, a Unix socket).
	ErrUnsupportedAddress = errors.New("proxyproto: PROXY header for a transport other than TCP")
)

// Conn is an accepted connection that may start with a PROXY header. Its
// RemoteAddr is the client's address once the header is read; LocalAddr
// is always the server's own socket address.
type Conn struct {
	net.Conn // the accepted socket
	w        *Wrapper
	trusted  bool

	once   sync.Once
	info   *engine.ProxyInfo
	err    error
	remote net.Addr

	// pre holds what ProxyHeaderReady read ahead of the handshake, which
	// takes it first.
	pre []byte

	// Used by Read only, which is never called concurrently.
	br      *bufio.Reader // bytes read past the header; nil once drained
	sniffed bool          // an untrusted peer's first bytes were checked
	readErr error         // a failed check, returned by every Read
}

func (w *Wrapper) newConn(conn net.Conn, data bool) *Conn {
	c := &Conn{Conn: conn, w: w, trusted: w.trusts(conn.RemoteAddr())}
	c.sniffed = data // no check of an untrusted peer's data connection
	return c
}

// Drained implements engine.DrainedConn: the socket, once a believed
// header (or none) has been read and no byte past it is buffered, so that
// transfers keep sendfile and splice; nil before that, or while an
// untrusted peer's first bytes still need their check.
func (c *Conn) Drained() net.Conn {
	if _, err := c.ProxyHandshake(); err != nil || (!c.trusted && !c.sniffed) {
		return nil
	}
	if c.br != nil && c.br.Buffered() > 0 {
		return nil
	}
	return c.Conn
}

// ProxyHeaderReady implements engine.ProxyHeaderReady: true when
// ProxyHandshake would return at once, because the peer is not trusted
// (no header is read) or the bytes already in the socket hold a whole
// header or cannot start one (headerWhole). It reads what is there without
// waiting (one read(2)) and keeps it for the handshake (pre), which then
// needs no system call when the header was whole. Called once, before
// the handshake, by the goroutine that accepted the connection.
func (c *Conn) ProxyHeaderReady() bool {
	if !c.trusted {
		return true
	}
	hr := headerReader{conn: c.Conn}
	var b [readBufferSize]byte
	n := hr.readNow(b[:])
	if n == 0 {
		return false
	}
	c.pre = append([]byte(nil), b[:n]...)
	return headerWhole(c.pre)
}

// headerWhole reports whether b, the first bytes of a connection, is
// enough for go-proxyproto's Read to return without reading more. Read
// looks at one byte; after 'P' or '\r' it needs 5 ("PROXY": a version 1
// line, which it then takes only from what is buffered), else 12 (the
// version 2 signature), and a version 2 header's 16 bytes and the length
// they give. Anything else ends it at once. Nothing is not enough.
func headerWhole(b []byte) bool {
	const v2Fixed = 16 // signature, version and command, family, length
	switch {
	case len(b) == 0:
		return false
	case b[0] != pp.SIGV1[0] && b[0] != pp.SIGV2[0]:
		return true
	case len(b) < len(pp.SIGV1):
		return false
	case bytes.Equal(b[:len(pp.SIGV1)], pp.SIGV1):
		return true
	case len(b) < len(pp.SIGV2):
		return false
	case !bytes.Equal(b[:len(pp.SIGV2)], pp.SIGV2):
		return true
	case len(b) < v2Fixed:
		return false
	}
	return len(b) >= v2Fixed+int(binary.BigEndian.Uint16(b[v2Fixed-2:v2Fixed]))
}

// NetConn returns the accepted socket, for socket options. Reading from it
// directly would skip bytes buffered past the header.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// ProxyHandshake reads a trusted peer's header, once, under the header
// timeout, and logs every refusal. It returns nil and no error for a
// connection with no header to believe: an untrusted peer (whose first
// bytes Read checks later, without delaying the banner), or a trusted
// peer without a header in Optional mode.
func (c *Conn) ProxyHandshake() (*engine.ProxyInfo, error) {
	c.once.Do(c.handshake)
	return c.info, c.err
}

// RemoteAddr returns the client's address: the header's source, or the
// peer's address when there is no header to believe. It reads the header
// first when ProxyHandshake has not run yet.
func (c *Conn) RemoteAddr() net.Addr {
	c.once.Do(c.handshake)
	return c.remote
}

// Read returns the connection's bytes after the header.
func (c *Conn) Read(b []byte) (int, error) {
	if _, err := c.ProxyHandshake(); err != nil {
		return 0, err
	}
	if !c.trusted && !c.sniffed {
		if err := c.sniff(); err != nil {
			return 0, err
		}
	}
	if c.br != nil {
		if c.br.Buffered() == 0 {
			c.br = nil
		} else {
			return c.br.Read(b)
		}
	}
	return c.Conn.Read(b)
}

// Write sends b once the header, if any, is read.
func (c *Conn) Write(b []byte) (int, error) {
	if _, err := c.ProxyHandshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *Conn) handshake() {
	peer := c.Conn.RemoteAddr()
	c.remote = peer
	if !c.trusted {
		return
	}
	hr := &headerReader{conn: c.Conn, deadline: time.Now().Add(c.w.timeout), pre: c.pre}
	c.pre = nil
	br := bufio.NewReaderSize(hr, readBufferSize)
	h, err := pp.Read(br)
	if hr.armed {
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded) && hr.n == 0 && c.w.mode == Optional:
		// A direct client on the balancer's host: served as it is.
		c.debug("proxyproto: no PROXY header from a trusted peer; serving it without one", "timeout", c.w.timeout)
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.fail(ErrHeaderTimeout, "timeout", c.w.timeout, "received_bytes", hr.n)
		return
	case errors.Is(err, pp.ErrNoProxyProtocol) && c.w.mode == Optional:
		c.debug("proxyproto: no PROXY header from a trusted peer; serving it without one")
		c.br = br
		return
	case errors.Is(err, pp.ErrNoProxyProtocol):
		c.fail(ErrNoHeader)
		return
	default:
		c.fail(fmt.Errorf("proxyproto: malformed PROXY header: %w", err))
		return
	}
	info, err := proxyInfo(h, peer)
	if err != nil {
		c.fail(err)
		return
	}
	if br.Buffered() > 0 {
		c.br = br
	}
	c.info = info
	if info.Local {
		// Health checks come every few seconds: not worth an Info line.
		c.debug("proxyproto: PROXY LOCAL command (balancer health check); serving with the balancer's address")
		return
	}
	if info.Source != nil {
		c.remote = info.Source
	}
	if c.w.log.Enabled(context.Background(), slog.LevelDebug) { // the client's string only if logged
		c.logger().Debug("proxyproto: PROXY header accepted", "client", c.remote.String(), "version", info.Version)
	}
}

// logger is the wrapper's logger with the peer's address. It is made only
// when a line is written: made for every connection (the address's string
// and the logger's copy), it cost a small file about 3% of the server's CPU
// with PROXY headers on its data connections.
func (c *Conn) logger() *slog.Logger {
	return c.w.log.With("peer", c.Conn.RemoteAddr().String())
}

// debug logs a debug line about the connection, if debug lines are on.
func (c *Conn) debug(msg string, args ...any) {
	if c.w.log.Enabled(context.Background(), slog.LevelDebug) {
		c.logger().Debug(msg, args...)
	}
}

// fail records a refusal and logs it.
func (c *Conn) fail(err error, attrs ...any) {
	c.err = err
	c.logger().Info("proxyproto: connection dropped", append([]any{"err", err}, attrs...)...)
}

// sniff looks at an untrusted peer's first bytes, which arrive only after
// the banner (FTP clients speak second), so the check delays nobody. A
// PROXY header there is never believed: it is rejected, or stripped when
// the config says to ignore it.
func (c *Conn) sniff() error {
	if c.readErr != nil {
		return c.readErr
	}
	cr := &countingReader{r: c.Conn}
	br := bufio.NewReaderSize(cr, readBufferSize)
	h, err := pp.Read(br)
	switch {
	case errors.Is(err, pp.ErrNoProxyProtocol):
	case err != nil && cr.n == 0:
		// Nothing arrived (the caller's read deadline, a reset): nothing
		// was consumed, so the check runs again on the next Read.
		return err
	default:
		log := c.logger()
		if err == nil && c.w.untrusted == Ignore {
			log.Warn("proxyproto: ignored a PROXY header from an untrusted peer", "claimed_client", fmt.Sprint(h.SourceAddr))
			break
		}
		if err == nil {
			err = ErrUntrustedHeader
		} else {
			err = fmt.Errorf("%w (malformed: %w)", ErrUntrustedHeader, err)
		}
		c.sniffed, c.readErr = true, err
		log.Warn("proxyproto: connection dropped", "err", err)
		_ = c.Conn.Close()
		return err
	}
	c.sniffed = true
	if br.Buffered() > 0 {
		c.br = br
	}
	return nil
}

// headerReader is what a trusted peer's header is read from. A balancer
// sends its header as soon as it connects, so by the time the engine reads
// it the header is almost always in the socket's buffer already: the first
// Read takes whatever is there without waiting (readNow), and only a Read
// that must wait (nothing there yet, or part of a header) arms the header
// deadline, which counts from the start of the handshake, as it would if
// armed then. Arming and clearing a read deadline cost every data
// connection two runtime timer changes under the timers' lock; a caller's
// own read deadline is left as it is unless the header had to wait.
type headerReader struct {
	conn     net.Conn
	deadline time.Time // when the header must be whole
	tried    bool      // the non-blocking first read was tried
	armed    bool      // conn's read deadline is set, to be cleared
	n        int       // bytes read: a peer that sent nothing, or part of a header
	now      int       // what readNow read
	pre      []byte    // bytes read ahead (Conn.ProxyHeaderReady), given first
}

func (r *headerReader) Read(b []byte) (int, error) {
	if len(r.pre) > 0 {
		n := copy(b, r.pre)
		r.pre = r.pre[n:]
		r.n += n
		return n, nil
	}
	if !r.tried {
		r.tried = true
		if n := r.readNow(b); n > 0 {
			r.n += n
			return n, nil
		}
	}
	if !r.armed {
		r.armed = true
		_ = r.conn.SetReadDeadline(r.deadline)
	}
	n, err := r.conn.Read(b)
	r.n += n
	return n, err
}

// countingReader counts the bytes read through it, to tell a peer that
// sent nothing from one that sent part of a header.
type countingReader struct {
	r net.Conn
	n int
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.n += n
	return n, err
}

// The engine interfaces a Conn implements.
var (
	_ engine.ProxiedConn      = (*Conn)(nil)
	_ engine.ProxyHeaderReady = (*Conn)(nil)
	_ engine.DrainedConn      = (*Conn)(nil)
)
