package policy

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ftpgate/ftpgate/policy/abi"
)

// Action is what a decision does with a command.
type Action int

// Actions.
const (
	Allow Action = iota
	Deny
	Rewrite
)

// String returns "allow", "deny" or "rewrite".
func (a Action) String() string {
	switch a {
	case Deny:
		return "deny"
	case Rewrite:
		return "rewrite"
	}
	return "allow"
}

// MarshalText makes an Action print as its name in JSON.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Decision is a policy's ruling on one command, validated by the host.
type Decision struct {
	Action Action `json:"action"`
	// Code and Message are the reply of a Deny.
	Code    int    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Path is a Rewrite's new primary path, clean and inside the tenant.
	Path string `json:"path,omitempty"`
	// MaxBytes caps an upload when HasMax is set.
	MaxBytes int64 `json:"max_bytes,omitempty"`
	HasMax   bool  `json:"has_max,omitempty"`
	// Annotations are the key=value pairs the policy attached.
	Annotations []string `json:"annotations,omitempty"`
	// Called reports whether the module ran; false when no policy is
	// installed, the verb is not subscribed or the breaker is open.
	Called bool `json:"called"`
	// Err is the failure that made this the OnError decision, or nil.
	Err error `json:"-"`
}

// Error text of the on_error decision.
const (
	onErrorCode    = 451
	onErrorMessage = "Requested action aborted: local error in processing."
	defaultDenyMsg = "Command refused by policy."
)

// OnError says what a failing policy decides.
type OnError int

// OnError values.
const (
	// OnErrorDeny refuses the command with 451 (the default: fail closed).
	OnErrorDeny OnError = iota
	// OnErrorAllow lets the command run, for tenants that value
	// availability over enforcement.
	OnErrorAllow
)

// ParseOnError parses "deny" or "allow".
func ParseOnError(s string) (OnError, error) {
	switch s {
	case "", "deny":
		return OnErrorDeny, nil
	case "allow":
		return OnErrorAllow, nil
	}
	return OnErrorDeny, fmt.Errorf("on_error %q: want deny or allow", s)
}

// String returns "deny" or "allow".
func (o OnError) String() string {
	if o == OnErrorAllow {
		return "allow"
	}
	return "deny"
}

func (o OnError) decision(err error) Decision {
	if o == OnErrorAllow {
		return Decision{Action: Allow, Err: err}
	}
	return Decision{Action: Deny, Code: onErrorCode, Message: onErrorMessage, Err: err}
}

// errMalformed wraps every way a response can break the rules.
var errMalformed = errors.New("malformed response")

// decide validates a response for the request it answers.
func decide(resp []byte, req *abi.Request) (Decision, error) {
	if resp == nil {
		return Decision{Action: Allow, Called: true}, nil
	}
	var r abi.Response
	if err := r.Parse(resp); err != nil {
		return Decision{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	d := Decision{Called: true, Annotations: r.Annotations}
	for i, a := range d.Annotations {
		d.Annotations[i] = cleanText(a, abi.MaxAnnotationLen)
	}
	if r.HasMaxBytes {
		d.HasMax = true
		d.MaxBytes = int64(min(r.MaxBytes, math.MaxInt64))
	}
	switch r.Action {
	case abi.ActionAllow:
		d.Action = Allow
	case abi.ActionDeny:
		d.Action = Deny
		d.Code = int(r.Code)
		if d.Code < 400 || d.Code > 599 {
			d.Code = 550
		}
		d.Message = cleanText(r.Message, abi.MaxMessageLen)
		if d.Message == "" {
			d.Message = defaultDenyMsg
		}
		d.HasMax, d.MaxBytes = false, 0
	case abi.ActionRewrite:
		if !r.HasNewPath {
			return Decision{}, fmt.Errorf("%w: rewrite without a new path", errMalformed)
		}
		if req.Path == "" {
			return Decision{}, fmt.Errorf("%w: rewrite of %s, which has no path", errMalformed, req.Verb)
		}
		p, err := CleanRewrite(r.NewPath)
		if err != nil {
			return Decision{}, fmt.Errorf("%w: %v", errMalformed, err)
		}
		d.Action, d.Path = Rewrite, p
	}
	return d, nil
}

// cleanText makes guest text safe for one FTP reply line or a log field:
// invalid UTF-8 and control characters (CR and LF among them) are dropped,
// runs of spaces kept, and the result cut to max bytes on a rune boundary.
func cleanText(s string, max int) string {
	if len(s) <= max && plainASCII(s) {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	for _, c := range s {
		if c == utf8.RuneError || unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			continue
		}
		if b.Len()+utf8.RuneLen(c) > max {
			break
		}
		b.WriteRune(c)
	}
	return strings.TrimSpace(b.String())
}

// CleanRewrite checks and cleans a path a policy rewrote to: it must be
// absolute, free of NUL and control characters, and must not climb above
// the tenant's root on the way ("/a/../../b" is refused rather than
// clamped, since it shows the policy means to leave the tenant).
func CleanRewrite(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("rewritten path %q is not absolute", p)
	}
	if !utf8.ValidString(p) || strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("rewritten path %q has control characters or invalid UTF-8", p)
	}
	var parts []string
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return "", fmt.Errorf("rewritten path %q climbs above the tenant's root", p)
			}
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, seg)
		}
	}
	return "/" + strings.Join(parts, "/"), nil
}

// plainASCII reports whether s is printable ASCII only, the common case
// that needs no cleaning.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Describe renders d, a ruling on verb by m, as an operator reads it
// (`ftpgate policy check`): "deny CODE MESSAGE", "rewrite PATH" or
// "allow", noting when m was not called because it does not subscribe to
// verb, then the upload cap and the annotations.
func (d Decision) Describe(m *Module, verb string) string {
	var s string
	switch d.Action {
	case Deny:
		s = fmt.Sprintf("deny %d %s", d.Code, d.Message)
	case Rewrite:
		s = "rewrite " + d.Path
	default:
		s = "allow"
		if !d.Called && d.Err == nil && m != nil && !m.Subscribed(verb) {
			s += " (not subscribed to " + verb + "; the module is not called)"
		}
	}
	if d.HasMax {
		s += fmt.Sprintf(" (uploads capped at %d bytes)", d.MaxBytes)
	}
	for _, a := range d.Annotations {
		s += " [" + a + "]"
	}
	return s
}
