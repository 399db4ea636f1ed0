// Package kit is the Go side of ftpgate's policy ABI v1 (1.1) for policy
// authors. A policy registers a handler in init and builds to a WASI
// reactor:
//
//	func init() {
//		kit.Subscribe("DELE")
//		kit.Handle(func(r *kit.Request) kit.Decision {
//			return kit.Deny(550, "deletion is disabled")
//		})
//	}
//
//	func main() {}
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o policy.wasm .
//
// The kit exports ftpp_abi_v1, ftpp_alloc, ftpp_check, ftpp_init and
// ftpp_subscriptions (exports_wasip1.go) and hides the TLV encoding. The
// handler must be quick and should not allocate on its hot path: the host
// gives each call 50 ms, and memory never shrinks.
//
// A wasm export has no receiver, so the registered handler, the
// subscriptions and the buffers live in package variables; a guest
// instance is single-threaded, so nothing else can touch them.
package kit

import (
	"encoding/binary"
	"net"
	"strings"
	"time"
	"unsafe"

	"github.com/ftpgate/ftpgate/policy/abi"
)

// Request is one command. Its strings point into the host's request
// buffer and are only valid during the handler call: use strings.Clone to
// keep one.
//
// Paths come in two spaces. Path and OtherPaths are session paths, as
// the client sees them ("/" is the user's home); they are what the
// command acts on and what Rewrite replaces. TenantPath and
// OtherTenantPaths are the same paths inside the tenant's storage, home
// joined and links resolved: judge those, so that a home or a symbolic
// link cannot move a command out of a rule's reach. Reached gives the
// tenant paths when the host knows them and the session paths otherwise.
type Request struct {
	Verb string // upper case, as sent, e.g. "STOR" or "XRMD"
	// Op is the operation, the name to switch on: aliases folded (XRMD
	// is "RMD"), SITE with its subcommand ("SITE RMDIR"), MDTM setting a
	// time is "MFMT". See abi.OpOf.
	Op         string
	Arg        string   // the argument as received ("" for PASS)
	Path       string   // the primary session path; RNTO and COMB: the target
	OtherPaths []string // RNTO: the source; COMB: the parts; SITE SYMLINK: the link
	// TenantPath and OtherTenantPaths are Path and OtherPaths inside the
	// tenant's storage; empty and nil when the host does not know them.
	TenantPath       string
	OtherTenantPaths []string
	// Home is the user's home inside the tenant's storage, once logged
	// in, when the host knows it.
	Home string
	// User is the user the login resolved to ("bob" for a login as
	// bob@acme), empty before login. Login is the name as typed in USER.
	User    string
	Login   string
	Tenant  string
	Remote  string // client ip:port
	Host    string // HOST or SNI name
	Session uint64
	Now     time.Time // the host's clock; guests have no real clock
	Flags   uint64
	// Minor is the host's ABI minor version: 0 for a 1.0 host, which
	// sends no Op, Login, Home or tenant paths (the kit then derives Op
	// from the verb, and User is the name as typed).
	Minor uint64
}

// ClientIP returns the client's IP address without the port.
func (r *Request) ClientIP() string {
	if h, _, err := net.SplitHostPort(r.Remote); err == nil {
		return h
	}
	return r.Remote
}

// TLS reports whether the control connection uses TLS.
func (r *Request) TLS() bool { return r.Flags&abi.FlagTLSControl != 0 }

// LoggedIn reports whether the session has logged in.
func (r *Request) LoggedIn() bool { return r.Flags&abi.FlagLoggedIn != 0 }

// Paths returns the primary session path and the other session paths,
// for rules that look at every path a command touches. It does not
// allocate for up to 9 paths; the slice is valid during the handler call
// only.
func (r *Request) Paths() []string {
	all := allPaths[:0]
	if r.Path != "" {
		all = append(all, r.Path)
	}
	return append(all, r.OtherPaths...)
}

// TenantPathsKnown reports whether the request carries the tenant paths
// of its session paths (always true for a command without paths).
func (r *Request) TenantPathsKnown() bool {
	return r.Path == "" || (r.TenantPath != "" && len(r.OtherTenantPaths) == len(r.OtherPaths))
}

// TenantPaths returns every path the command touches inside the tenant's
// storage, primary first, or nil when the host does not know them. Like
// Paths, it does not allocate for up to 9 paths.
func (r *Request) TenantPaths() []string {
	if r.Path == "" || !r.TenantPathsKnown() {
		return nil
	}
	all := allTenantPaths[:0]
	all = append(all, r.TenantPath)
	return append(all, r.OtherTenantPaths...)
}

// Reached returns the paths a rule on places should judge: the tenant
// paths when the host gives them, else the session paths (a 1.0 host, or
// a server that cannot map them, where the two differ only for users
// whose home is not the tenant's root, or through links).
func (r *Request) Reached() []string {
	if t := r.TenantPaths(); t != nil {
		return t
	}
	return r.Paths()
}

// Target returns the file a command stores bytes or a name into, as a
// session path and a tenant path (empty when unknown): the upload of
// STOR, APPE and STOU (for STOU the directory when it has no argument,
// and the name it asked for otherwise; the server may add a suffix), the
// new name of RNTO, the target of COMB, the link of SITE SYMLINK. Both
// are empty for other operations. Rules on file names (extensions, say)
// judge both, since a link can make them differ.
func (r *Request) Target() (session, tenant string) {
	switch r.Op {
	case "STOR", "APPE", "STOU", "RNTO", "COMB":
		return r.Path, r.TenantPath
	case "SITE SYMLINK":
		if len(r.OtherPaths) > 0 {
			session = r.OtherPaths[0]
		}
		if len(r.OtherTenantPaths) > 0 {
			tenant = r.OtherTenantPaths[0]
		}
		return session, tenant
	}
	return "", ""
}

// Deletes reports whether the command removes a name from the tree: DELE,
// RMD (XRMD), SITE RMDIR, and COMB, which deletes its parts. Replacing a
// file's content (STOR over it, RNTO onto it) is a change, not a delete.
func (r *Request) Deletes() bool {
	switch r.Op {
	case "DELE", "RMD", "SITE RMDIR", "COMB":
		return true
	}
	return false
}

// Changes reports whether the command may change the tree: store, append,
// delete, rename (RNFR included, so a rename is refused before it starts),
// make directories, set times (MFMT, MDTM with a time), COMB, and every
// SITE subcommand but HELP and IDLE (unknown ones included: the server's
// storage may give them any meaning).
func (r *Request) Changes() bool {
	switch r.Op {
	case "STOR", "STOU", "APPE", "DELE", "RNFR", "RNTO", "MKD", "RMD", "MFMT", "COMB":
		return true
	case "SITE HELP", "SITE IDLE":
		return false
	}
	return abi.OpVerb(r.Op) == "SITE"
}

// ChangeVerbs returns the verbs to Subscribe to for a rule on every
// command for which Changes may be true. A 1.1 host delivers aliases to
// a subscription of the canonical verb (XRMD to RMD, MDTM with a time to
// MFMT); the list names them anyway, so that it is complete on a 1.0
// host too.
func ChangeVerbs() []string {
	return []string{"STOR", "STOU", "APPE", "DELE", "RNFR", "RNTO", "MKD", "XMKD", "RMD", "XRMD", "MFMT", "MDTM", "COMB", "SITE"}
}

// DeleteVerbs returns the verbs to Subscribe to for a rule on every
// command for which Deletes may be true (aliases named, as in
// ChangeVerbs).
func DeleteVerbs() []string { return []string{"DELE", "RMD", "XRMD", "COMB", "SITE"} }

// SessionPath turns a path inside the tenant's storage into the session
// path that reaches it, for a Rewrite decided on tenant paths: the path
// with the home cut off. ok is false when the home is unknown or the
// path lies outside it (no session path reaches it).
func (r *Request) SessionPath(tenantPath string) (p string, ok bool) {
	switch {
	case r.Home == "":
		return "", false
	case r.Home == "/":
		return tenantPath, true
	case tenantPath == r.Home:
		return "/", true
	case strings.HasPrefix(tenantPath, r.Home) && tenantPath[len(r.Home)] == '/':
		return tenantPath[len(r.Home):], true
	}
	return "", false
}

// Decision is a handler's answer; make one with Allow, Deny, Rewrite or
// AllowMax.
type Decision struct {
	resp abi.Response
}

// Allow lets the command run unchanged.
func Allow() Decision { return Decision{} }

// Deny refuses the command with code (400-599; otherwise 550) and a
// one-line message.
func Deny(code int, message string) Decision {
	return Decision{abi.Response{Action: abi.ActionDeny, Code: uint16(code), Message: message}}
}

// Rewrite runs the command on path instead of the primary path. path must
// be absolute and stay inside the tenant, or the host counts an error.
func Rewrite(path string) Decision {
	return Decision{abi.Response{Action: abi.ActionRewrite, NewPath: path, HasNewPath: true}}
}

// AllowMax lets an upload run but ends it with 552 past n bytes.
func AllowMax(n int64) Decision {
	return Decision{abi.Response{MaxBytes: uint64(max(n, 0)), HasMaxBytes: true}}
}

// WithMax adds an upload cap to a Rewrite or Allow.
func (d Decision) WithMax(n int64) Decision {
	d.resp.MaxBytes, d.resp.HasMaxBytes = uint64(max(n, 0)), true
	return d
}

// Annotate adds a key=value pair the host logs with the command.
func (d Decision) Annotate(key, value string) Decision {
	d.resp.Annotations = append(d.resp.Annotations, key+"="+value)
	return d
}

// Handler rules on one command.
type Handler func(*Request) Decision

var (
	handler          Handler = func(*Request) Decision { return Allow() }
	initFn           func(config []byte) error
	subscriptions    = []byte("*")
	request          Request
	otherPaths       [8]string
	otherTenantPaths [8]string
	allPaths         [9]string
	allTenantPaths   [9]string
	response         []byte
)

// Handle registers the policy's handler; call it from init.
func Handle(h Handler) { handler = h }

// Subscribe declares the verbs the policy wants; the host never calls it
// for others. Without a call, the policy sees every verb.
func Subscribe(verbs ...string) {
	subscriptions = []byte(strings.ToUpper(strings.Join(verbs, ",")))
}

// Init registers a function that receives the tenant's configuration bytes
// once per instance; a non-nil error fails the instance.
func Init(fn func(config []byte) error) { initFn = fn }

func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// decode fills request from b without allocating, skipping unknown tags.
func decode(b []byte) *Request {
	r := &request
	*r = Request{OtherPaths: otherPaths[:0], OtherTenantPaths: otherTenantPaths[:0]}
	for len(b) >= 3 {
		tag, n := b[0], int(b[1])|int(b[2])<<8
		if len(b)-3 < n {
			break
		}
		v := b[3 : 3+n]
		b = b[3+n:]
		switch tag {
		case abi.TagVerb:
			r.Verb = bytesString(v)
		case abi.TagArg:
			r.Arg = bytesString(v)
		case abi.TagPath:
			r.Path = bytesString(v)
		case abi.TagOtherPath:
			r.OtherPaths = append(r.OtherPaths, bytesString(v))
		case abi.TagUser:
			r.User = bytesString(v)
		case abi.TagTenant:
			r.Tenant = bytesString(v)
		case abi.TagRemote:
			r.Remote = bytesString(v)
		case abi.TagHost:
			r.Host = bytesString(v)
		case abi.TagLogin:
			r.Login = bytesString(v)
		case abi.TagOp:
			r.Op = bytesString(v)
		case abi.TagHome:
			r.Home = bytesString(v)
		case abi.TagTenantPath:
			r.TenantPath = bytesString(v)
		case abi.TagOtherTenantPath:
			r.OtherTenantPaths = append(r.OtherTenantPaths, bytesString(v))
		case abi.TagSession, abi.TagNowMillis, abi.TagFlags, abi.TagMinor:
			if n != 8 {
				continue
			}
			u := binary.LittleEndian.Uint64(v)
			switch tag {
			case abi.TagSession:
				r.Session = u
			case abi.TagNowMillis:
				r.Now = time.UnixMilli(int64(u)).UTC()
			case abi.TagMinor:
				r.Minor = u
			default:
				r.Flags = u
			}
		}
	}
	if r.Op == "" {
		r.Op = abi.OpOf(r.Verb, r.Arg) // a 1.0 host
	}
	if r.Minor > 0 {
		// Tag 5 holds the name as typed until the login succeeds.
		if !r.LoggedIn() {
			r.User = ""
		}
	} else if r.Login == "" {
		r.Login = r.User
	}
	if len(r.OtherTenantPaths) != len(r.OtherPaths) || (r.TenantPath == "") != (r.Path == "") {
		// Half a mapping is no mapping: never pair a tenant path with
		// the wrong session path.
		r.TenantPath, r.OtherTenantPaths = "", r.OtherTenantPaths[:0]
	}
	return r
}

// RunInit passes the tenant's configuration to the function registered
// with Init, if any. The wasm export ftpp_init calls it; tests call it
// directly.
func RunInit(config []byte) error {
	if initFn == nil {
		return nil
	}
	return initFn(config)
}

// Check runs the handler on an encoded request and returns the encoded
// response, nil for a plain allow. The wasm export ftpp_check calls it;
// tests call it directly.
func Check(req []byte) []byte {
	d := handler(decode(req))
	response = abi.AppendResponse(response[:0], &d.resp)
	if len(response) == 0 {
		return nil
	}
	return response
}
