package engine

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Settings are a Server's options, returned by MainDriver.GetSettings. The
// zero value is usable: it listens on ":21", offers plain and explicit-TLS
// sessions, picks passive ports from the kernel and checks that data
// connections come from the client's own address.
type Settings struct {
	// Listener, when not nil, is used instead of listening on ListenAddr.
	Listener net.Listener
	// ListenAddr is the control connection address, ":21" when empty.
	ListenAddr string
	// ImplicitTLSListenAddr, when not empty, is a second address where every
	// connection starts with a TLS handshake (implicit FTPS, usually port 990).
	ImplicitTLSListenAddr string
	// ImplicitTLSListener, when not nil, is used instead of listening on
	// ImplicitTLSListenAddr, for example a listener that reads PROXY
	// protocol headers.
	ImplicitTLSListener net.Listener
	// PublicHost is the IPv4 address advertised in PASV replies. When empty,
	// PublicIPResolver is asked, then the control connection's local address
	// is used.
	PublicHost string
	// PublicIPResolver, when not nil and PublicHost is empty, returns the
	// IPv4 address to advertise in PASV replies for a session.
	PublicIPResolver PublicIPResolver
	// PassiveTransferPortRange picks the ports of passive listeners. When
	// nil, the Server hands out ports of the system's ephemeral range in
	// turn (the kernel picks one only when several in a row are busy).
	PassiveTransferPortRange PasvPortGetter
	// PassiveTransferPortMultiplexing lets clients from different IPs share
	// passive listener ports.
	PassiveTransferPortMultiplexing bool
	// ActiveTransferPortNon20 makes active data connections leave from any
	// port instead of port 20 (RFC 1579). Port 20 is only tried where the
	// process may bind it.
	ActiveTransferPortNon20 bool
	// IdleTimeout is the time in seconds a control connection may stay
	// silent outside transfers before it is closed with 421; 0 means 900
	// and a negative value disables the timeout.
	IdleTimeout int
	// ConnectionTimeout is the time in seconds allowed to open a data
	// connection, to complete its TLS handshake, and for a running transfer
	// to make progress; 0 means 30.
	ConnectionTimeout int
	// DisableMLSD turns off MLSD.
	DisableMLSD bool
	// DisableMLST turns off MLST.
	DisableMLST bool
	// DisableMFMT turns off MFMT and the MDTM form that sets a time.
	DisableMFMT bool
	// Banner is the server name shown by the server form of STAT.
	Banner string
	// TLSRequired says whether sessions must use TLS.
	TLSRequired TLSRequirement
	// RequireTLSSessionReuse makes every TLS data connection resume the
	// TLS session of its own control connection, as vsftpd's
	// require_ssl_reuse does: a thief who connects to a passive port
	// first cannot complete the handshake, since it lacks the session.
	// Sessions resumed from another control connection do not count. Off
	// by default because some clients (Python's ftplib, jlaffaye/ftp)
	// cannot resume sessions; recommended where clients can (lftp, curl,
	// FileZilla, WinSCP). Resumption uses session tickets: over TLS 1.2
	// a client must offer them (curl does so only over TLS 1.3), since
	// Go servers keep no session-ID cache.
	RequireTLSSessionReuse bool
	// DisableLISTArgs makes LIST and NLST treat "-a" and the like as names.
	DisableLISTArgs bool
	// DisableSite turns off SITE.
	DisableSite bool
	// DisableActiveMode turns off PORT and EPRT.
	DisableActiveMode bool
	// EnableHASH turns on HASH and the XCRC, XMD5, XSHA1, XSHA256 and
	// XSHA512 commands.
	EnableHASH bool
	// DisableSTAT turns off the server form of STAT; STAT with a path still
	// works.
	DisableSTAT bool
	// DisableSYST turns off SYST.
	DisableSYST bool
	// EnableCOMB turns on COMB.
	EnableCOMB bool
	// MaxCOMBBytes caps the bytes one COMB may append: a COMB whose parts
	// hold more, measured when it opens them, is refused with 552 before
	// it writes anything. 0 sets no fixed cap. Either way COMB never
	// writes more than its parts held when it opened them, and the
	// storage's own limits (a tenant's quota) still refuse writes past
	// them with their reply.
	MaxCOMBBytes int64
	// DefaultTransferType is the type used until the client sends TYPE.
	DefaultTransferType TransferType
	// ActiveConnectionsCheck says whether PORT and EPRT may name an address
	// other than the client's.
	ActiveConnectionsCheck DataConnectionRequirement
	// PasvConnectionsCheck says whether a passive data connection may come
	// from an address other than the client's.
	PasvConnectionsCheck DataConnectionRequirement
	// DisableModeZ turns off MODE Z (compressed transfers), for servers
	// that would rather not spend CPU on compression.
	DisableModeZ bool
	// ModeZLevel is the zlib compression level (1 to 9) of MODE Z
	// downloads for sessions that do not choose one with OPTS MODE Z
	// LEVEL; 0 (or a value out of range) means zlib's default, 6.
	ModeZLevel int
	// MaxDecompressedUploadSize bounds the bytes one MODE Z upload may
	// expand to, since a few KiB of zlib data can stand for gigabytes: an
	// upload past it is aborted with 552 and its handle's
	// FileTransferError sees ErrDecompressedUploadTooLarge. 0 means 1 GiB;
	// a negative value means no bound. MODE S uploads are not affected.
	MaxDecompressedUploadSize int64
}

// idleTimeout returns the control connection's idle limit, 0 for none.
func (s *Settings) idleTimeout() time.Duration {
	switch {
	case s.IdleTimeout < 0:
		return 0
	case s.IdleTimeout == 0:
		return 900 * time.Second
	}
	return time.Duration(s.IdleTimeout) * time.Second
}

// connectionTimeout returns the limit for opening and stalling data
// connections.
func (s *Settings) connectionTimeout() time.Duration {
	if s.ConnectionTimeout <= 0 {
		return 30 * time.Second
	}
	return time.Duration(s.ConnectionTimeout) * time.Second
}

// PublicIPResolver returns the IPv4 address a session's PASV replies advertise.
type PublicIPResolver func(cc ClientContext) (string, error)

// PasvPortGetter picks the ports that passive listeners bind.
type PasvPortGetter interface {
	// FetchNext returns the next port to try: exposedPort is advertised to
	// the client, listenedPort is bound (they differ behind port-mapping
	// NAT). ok false means no port is available.
	FetchNext() (exposedPort, listenedPort int, ok bool)
	// NumberAttempts returns how many ports to try before giving up.
	NumberAttempts() int
}

// PortRange is a PasvPortGetter that hands out the ports Start to End
// (inclusive) in turn, so that consecutive sessions rarely collide.
type PortRange struct {
	Start int // first port
	End   int // last port
	next  atomic.Uint32
}

// FetchNext returns the next port of the range.
func (r *PortRange) FetchNext() (exposedPort, listenedPort int, ok bool) {
	n := r.End - r.Start + 1
	if r.Start <= 0 || r.End > 65535 || n <= 0 {
		return 0, 0, false
	}
	port := r.Start + int((r.next.Add(1)-1)%uint32(n))
	return port, port, true
}

// NumberAttempts returns the size of the range.
func (r *PortRange) NumberAttempts() int {
	return max(r.End-r.Start+1, 0)
}

// UnmarshalText parses "LOW-HIGH" (spaces around either number ignored)
// with 1024 <= LOW <= HIGH <= 65535, so that a flag (flag.TextVar) and a
// configuration file read a passive port range the same way. Ports below
// 1024 are refused: they are privileged and belong to other services.
func (r *PortRange) UnmarshalText(b []byte) error {
	s := string(b)
	lo, hi, ok := strings.Cut(s, "-")
	start, err1 := strconv.Atoi(strings.TrimSpace(lo))
	end, err2 := strconv.Atoi(strings.TrimSpace(hi))
	switch {
	case strings.TrimSpace(s) == "":
		return errors.New(`empty value: want LOW-HIGH, such as "50000-50100"`)
	case !ok || err1 != nil || err2 != nil:
		return fmt.Errorf("%q: want LOW-HIGH, such as \"50000-50100\"", s)
	case start < 1024 || end > 65535:
		return fmt.Errorf("%q: want ports from 1024 to 65535", s)
	case start > end:
		return fmt.Errorf("%q: LOW must not be above HIGH", s)
	}
	r.Start, r.End = start, end
	return nil
}

// MarshalText writes the range as "LOW-HIGH", and the zero PortRange
// (no range set) as the empty string.
func (r *PortRange) MarshalText() ([]byte, error) {
	if r.Start == 0 && r.End == 0 {
		return nil, nil
	}
	return fmt.Appendf(nil, "%d-%d", r.Start, r.End), nil
}

// TLSRequirement says how much TLS a server demands.
type TLSRequirement int

// TLS requirements.
const (
	// ClearOrEncrypted lets clients choose; AUTH TLS is offered when the
	// driver has a TLS configuration.
	ClearOrEncrypted TLSRequirement = iota
	// MandatoryEncryption refuses login before AUTH TLS and data transfers
	// without PROT P.
	MandatoryEncryption
	// ImplicitEncryption makes the main listener start every connection
	// with a TLS handshake.
	ImplicitEncryption
)

// DataConnectionRequirement says how strictly data connections are checked.
type DataConnectionRequirement int

// Data connection requirements.
const (
	// IPMatchRequired demands that the data connection's peer is the
	// control connection's client (the zero value).
	IPMatchRequired DataConnectionRequirement = iota
	// IPMatchDisabled accepts data connections from and to any address.
	IPMatchDisabled
)

// TransferType is the representation type set by TYPE.
type TransferType int

// Transfer types.
const (
	// TransferTypeBinary sends bytes as they are (TYPE I, the zero value).
	TransferTypeBinary TransferType = iota
	// TransferTypeASCII converts line endings to CRLF on the wire (TYPE A).
	TransferTypeASCII
)

// String returns "BINARY" or "ASCII".
func (t TransferType) String() string {
	if t == TransferTypeASCII {
		return "ASCII"
	}
	return "BINARY"
}

// HASHAlgo is a digest algorithm of the HASH command.
type HASHAlgo int

// Digest algorithms.
const (
	// HASHAlgoSHA256 is SHA-256, the default (the zero value).
	HASHAlgoSHA256 HASHAlgo = iota
	// HASHAlgoSHA512 is SHA-512.
	HASHAlgoSHA512
	// HASHAlgoSHA1 is SHA-1.
	HASHAlgoSHA1
	// HASHAlgoMD5 is MD5.
	HASHAlgoMD5
	// HASHAlgoCRC32 is CRC-32 (IEEE).
	HASHAlgoCRC32
)

// String returns the algorithm's name as the HASH command spells it.
func (a HASHAlgo) String() string {
	switch a {
	case HASHAlgoSHA512:
		return "SHA-512"
	case HASHAlgoSHA1:
		return "SHA-1"
	case HASHAlgoMD5:
		return "MD5"
	case HASHAlgoCRC32:
		return "CRC32"
	default:
		return "SHA-256"
	}
}
