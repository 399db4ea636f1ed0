// Package abi holds the wire format of ftpgate's WebAssembly policy ABI
// v1 (minor version 1, "1.1"): the TLV request the host writes into a
// guest's memory and the TLV response the guest hands back. It has no dependencies, so both the host
// (package policy) and guests written with the Go kit (package kit, built
// for wasip1) use the same code. policy/ABI.md is the specification.
package abi

import (
	"encoding/binary"
	"errors"
	"strings"
)

// Version is the ABI's major version: the one the module's marker export
// names (ftpp_abi_v1).
const Version = 1

// Minor is the minor version of Version this package speaks. A minor
// version only adds request tags, response tags and optional exports, so a
// module written for 1.0 runs unchanged on a 1.1 host (policy/ABI.md §2
// lists what 1.1 changed). Hosts from 1.1 on send it in every request
// (TagMinor); a request without it comes from a 1.0 host.
const Minor = 1

// Names of the guest's exports and the host's imports.
const (
	ExportMarker        = "ftpp_abi_v1"        // () -> (); never called
	ExportAlloc         = "ftpp_alloc"         // (size i32) -> ptr i32
	ExportCheck         = "ftpp_check"         // (ptr i32, len i32) -> i64
	ExportInit          = "ftpp_init"          // (ptr i32, len i32) -> i32; optional
	ExportSubscriptions = "ftpp_subscriptions" // () -> i64; optional
	ExportMemory        = "memory"
	ExportInitialize    = "_initialize" // WASI reactor start; optional
	HostModule          = "ftpp_host"
	HostLog             = "log" // (level i32, ptr i32, len i32) -> ()
)

// Request tags. Tags 1 to 15 are those of 1.0; 16 to 21 came with 1.1.
const (
	TagVerb      = 1  // string, upper case, as the client sent it
	TagArg       = 2  // string, as received (absent for PASS)
	TagPath      = 3  // string, the primary path as the session sees it ("/" is the user's home)
	TagOtherPath = 4  // string, repeatable: the command's other session paths
	TagUser      = 5  // string: logged in, the resolved user; before login, the name as typed (1.0 compatibility)
	TagTenant    = 6  // string
	TagRemote    = 7  // string, ip:port
	TagSession   = 8  // u64
	TagNowMillis = 10 // u64, unix milliseconds
	TagFlags     = 13 // u64 bitset
	TagHost      = 15 // string, HOST or SNI name

	TagMinor           = 16 // u64, the host's minor version (1.1 on); always sent
	TagLogin           = 17 // string, the login name as typed in USER (bob@acme)
	TagOp              = 18 // string, the canonical operation (OpOf); always sent
	TagHome            = 19 // string, the user's home inside the tenant's storage
	TagTenantPath      = 20 // string, the primary path inside the tenant's storage
	TagOtherTenantPath = 21 // string, repeatable: TagOtherPath's paths inside the tenant's storage, same order
)

// Request flag bits (TagFlags).
const (
	FlagTLSControl = 1 << 0
	FlagTLSData    = 1 << 1
	FlagLoggedIn   = 1 << 2
)

// Response tags.
const (
	TagAction     = 1 // u8
	TagCode       = 2 // u16
	TagMessage    = 3 // string
	TagNewPath    = 4 // string
	TagMaxBytes   = 5 // u64
	TagAnnotation = 6 // string key=value, repeatable
)

// Actions (TagAction).
const (
	ActionAllow   = 0
	ActionDeny    = 1
	ActionRewrite = 2
)

// MaxFieldLen is the largest value one TLV field can carry.
const MaxFieldLen = 0xFFFF

// Errors from the parsers.
var (
	ErrTruncated   = errors.New("abi: truncated field")
	ErrFieldLength = errors.New("abi: field has the wrong length")
	ErrTooLong     = errors.New("abi: field longer than 65535 bytes")
)

// Request is one command as a policy sees it.
type Request struct {
	Verb       string
	Arg        string
	Path       string   // the primary session path: the target for RNTO and COMB
	OtherPaths []string // RNTO: the source; COMB: the parts; SITE SYMLINK: the link; others in the engine's order
	User       string   // logged in: the resolved user; before login: the name as typed
	Tenant     string
	Remote     string
	Host       string
	Session    uint64
	NowMillis  uint64
	Flags      uint64

	// Fields of 1.1.

	// Minor is the host's minor version as parsed (0: a 1.0 host). The
	// encoder ignores it and always sends the package's Minor.
	Minor uint64
	// Login is the name as typed in USER, suffix and all.
	Login string
	// Op is the canonical operation (OpOf); empty means OpOf(Verb, Arg)
	// to the encoder.
	Op string
	// Home is the user's home inside the tenant's storage; empty when
	// unknown (before login, or a host that cannot tell).
	Home string
	// TenantPath and OtherTenantPaths are Path and OtherPaths as paths
	// inside the tenant's storage, links resolved: all of them, in the
	// same order, or none (unknown).
	TenantPath       string
	OtherTenantPaths []string
}

// AppendField appends one TLV field. Values longer than MaxFieldLen are
// cut; callers that care check the length first (AppendRequest does).
func AppendField(b []byte, tag byte, v string) []byte {
	if len(v) > MaxFieldLen {
		v = v[:MaxFieldLen]
	}
	b = append(b, tag, byte(len(v)), byte(len(v)>>8))
	return append(b, v...)
}

// AppendUint appends an 8-byte little-endian integer field.
func AppendUint(b []byte, tag byte, v uint64) []byte {
	b = append(b, tag, 8, 0)
	return binary.LittleEndian.AppendUint64(b, v)
}

// AppendRequest appends r's encoding to b. Empty strings and zero integers
// other than the verb, session and clock are left out. It fails only when a
// string is longer than a field can carry.
func AppendRequest(b []byte, r *Request) ([]byte, error) {
	op := r.Op
	if op == "" {
		op = OpOf(r.Verb, r.Arg)
	}
	for _, s := range [...]string{r.Arg, r.Path, r.User, r.Tenant, r.Remote, r.Host, r.Verb, r.Login, op, r.Home, r.TenantPath} {
		if len(s) > MaxFieldLen {
			return b, ErrTooLong
		}
	}
	b = AppendField(b, TagVerb, r.Verb)
	if r.Arg != "" {
		b = AppendField(b, TagArg, r.Arg)
	}
	if r.Path != "" {
		b = AppendField(b, TagPath, r.Path)
	}
	for _, p := range r.OtherPaths {
		if len(p) > MaxFieldLen {
			return b, ErrTooLong
		}
		b = AppendField(b, TagOtherPath, p)
	}
	if r.User != "" {
		b = AppendField(b, TagUser, r.User)
	}
	if r.Tenant != "" {
		b = AppendField(b, TagTenant, r.Tenant)
	}
	if r.Remote != "" {
		b = AppendField(b, TagRemote, r.Remote)
	}
	if r.Host != "" {
		b = AppendField(b, TagHost, r.Host)
	}
	b = AppendUint(b, TagSession, r.Session)
	b = AppendUint(b, TagNowMillis, r.NowMillis)
	if r.Flags != 0 {
		b = AppendUint(b, TagFlags, r.Flags)
	}
	b = AppendUint(b, TagMinor, Minor)
	if r.Login != "" {
		b = AppendField(b, TagLogin, r.Login)
	}
	b = AppendField(b, TagOp, op)
	if r.Home != "" {
		b = AppendField(b, TagHome, r.Home)
	}
	if r.TenantPath != "" {
		b = AppendField(b, TagTenantPath, r.TenantPath)
	}
	for _, p := range r.OtherTenantPaths {
		if len(p) > MaxFieldLen {
			return b, ErrTooLong
		}
		b = AppendField(b, TagOtherTenantPath, p)
	}
	return b, nil
}

// Fields calls fn for each TLV field of b in order and stops at the first
// error fn returns. A field whose header or value runs past the end of b is
// ErrTruncated.
func Fields(b []byte, fn func(tag byte, v []byte) error) error {
	for len(b) > 0 {
		if len(b) < 3 {
			return ErrTruncated
		}
		tag, n := b[0], int(b[1])|int(b[2])<<8
		if len(b)-3 < n {
			return ErrTruncated
		}
		if err := fn(tag, b[3:3+n]); err != nil {
			return err
		}
		b = b[3+n:]
	}
	return nil
}

// Uint reads an 8-byte little-endian integer field.
func Uint(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, ErrFieldLength
	}
	return binary.LittleEndian.Uint64(v), nil
}

// ParseRequest decodes a request; unknown tags are skipped, as the ABI
// requires of guests. Strings are copied.
func ParseRequest(b []byte) (*Request, error) {
	r := &Request{}
	err := Fields(b, func(tag byte, v []byte) error {
		var err error
		switch tag {
		case TagVerb:
			r.Verb = string(v)
		case TagArg:
			r.Arg = string(v)
		case TagPath:
			r.Path = string(v)
		case TagOtherPath:
			r.OtherPaths = append(r.OtherPaths, string(v))
		case TagUser:
			r.User = string(v)
		case TagTenant:
			r.Tenant = string(v)
		case TagRemote:
			r.Remote = string(v)
		case TagHost:
			r.Host = string(v)
		case TagSession:
			r.Session, err = Uint(v)
		case TagNowMillis:
			r.NowMillis, err = Uint(v)
		case TagFlags:
			r.Flags, err = Uint(v)
		case TagMinor:
			r.Minor, err = Uint(v)
		case TagLogin:
			r.Login = string(v)
		case TagOp:
			r.Op = string(v)
		case TagHome:
			r.Home = string(v)
		case TagTenantPath:
			r.TenantPath = string(v)
		case TagOtherTenantPath:
			r.OtherTenantPaths = append(r.OtherTenantPaths, string(v))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// OpOf names the operation a command line performs, as policies should
// judge it: aliases folded (XMKD is MKD, XRMD RMD, XCWD CWD, XCUP CDUP,
// XPWD PWD), SITE named with its subcommand as the server parses it
// ("SITE RMDIR": the argument's first word after trimming spaces, in
// upper case), and MDTM carrying a time ("MDTM 20260102030405 f", which
// sets the time) named MFMT. Any other verb is its own operation. verb is
// upper case, as the engine passes it. It allocates only for SITE.
func OpOf(verb, arg string) string {
	switch verb {
	case "XMKD":
		return "MKD"
	case "XRMD":
		return "RMD"
	case "XCWD":
		return "CWD"
	case "XCUP":
		return "CDUP"
	case "XPWD":
		return "PWD"
	case "MDTM":
		if first, rest, ok := strings.Cut(arg, " "); ok && rest != "" && isTimeval(first) {
			return "MFMT"
		}
	case "SITE":
		if sub, _, _ := strings.Cut(strings.TrimSpace(arg), " "); sub != "" {
			return "SITE " + strings.ToUpper(sub)
		}
	}
	return verb
}

// OpVerb is the verb part of an operation: "SITE" for "SITE RMDIR", the
// operation itself otherwise.
func OpVerb(op string) string {
	v, _, _ := strings.Cut(op, " ")
	return v
}

// isTimeval reports whether v is RFC 3659's time-val, YYYYMMDDHHMMSS with
// an optional fraction of 1 to 9 digits: the test the server applies to
// MDTM's first word.
func isTimeval(v string) bool {
	whole, frac, hasFrac := strings.Cut(v, ".")
	return len(whole) == 14 && digits(whole) && (!hasFrac || (frac != "" && len(frac) <= 9 && digits(frac)))
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
