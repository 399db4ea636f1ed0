package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ReplyError is an error that carries the FTP reply a client should see.
// Drivers and hooks return it to choose the code and message of a refusal;
// any other error gets the engine's default reply for the situation.
type ReplyError struct {
	Code    int    // a 4xx or 5xx reply code
	Message string // one line of text; CR, LF and control characters are dropped
}

// Error returns the reply as it would be sent.
func (e *ReplyError) Error() string {
	return fmt.Sprintf("%d %s", e.Code, e.Message)
}

// Refuse returns a *ReplyError with the given code and message.
func Refuse(code int, message string) error {
	return &ReplyError{Code: code, Message: message}
}

// Errors a TransferHook or a FileTransferError can see.
var (
	// ErrTransferAborted means the client sent ABOR, or the session ended,
	// while the transfer ran.
	ErrTransferAborted = errors.New("transfer aborted")
	// ErrDataConnStalled means the data connection made no progress for
	// Settings.ConnectionTimeout.
	ErrDataConnStalled = errors.New("data connection stalled")
)

// AdmissionHook decides whether a new connection may proceed. It runs in the
// connection's own goroutine, before the banner and before any TLS
// handshake, so a slow hook delays only its own client. cc carries the
// addresses and ID; the session has no user yet.
//
// A nil error admits the connection. Any other error refuses it: the client
// gets 421 (or the 4xx/5xx code of a *ReplyError) and the connection is
// closed. When done is not nil it is called exactly once, when the
// connection ends, whether or not it was admitted.
type AdmissionHook func(ctx context.Context, cc ClientContext) (done func(), err error)

// Command is one command line as the command hooks see it.
type Command struct {
	// Session is the session the command arrived on.
	Session ClientContext
	// Verb is the command name in upper case, e.g. "STOR".
	Verb string
	// Arg is the argument exactly as received, without the verb and the
	// space after it.
	Arg string
	// Paths holds the absolute paths the command acts on, resolved against
	// the working directory: one for most path commands, the source and the
	// target for RNTO, none for commands without a path. A hook may replace
	// them; the engine cleans them again and keeps them below "/".
	Paths []string

	params string    // the part of Arg that is not a path (LIST options, MFMT time)
	start  time.Time // when the line was read, with ResultHooks (results.go)
}

// CommandHook runs before every command, before and after login, once the
// line is parsed and its paths resolved. A nil error lets the command run; a
// *ReplyError refuses it with that reply, and any other error refuses it
// with 550. A 421 reply also closes the session, as RFC 959 defines 421.
// Commands that the engine rejects as malformed (500, 501) never
// reach the hooks.
type CommandHook func(ctx context.Context, cmd *Command) error

// Direction says which way a transfer's bytes flow.
type Direction int

// Transfer directions.
const (
	// Download sends bytes to the client: RETR and the listings.
	Download Direction = iota
	// Upload receives bytes from the client: STOR, STOU and APPE.
	Upload
)

// String returns "download" or "upload".
func (d Direction) String() string {
	if d == Upload {
		return "upload"
	}
	return "download"
}

// Transfer describes one data transfer to the transfer hooks.
type Transfer struct {
	Session   ClientContext
	Verb      string    // RETR, STOR, STOU, APPE, LIST, NLST or MLSD
	Path      string    // absolute path of the file or listed directory
	Direction Direction // which way the bytes flow
	Offset    int64     // the REST offset the transfer started at
	TLS       bool      // whether the data connection uses TLS
}

// CopyFunc moves a transfer's bytes from src to dst and returns how many it
// moved. For a download src is the file (or listing) and dst the data
// connection; for an upload the other way round. The engine's own CopyFunc
// keeps Go's sendfile and splice paths when src and dst allow them, also
// when src is an *io.LimitedReader, so a hook that meters bytes should call
// next with io.LimitReader(src, n) rather than wrap src or dst.
type CopyFunc func(ctx context.Context, dst io.Writer, src io.Reader) (int64, error)

// TransferHook wraps the copy of every transfer. It returns the CopyFunc to
// use in place of next; that function may call next any number of times,
// and learns the bytes moved and the outcome from what next returns
// (ErrTransferAborted and ErrDataConnStalled among the errors). Hooks are
// applied in order, so the first hook of Server.TransferHooks is outermost.
type TransferHook func(t *Transfer, next CopyFunc) CopyFunc

// PassivePort describes, to the passive hooks, the passive port a session
// is about to take.
type PassivePort struct {
	Session ClientContext
	Verb    string // PASV or EPSV
	// Ports is how many ports passive listeners are taken from: the size
	// of Settings.PassiveTransferPortRange, or of the part of the
	// system's ephemeral range the Server uses when there is none. A
	// hook can bound a share of it.
	Ports int
}

// PassiveHook runs before a logged-in session takes a passive port for
// PASV or EPSV, so that a plugin can bound the ports one address, user or
// tenant holds. A nil error lets the session take the port; release, when
// not nil, is then called exactly once when the port is given back. Any
// error refuses the port: the client gets 425 (or the code and text of a
// *ReplyError; 421 also closes the session), and the release functions of
// the hooks that ran before are called at once.
//
// A port is held while its listener is open and no data connection has
// consumed it: from the hook until a data connection arrives, the port
// expires unclaimed (Settings.ConnectionTimeout), another PASV, EPSV,
// PORT or EPRT replaces it, ABOR, REIN or a failed transfer command drops
// it, or the session ends. A listener the session keeps for its next PASV
// or EPSV (passive_spare.go) stays held until it is closed; the PASV or
// EPSV that reuses it takes no new port and runs no hook.
type PassiveHook func(ctx context.Context, p *PassivePort) (release func(), err error)
