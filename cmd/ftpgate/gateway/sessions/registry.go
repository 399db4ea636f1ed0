// Package sessions lets the admin API list and end live FTP sessions and
// list and lift address bans.
//
// A Registry is where sessions are found: Local is the one of a single
// server (engine.Server.Sessions, with byte totals kept by a result
// hook); a registry shared by several instances can stand beside it
// behind the same interface. Routes mounts the admin endpoints on the
// gateway's admin server, whose scopes do the authentication:
//
//	GET    /v1/sessions                        operator: every session
//	GET    /v1/tenants/{tenant}/sessions       operator, or the tenant's token
//	DELETE /v1/sessions/{id}                   operator
//	DELETE /v1/tenants/{tenant}/sessions/{id}  operator, or the tenant's token
//	GET    /v1/bans                            operator
//	DELETE /v1/bans/{address-or-prefix}        operator
//
// A session of another tenant is answered exactly as one that does not
// exist, so that a tenant's token learns nothing of other tenants'
// sessions.
package sessions

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds of what the API returns and takes.
const (
	// DefaultPage is how many sessions a list returns without ?limit=.
	DefaultPage = 100
	// MaxPage bounds ?limit=: larger values are served as MaxPage. With
	// maxField, a reply holds at most about MaxPage * 3 KiB.
	MaxPage = 1000
	// maxField bounds every text field of a Session (login name, command,
	// path): a client chooses them, up to the engine's 8 KiB command line.
	maxField = 512
	// MaxReason bounds the reason given to the client, in bytes, after it
	// is cleaned to one printable line.
	MaxReason = 200
	// maxIDLen bounds a session id in a path or a cursor.
	maxIDLen = 64
)

// DefaultReason is the text of the 421 when the request gives none.
const DefaultReason = "Session ended by the administrator."

// ErrNotFound is End's error for a session that does not exist, has
// ended, or belongs to another tenant than the one asked for.
var ErrNotFound = errors.New("no such session")

// ErrBadCursor is List's error for a Query.After that is no session id.
var ErrBadCursor = errors.New("after: not a session id")

// Session is what the admin API shows of one live session.
type Session struct {
	// ID names the session for End.
	ID string `json:"id"`
	// Tenant is the session's tenant: the one it logged in to, or before
	// login the one its HOST or SNI name points at; "" for none yet.
	Tenant string `json:"tenant,omitempty"`
	// User is the account the session logged in as, as the tenant's
	// files spell it; "" before login.
	User string `json:"user,omitempty"`
	// Login is the name given with USER, as typed (bounded).
	Login string `json:"login,omitempty"`
	// LoggedIn reports whether the session passed the login.
	LoggedIn bool `json:"logged_in"`
	// Address is the client's address (the one the PROXY header named,
	// behind a balancer).
	Address string `json:"address"`
	// Since is when the connection was accepted.
	Since time.Time `json:"since"`
	// Command is the verb of the last command received.
	Command string `json:"command,omitempty"`
	// Transfer is the transfer running now, or nil.
	Transfer *Transfer `json:"transfer,omitempty"`
	// BytesIn and BytesOut are the data bytes received from and sent to
	// the client over the session's life, the running transfer's
	// included (listings count as sent).
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	// TLS reports a control connection over TLS; TLSData data
	// connections over TLS (PROT P).
	TLS     bool `json:"tls"`
	TLSData bool `json:"tls_data"`
}

// Transfer is a running transfer.
type Transfer struct {
	// Verb is the command, such as "STOR" or "RETR".
	Verb string `json:"verb"`
	// Path is the file's path inside the tenant's storage when it is
	// known, else as the session sees it.
	Path string `json:"path,omitempty"`
	// Direction is "upload" or "download".
	Direction string `json:"direction"`
	// Since is when the transfer started.
	Since time.Time `json:"since"`
	// Bytes is what it moved so far.
	Bytes int64 `json:"bytes"`
}

// Query selects a page of sessions.
type Query struct {
	// Tenant keeps only that tenant's sessions; "" keeps every session.
	Tenant string
	// After keeps only sessions whose ID comes after it (the Next of the
	// previous page); "" starts at the first.
	After string
	// Limit bounds the page (1 to MaxPage).
	Limit int
}

// Registry finds and ends live sessions. Its methods are safe for
// concurrent use.
type Registry interface {
	// List returns the sessions q selects, in ID order, and the ID to
	// pass as Query.After for the next page, "" when none follow.
	List(ctx context.Context, q Query) (page []Session, next string, err error)
	// End ends session id, which must belong to tenant unless tenant is
	// "" (the operator's view), sending reason with a 421 as its last
	// reply. It returns ErrNotFound, and does nothing, for an id that
	// names no live session of tenant, whatever the reason.
	End(ctx context.Context, tenant, id, reason string) error
}

// Coverage says which instances of a cluster a list holds the sessions
// of.
type Coverage struct {
	// Partial reports that some instances did not answer in time (or
	// could not be asked): their sessions are missing from the page, and
	// a next page may skip them.
	Partial bool
	// Missing are the ids of the instances known not to have answered.
	Missing []string
}

// ClusterLister is a Registry that lists the sessions of several
// instances and says which answered; the list routes use it when the
// Registry has it.
type ClusterLister interface {
	ListCluster(ctx context.Context, q Query) (page []Session, next string, cov Coverage, err error)
}

// ErrUnavailable is End's error when the instance holding the session
// did not answer in time.
var ErrUnavailable = errors.New("the instance holding the session did not answer")

// ValidID reports whether id has the syntax of a session id (see
// validID); registries that nest ids check theirs with it.
func ValidID(id string) bool { return validID(id) }

// CleanReason makes reason fit to follow "421 " on the control
// connection: one line of printable characters (CR, LF, other controls,
// invalid UTF-8 and unusual spaces each become a space, runs of spaces
// one), at most MaxReason bytes cut at a character boundary; DefaultReason
// when nothing is left. Nothing a caller sends can end the line early or
// forge another reply.
func CleanReason(reason string) string {
	var b strings.Builder
	space := true // no leading space
	for _, r := range reason {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = ' '
		}
		if r == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > MaxReason {
			break
		}
		b.WriteRune(r)
	}
	if out := strings.TrimRight(b.String(), " "); out != "" {
		return out
	}
	return DefaultReason
}

// validID is the syntax of a session id in a path or cursor: 1 to
// maxIDLen of [A-Za-z0-9._:-], which any registry's ids keep to. It says
// nothing of whether the session exists.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}
