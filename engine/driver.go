package engine

import (
	"crypto/tls"
	"io"
	"net"
	"os"

	"github.com/spf13/afero"
)

// MainDriver is what a program gives the Server: settings, TLS
// configuration, the welcome message and authentication. Its methods are
// called from many sessions at once and must be safe for concurrent use.
// A MainDriver that wraps another may offer Unwrap() MainDriver, and the
// engine then finds the wrapped driver's extensions (see "Driver wrappers"
// in the package documentation).
type MainDriver interface {
	// GetSettings returns the server's settings. The Server calls it once,
	// when it starts listening or serving.
	GetSettings() (*Settings, error)

	// ClientConnected is called for each admitted connection and returns
	// the welcome message sent with the 220 banner. An error refuses the
	// connection with 421 (or with the code of a *ReplyError).
	ClientConnected(cc ClientContext) (string, error)

	// ClientDisconnected is called when a connection ends, whether or not
	// its client ever logged in.
	ClientDisconnected(cc ClientContext)

	// AuthUser checks a user's credentials and returns the filesystem the
	// session will use. An error refuses the login with 530 (or with the
	// code of a *ReplyError; 421 also closes the session). It runs
	// inside the Server's LoginHooks, which see the values it gives the
	// session with a SessionKey (the account it resolved the name to)
	// once it returns.
	AuthUser(cc ClientContext, user, pass string) (ClientDriver, error)

	// GetTLSConfig returns the TLS configuration for AUTH TLS, PROT P and
	// implicit TLS. It is called whenever a session needs it, so that a
	// driver can rotate certificates; a nil config means TLS is not offered.
	GetTLSConfig() (*tls.Config, error)
}

// MainDriverExtensionHost is implemented by a MainDriver that serves more
// than one virtual host (RFC 7151).
type MainDriverExtensionHost interface {
	// CheckHost is called for each HOST command with the name the client
	// asked for (an IPv6 literal keeps its brackets). A nil error accepts
	// the name, which ClientContext.HostName then returns; an error is
	// answered with 504 (or with the code of a *ReplyError).
	CheckHost(cc ClientContext, host string) error
}

// MainDriverExtensionPassiveWrapper is implemented by a MainDriver that
// wraps every passive data listener, for example to read the PROXY
// protocol header a load balancer sends ahead of each data connection.
// The engine still checks the wrapped connections' RemoteAddr against the
// client's address; for connections that implement ProxiedConn it does so
// after ProxyHandshake, run in a goroutine per connection.
type MainDriverExtensionPassiveWrapper interface {
	// WrapPassiveListener returns the listener to accept data connections
	// from in place of ln. An error refuses the PASV or EPSV with 425.
	WrapPassiveListener(ln net.Listener) (net.Listener, error)
}

// MainDriverExtensionTLSVerifier is implemented by a MainDriver that logs
// users in with TLS client certificates. For it to see certificates, its
// tls.Config must ask for them (ClientAuth VerifyClientCertIfGiven or
// stricter).
type MainDriverExtensionTLSVerifier interface {
	// VerifyTLSClient is called for USER on a control connection that uses
	// TLS, with the handshake's state. A filesystem logs the user in at
	// once (232, no password); nil and no error asks for a password as
	// usual; an error refuses the login with 530 (or with the code of a
	// *ReplyError).
	VerifyTLSClient(cc ClientContext, user string, state tls.ConnectionState) (ClientDriver, error)
}

// ClientDriver is the filesystem of one logged-in session. The engine only
// ever passes it clean absolute paths ("/", "/dir/file"), never a path that
// climbs above "/". A ClientDriver that wraps another may offer
// Unwrap() afero.Fs or Unwrap() ClientDriver, and the engine then finds the
// wrapped filesystem's extensions, except GetHandle and ComputeHash (see
// "Driver wrappers" in the package documentation).
type ClientDriver interface {
	afero.Fs
}

// DataChannel says how a session's data connections are opened.
type DataChannel int

// Data channel modes.
const (
	// DataChannelNone means the client has not asked for a data connection yet.
	DataChannelNone DataChannel = iota
	// DataChannelPassive means the server listens and the client connects (PASV, EPSV).
	DataChannelPassive
	// DataChannelActive means the server connects to the client (PORT, EPRT).
	DataChannelActive
)

// String returns "none", "passive" or "active".
func (d DataChannel) String() string {
	switch d {
	case DataChannelPassive:
		return "passive"
	case DataChannelActive:
		return "active"
	default:
		return "none"
	}
}

// ClientContext is the engine's view of one control connection, given to
// drivers and hooks. Its methods are safe for concurrent use.
type ClientContext interface {
	// Path returns the session's current working directory.
	Path() string
	// SetPath changes the session's current working directory. The path
	// is cleaned and made absolute first.
	SetPath(path string)
	// SetDebug turns the logging of every command of this session on or off.
	SetDebug(debug bool)
	// Debug reports whether every command of this session is logged.
	Debug() bool
	// ID returns the session's identifier, unique within the Server.
	ID() uint32
	// RemoteAddr returns the client's address.
	RemoteAddr() net.Addr
	// LocalAddr returns the server's address of the control connection.
	LocalAddr() net.Addr
	// GetClientVersion returns what the client sent with CLNT, or "".
	GetClientVersion() string
	// Close ends the session: the control connection and any transfer.
	Close() error
	// HasTLSForControl reports whether the control connection uses TLS.
	HasTLSForControl() bool
	// HasTLSForTransfers reports whether data connections use TLS (PROT P).
	HasTLSForTransfers() bool
	// GetLastCommand returns the verb of the last command received.
	GetLastCommand() string
	// GetLastDataChannel returns the mode of the last data channel set up.
	GetLastDataChannel() DataChannel
	// User returns the name given with USER, or "" before it.
	User() string
	// LoggedIn reports whether the session has passed AuthUser.
	LoggedIn() bool
	// HostName returns the name accepted by the HOST command, or "".
	HostName() string
	// TLSServerName returns the SNI name of the control connection's TLS
	// handshake, or "".
	TLSServerName() string
	// SetExtra attaches a value of the driver's or a hook's choosing to the
	// session.
	SetExtra(extra any)
	// Extra returns the value set by SetExtra.
	Extra() any
}

// ReplyCloser is implemented by the engine's ClientContext. A driver or
// hook that ends a session from outside its command loop (a reload that
// disables the account, say) uses it so that the client reads why before
// the connection closes, instead of a bare end of file.
type ReplyCloser interface {
	// CloseWithReply sends code and text as the session's last reply and
	// closes it as Close does. The reply follows a reply being written at
	// that moment, and no other follows it; a client that stopped reading
	// delays the close by the farewell write's timeout (2 s) at most.
	CloseWithReply(code int, text string) error
}

// ClientDriverExtensionAllocate is implemented by a ClientDriver that can
// reserve space before an upload (ALLO). Without it, ALLO is answered 202.
type ClientDriverExtensionAllocate interface {
	// AllocateSpace reserves size bytes for the next upload.
	AllocateSpace(size int) error
}

// ClientDriverExtensionAvailableSpace is implemented by a ClientDriver that
// can tell how much space is left (AVBL).
type ClientDriverExtensionAvailableSpace interface {
	// GetAvailableSpace returns the bytes available in dirName.
	GetAvailableSpace(dirName string) (int64, error)
}

// ClientDriverExtensionSymlink is implemented by a ClientDriver that can
// create symbolic links (SITE SYMLINK).
type ClientDriverExtensionSymlink interface {
	// Symlink creates newname as a symbolic link to oldname.
	Symlink(oldname, newname string) error
}

// ClientDriverExtensionRemoveCheck is implemented by a ClientDriver that
// can say whether Remove would be refused without removing anything. COMB
// removes its parts once the target is written; asking first lets it
// refuse before writing a byte, instead of leaving a new target beside
// parts it was not allowed to remove.
type ClientDriverExtensionRemoveCheck interface {
	// CheckRemove returns the error Remove(name) would return for reasons
	// of rights or policy, or nil when Remove may go ahead.
	CheckRemove(name string) error
}

// ClientDriverExtensionSite is implemented by a ClientDriver with SITE
// subcommands of its own. The engine's built-in subcommands (CHMOD, CHOWN,
// SYMLINK, MKDIR, RMDIR, IDLE, HELP) come first, because they already call
// the driver's own methods and CommandHooks can refuse them with their
// paths resolved; Site is asked about every other subcommand.
type ClientDriverExtensionSite interface {
	// Site runs `SITE command arg`; command is in upper case and arg is
	// the rest of the line as received (paths in it are not resolved).
	// handled false answers 504 as for an unknown subcommand; otherwise
	// the client gets code (200 to 599, else 550) and message.
	Site(cc ClientContext, command, arg string) (code int, message string, handled bool)
}

// ClientDriverExtensionHasher is implemented by a ClientDriver that computes
// file digests itself (HASH and the X* digest commands), for example from
// stored metadata. It is only used when Settings.EnableHASH is set.
type ClientDriverExtensionHasher interface {
	// ComputeHash returns the lower-case hex digest of bytes
	// [startOffset, endOffset) of name; endOffset 0 means to the end.
	ComputeHash(name string, algo HASHAlgo, startOffset, endOffset int64) (string, error)
}

// ClientDriverExtensionProtectedData is implemented by a ClientDriver
// whose user may move data only over TLS, whatever Settings.TLSRequired
// says: while RequireProtectedData is true, every transfer and listing on
// a clear data connection is refused with 521 before it starts.
type ClientDriverExtensionProtectedData interface {
	RequireProtectedData() bool
}

// ClientDriverExtensionFileTransfer is implemented by a ClientDriver that
// opens transfer handles itself instead of through afero.Fs.OpenFile.
type ClientDriverExtensionFileTransfer interface {
	// GetHandle opens name for a transfer with os.OpenFile flags; offset is
	// the REST offset (0 without REST), which the engine also seeks to.
	GetHandle(name string, flags int, offset int64) (FileTransfer, error)
}

// ClientDriverExtensionOpenRead is implemented by a ClientDriver that opens
// a file for a download and tells what it opened in the same step, so
// that RETR needs no Stat of its own before the open (a path lookup per
// download; on a backend that checks every element of a path, a walk).
// The engine uses it when the driver has no GetHandle, and finds it on
// the session's driver itself, not through Unwrap: a wrapper's OpenFile
// must not be stepped around.
type ClientDriverExtensionOpenRead interface {
	// OpenRead opens name for reading. fi describes what was opened (its
	// handle's stat where the backend has one); for anything but a
	// regular file OpenRead may return fi with a nil handle, and the
	// engine then refuses the download as it does after a Stat. Errors
	// are those Stat or OpenFile would return.
	OpenRead(name string) (f FileTransfer, fi os.FileInfo, err error)
}

// FileTransfer is a handle a transfer reads from or writes to.
type FileTransfer interface {
	io.Reader
	io.Writer
	io.Seeker
	io.Closer
}

// FileTransferError is implemented by a file handle (from OpenFile, Create
// or GetHandle), or by one that a handle wraps and returns from
// Unwrap() afero.File or Unwrap() FileTransfer, that wants to know when its
// transfer failed: ABOR, a broken or stalled data connection, or an I/O
// error. TransferError is always called before Close, on the handle the
// engine holds, and only for failed transfers.
// A client that drops the data connection in the middle of an upload
// without ABOR looks like a complete upload: FTP cannot tell the two apart.
type FileTransferError interface {
	TransferError(err error)
}

// FileTransferDirect is implemented by a handle that wraps a file without
// changing its bytes: it acts only on Seek, TransferError or Close (an
// upload written to a temporary file and renamed into place by Close, for
// one). The engine then copies to and from DirectFile itself, so that
// sendfile and splice still apply, and still calls the handle's own
// Seek, TransferError and Close. A handle that must see the bytes (to
// count them against a quota, say) must not implement it; one that must
// only count them may implement FileTransferSplice.
type FileTransferDirect interface {
	DirectFile() afero.File
}

// FileTransferSplice is implemented by an upload handle that must count
// the bytes it receives (against a quota, say) but need not see them.
// When SpliceFrom reports true and the upload's source is the plain TCP
// data connection (no TLS, MODE Z, TYPE A or transfer hook in between),
// the engine copies each chunk with io.Copy(handle, r), r an
// *io.LimitedReader over the *net.TCPConn bounding the chunk, so that
// ReadFrom can bound the chunk further and hand the socket to its file's
// own ReadFrom, which splices on Linux; Result.ZeroCopy is then true.
// ReadFrom must read no more than r allows and keep r.N in step with what
// it read, as io.LimitedReader's Read does. Otherwise the engine copies
// through its buffer and calls Write, as for any handle.
type FileTransferSplice interface {
	io.ReaderFrom
	// SpliceFrom reports whether ReadFrom from a TCP socket moves the
	// bytes without user space (false: use Write).
	SpliceFrom() bool
}
