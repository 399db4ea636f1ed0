// Package kit is the Go side of ftpgate's policy ABI v1 for policy
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
type Request struct {
	Verb       string   // upper case, e.g. "STOR"
	Arg        string   // the argument as received ("" for PASS)
	Path       string   // the primary path; RNTO and COMB: the target
	OtherPaths []string // RNTO: the source; COMB: the parts
	User       string
	Tenant     string
	Remote     string // client ip:port
	Host       string // HOST or SNI name
	Session    uint64
	Now        time.Time // the host's clock; guests have no real clock
	Flags      uint64
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

// Paths returns the primary path and the other paths, for rules that look
// at every path a command touches. It does not allocate; the slice is
// valid during the handler call only.
func (r *Request) Paths() []string {
	all := allPaths[:0]
	if r.Path != "" {
		all = append(all, r.Path)
	}
	return append(all, r.OtherPaths...)
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
	handler       Handler = func(*Request) Decision { return Allow() }
	initFn        func(config []byte) error
	subscriptions = []byte("*")
	request       Request
	otherPaths    [8]string
	allPaths      [9]string
	response      []byte
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
	*r = Request{OtherPaths: otherPaths[:0]}
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
		case abi.TagSession, abi.TagNowMillis, abi.TagFlags:
			if n != 8 {
				continue
			}
			u := binary.LittleEndian.Uint64(v)
			switch tag {
			case abi.TagSession:
				r.Session = u
			case abi.TagNowMillis:
				r.Now = time.UnixMilli(int64(u)).UTC()
			default:
				r.Flags = u
			}
		}
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
