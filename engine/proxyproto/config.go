// Package proxyproto reads the PROXY protocol headers (versions 1 and 2)
// that a TCP load balancer such as HAProxy sends ahead of each connection,
// so that the engine sees the real client's address instead of the
// balancer's. It wraps the control listener, the implicit-TLS listener and,
// through engine.MainDriverExtensionPassiveWrapper, every passive data
// listener. Headers are parsed by github.com/pires/go-proxyproto.
//
// Trust is explicit: only peers inside Config.Trusted may send a header.
// A header is read lazily, in the connection's own goroutine (the engine
// calls ProxyHandshake there), so a client that connects and sends nothing
// never holds up the accept loop.
package proxyproto

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ftpgate/ftpgate/engine/conf"
)

// Mode says whether connections from trusted peers carry a PROXY header.
type Mode int

// Modes.
const (
	// Off reads no header: listeners are not wrapped at all.
	Off Mode = iota
	// Optional uses a header when a trusted peer sends one. A trusted peer
	// that sends nothing waits HeaderTimeout before it is served as it is,
	// since an FTP client speaks only after the server's banner.
	Optional
	// Required drops a connection from a trusted peer that does not open
	// with a valid header within HeaderTimeout.
	Required
)

// String returns "off", "optional" or "required".
func (m Mode) String() string {
	switch m {
	case Optional:
		return "optional"
	case Required:
		return "required"
	default:
		return "off"
	}
}

// MarshalText returns the mode's name.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses "off", "optional" or "required".
func (m *Mode) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "off", "":
		*m = Off
	case "optional":
		*m = Optional
	case "required":
		*m = Required
	default:
		return fmt.Errorf("PROXY protocol mode %q: want off, optional or required", b)
	}
	return nil
}

// UntrustedAction says what happens when a peer outside Config.Trusted
// sends a PROXY header. Such a header is never believed either way.
type UntrustedAction int

// Actions for headers from untrusted peers.
const (
	// Reject drops the connection.
	Reject UntrustedAction = iota
	// Ignore strips the header and serves the connection with the peer's
	// own address.
	Ignore
)

// String returns "reject" or "ignore".
func (a UntrustedAction) String() string {
	if a == Ignore {
		return "ignore"
	}
	return "reject"
}

// MarshalText returns the action's name.
func (a UntrustedAction) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses "reject" or "ignore".
func (a *UntrustedAction) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "reject", "":
		*a = Reject
	case "ignore":
		*a = Ignore
	default:
		return fmt.Errorf("untrusted PROXY header action %q: want reject or ignore", b)
	}
	return nil
}

// DefaultHeaderTimeout is the header timeout when Config.HeaderTimeout is
// zero: long enough for a balancer across a slow link, short enough that
// silent connections do not pile up.
const DefaultHeaderTimeout = 5 * time.Second

// Config is the PROXY protocol configuration of a server. Its zero value
// is Off. The toml tags let it be embedded in a configuration file.
type Config struct {
	// Mode is off, optional or required.
	Mode Mode `toml:"mode"`
	// Trusted lists the balancers allowed to send headers, as CIDR
	// prefixes ("10.0.0.0/8") or single addresses ("192.0.2.7").
	Trusted []string `toml:"trusted"`
	// Untrusted is what happens to a header from any other peer.
	Untrusted UntrustedAction `toml:"untrusted"`
	// HeaderTimeout bounds the wait for a trusted peer's header;
	// DefaultHeaderTimeout when zero. In TOML it is a duration string
	// ("5s"), the grammar of --proxy-header-timeout (conf.Duration); a
	// bare integer is refused rather than read as nanoseconds.
	HeaderTimeout conf.Duration `toml:"header_timeout"`
}

// ParsePrefix parses a CIDR prefix or a single address (as a /32 or
// /128) with the grammar every ftpgate prefix list shares (conf.ParsePrefix).
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := conf.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted balancer %q: %w", strings.TrimSpace(s), err)
	}
	return p, nil
}

// Validate checks the config without building anything.
func (c Config) Validate() error {
	_, err := c.compile(nil)
	return err
}

// Wrapper reads PROXY headers on the listeners it wraps, as its Config
// says. It is safe for concurrent use.
type Wrapper struct {
	mode      Mode
	trusted   []netip.Prefix
	untrusted UntrustedAction
	timeout   time.Duration
	log       *slog.Logger
}

// New checks c and returns a Wrapper that logs to log (slog.Default()
// when nil).
func New(c Config, log *slog.Logger) (*Wrapper, error) {
	if log == nil {
		log = slog.Default()
	}
	return c.compile(log)
}

func (c Config) compile(log *slog.Logger) (*Wrapper, error) {
	if c.Mode < Off || c.Mode > Required {
		return nil, fmt.Errorf("PROXY protocol mode %d is unknown", c.Mode)
	}
	if c.Untrusted != Reject && c.Untrusted != Ignore {
		return nil, fmt.Errorf("untrusted PROXY header action %d is unknown", c.Untrusted)
	}
	if c.HeaderTimeout < 0 {
		return nil, errors.New("the PROXY header timeout must not be negative")
	}
	w := &Wrapper{mode: c.Mode, untrusted: c.Untrusted, timeout: time.Duration(c.HeaderTimeout), log: log}
	if w.timeout == 0 {
		w.timeout = DefaultHeaderTimeout
	}
	for _, s := range c.Trusted {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		w.trusted = append(w.trusted, p)
	}
	if c.Mode != Off && len(w.trusted) == 0 {
		return nil, fmt.Errorf("PROXY protocol mode %s needs at least one trusted balancer address", c.Mode)
	}
	return w, nil
}

// Enabled reports whether the wrapper reads headers at all (Mode is not
// Off).
func (w *Wrapper) Enabled() bool { return w != nil && w.mode != Off }

// Wrap returns ln with PROXY header reading, or ln itself when the mode
// is Off. Accept never reads from a connection: the header is read by
// Conn.ProxyHandshake, which the engine calls in the connection's own
// goroutine.
func (w *Wrapper) Wrap(ln net.Listener) net.Listener {
	if !w.Enabled() {
		return ln
	}
	return &Listener{Listener: ln, w: w}
}

// WrapPassiveListener wraps a passive data listener; it lets a MainDriver
// implement engine.MainDriverExtensionPassiveWrapper by calling it. On
// data connections an untrusted peer's bytes are passed on untouched: they
// may be file content that happens to start like a header, and a header
// there would not be believed anyway.
func (w *Wrapper) WrapPassiveListener(ln net.Listener) (net.Listener, error) {
	if !w.Enabled() {
		return ln, nil
	}
	return &Listener{Listener: ln, w: w, data: true}, nil
}

// trusts reports whether a peer may send headers.
func (w *Wrapper) trusts(a net.Addr) bool {
	ip := addrIP(a)
	if !ip.IsValid() {
		return false
	}
	for _, p := range w.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// addrIP returns the unmapped IP of a TCP address.
func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Listener is a net.Listener whose connections are *Conn.
type Listener struct {
	net.Listener
	w    *Wrapper
	data bool // passive data listener: untrusted peers' bytes are not checked
}

// TCPListener returns the TCP listener under a passive data listener, so
// that the engine may keep it for the session's next PASV or EPSV
// (engine.ReusablePassiveListener): Accept holds nothing between calls and
// returns the listener's errors as they are. Nil for a control listener.
func (l *Listener) TCPListener() *net.TCPListener {
	if !l.data {
		return nil
	}
	tl, _ := l.Listener.(*net.TCPListener)
	return tl
}

// Accept returns the next connection without reading from it.
func (l *Listener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.w.newConn(conn, l.data), nil
}
