// Package abi holds the wire format of ftpgate's WebAssembly policy ABI v1:
// the TLV request the host writes into a guest's memory and the TLV
// response the guest hands back. It has no dependencies, so both the host
// (package policy) and guests written with the Go kit (package kit, built
// for wasip1) use the same code. policy/ABI.md is the specification.
package abi

import (
	"encoding/binary"
	"errors"
)

// Version is the ABI version this package speaks.
const Version = 1

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

// Request tags.
const (
	TagVerb      = 1  // string, upper case
	TagArg       = 2  // string, as received (absent for PASS)
	TagPath      = 3  // string, the primary absolute path
	TagOtherPath = 4  // string, repeatable: the command's other paths
	TagUser      = 5  // string
	TagTenant    = 6  // string
	TagRemote    = 7  // string, ip:port
	TagSession   = 8  // u64
	TagNowMillis = 10 // u64, unix milliseconds
	TagFlags     = 13 // u64 bitset
	TagHost      = 15 // string, HOST or SNI name
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
	Path       string   // the primary path: the target for RNTO and COMB
	OtherPaths []string // RNTO: the source; COMB: the parts; others in the engine's order
	User       string
	Tenant     string
	Remote     string
	Host       string
	Session    uint64
	NowMillis  uint64
	Flags      uint64
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
	if len(r.Arg) > MaxFieldLen || len(r.Path) > MaxFieldLen || len(r.User) > MaxFieldLen ||
		len(r.Tenant) > MaxFieldLen || len(r.Remote) > MaxFieldLen || len(r.Host) > MaxFieldLen || len(r.Verb) > MaxFieldLen {
		return b, ErrTooLong
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
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}
