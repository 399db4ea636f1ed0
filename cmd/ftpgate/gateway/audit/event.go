package audit

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is one audit record: a login, a logout, a transfer or a command
// that changes the tenant's storage. Its JSON names are the audit log's
// format; fields that do not apply are left out.
type Event struct {
	// Time is when the event ended (the final reply was written).
	Time Time `json:"time"`
	// ID is unique to this event across restarts and instances (a random
	// prefix per process, then a counter), so that a receiver that is
	// sent an event twice can drop the copy.
	ID string `json:"id"`
	// Event is "login", "logout", "transfer" or "command".
	Event string `json:"event"`
	// Status is "ok" when the final reply was a success (2xx), "failed"
	// otherwise (refusals included).
	Status string `json:"status"`
	// Tenant and User are the tenant and the account the login resolved
	// to; Login is the name given with USER, as typed.
	Tenant string `json:"tenant,omitempty"`
	User   string `json:"user,omitempty"`
	Login  string `json:"login,omitempty"`
	// Remote is the client's address (the one the PROXY header named,
	// behind a balancer); Balancer is the balancer's own address when the
	// connection came through one.
	Remote   string `json:"remote"`
	Balancer string `json:"balancer,omitempty"`
	// Session is the engine's session id.
	Session uint32 `json:"session"`
	// Verb is the operation: the verb, with SITE's subcommand ("SITE
	// CHMOD"), MDTM with a time as MFMT, XMKD/XRMD as MKD/RMD, RNFR+RNTO
	// (and a refused RNFR) as RENAME; PASS or USER for a login.
	Verb string `json:"verb,omitempty"`
	// Path is the path inside the tenant the command acted on (for a
	// rename or SITE SYMLINK its source or target); To is a rename's new
	// path or a symbolic link's name. Without the tenant's storage layout
	// (a session of another driver) they are the session's paths.
	Path string `json:"path,omitempty"`
	To   string `json:"to,omitempty"`
	// Direction is "upload" or "download" for a transfer; Bytes the data
	// bytes it moved.
	Direction string `json:"direction,omitempty"`
	Bytes     int64  `json:"bytes"`
	// DurationMS is how long the command took, from its line to its final
	// reply; for a logout, how long the login lasted.
	DurationMS int64 `json:"duration_ms"`
	// Code is the final reply code (0 for a logout).
	Code int `json:"code,omitempty"`
	// Decision and Rule are what the tenant's policy ruled ("allow",
	// "deny", "rewrite") and the rule it named, when it ruled on the
	// command.
	Decision string `json:"decision,omitempty"`
	Rule     string `json:"rule,omitempty"`
	// Method is "password" or "certificate", for a login.
	Method string `json:"method,omitempty"`

	// xferlog is set for a transfer that opened its data connection (got
	// as far as 150): the ones xferlog reports.
	xferlog bool
}

// Time is an event's time. It is written in UTC as RFC 3339 with
// microseconds, a fixed width ("2026-12-05T20:45:42.123456Z") that log
// tools read (fail2ban's %f takes at most six digits).
type Time time.Time

// timeLayout is Time's format.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// MarshalText writes t in timeLayout, in UTC.
func (t Time) MarshalText() ([]byte, error) { return t.appendText(nil), nil }

func (t Time) appendText(b []byte) []byte { return appendRFC3339Micro(b, time.Time(t)) }

// maxField bounds each text field an event carries from a client (a
// path, a login name): the engine bounds a command line to 8 KiB already;
// this keeps one event, and so the queue's bytes, small whatever the
// source. A cut field ends in "...".
const maxField = 1024

// clip cuts s to maxField bytes on a rune boundary.
func clip(s string) string {
	if len(s) <= maxField {
		return s
	}
	cut := maxField - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// AppendJSON appends e as one line of JSON and a newline, the bytes
// encoding/json's Marshal would write for e with every C1 control
// character escaped too (see appendJSONString), written field by field
// without reflection: the line is built on every audited command.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.appendText(b) // digits, '-', ':', '.', 'T', 'Z': nothing to escape
	b = append(b, `","id":`...)
	b = appendJSONString(b, e.ID)
	b = append(b, `,"event":`...)
	b = appendJSONString(b, e.Event)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, e.Status)
	b = appendJSONField(b, "tenant", e.Tenant)
	b = appendJSONField(b, "user", e.User)
	b = appendJSONField(b, "login", e.Login)
	b = append(b, `,"remote":`...)
	b = appendJSONString(b, e.Remote)
	b = appendJSONField(b, "balancer", e.Balancer)
	b = append(b, `,"session":`...)
	b = strconv.AppendUint(b, uint64(e.Session), 10)
	b = appendJSONField(b, "verb", e.Verb)
	b = appendJSONField(b, "path", e.Path)
	b = appendJSONField(b, "to", e.To)
	b = appendJSONField(b, "direction", e.Direction)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, e.DurationMS, 10)
	if e.Code != 0 {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(e.Code), 10)
	}
	b = appendJSONField(b, "decision", e.Decision)
	b = appendJSONField(b, "rule", e.Rule)
	b = appendJSONField(b, "method", e.Method)
	return append(b, '}', '\n')
}

// appendJSONField appends `,"k":v` for a non-empty v (omitempty); k
// needs no escaping.
func appendJSONField(b []byte, k, v string) []byte {
	if v == "" {
		return b
	}
	b = append(append(append(b, ',', '"'), k...), '"', ':')
	return appendJSONString(b, v)
}

// appendJSONString appends s as a JSON string escaped as encoding/json
// escapes it (HTML-safe: '<', '>' and '&' as \u escapes; the C0 controls,
// CR and LF included; U+2028 and U+2029; invalid UTF-8 as \ufffd) and
// also the C1 controls (U+0080 to U+009F; U+0085, NEL, is a line break
// to some readers), so that a client's text cannot break the line.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r >= 0x80 && r <= 0x9f:
			b = append(append(b, s[start:i]...), '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += n
			continue
		}
		i += n
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// AppendText appends e as one line of key=value pairs (the field names of
// the JSON), values quoted with Go's escapes when they hold a space, a
// quote, '=', a control, format or other non-printing character
// (needsQuote) or invalid UTF-8, so that a client's text cannot break the
// line, forge a pair, or change how the line reads on a screen.
func (e *Event) AppendText(b []byte) []byte {
	b = append(b, "time="...)
	b = e.Time.appendText(b)
	for _, kv := range []struct{ k, v string }{
		{"id", e.ID}, {"event", e.Event}, {"status", e.Status}, {"tenant", e.Tenant}, {"user", e.User},
		{"login", e.Login}, {"remote", e.Remote}, {"balancer", e.Balancer},
	} {
		b = appendPair(b, kv.k, kv.v)
	}
	b = append(b, " session="...)
	b = strconv.AppendUint(b, uint64(e.Session), 10)
	for _, kv := range []struct{ k, v string }{{"verb", e.Verb}, {"path", e.Path}, {"to", e.To}, {"direction", e.Direction}} {
		b = appendPair(b, kv.k, kv.v)
	}
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, " duration_ms="...)
	b = strconv.AppendInt(b, e.DurationMS, 10)
	if e.Code != 0 {
		b = append(b, " code="...)
		b = strconv.AppendInt(b, int64(e.Code), 10)
	}
	for _, kv := range []struct{ k, v string }{{"decision", e.Decision}, {"rule", e.Rule}, {"method", e.Method}} {
		b = appendPair(b, kv.k, kv.v)
	}
	return append(b, '\n')
}

// appendPair appends " k=v", v quoted when needed; an empty v is left out.
func appendPair(b []byte, k, v string) []byte {
	if v == "" {
		return b
	}
	b = append(append(append(b, ' '), k...), '=')
	if needsQuote(v) {
		return strconv.AppendQuote(b, v)
	}
	return append(b, v...)
}

// needsQuote reports whether v must be quoted in a text line: besides
// the space, '"', '=' and '\\', every character strconv does not print as
// itself (controls, the line separators, the bidirectional overrides
// and isolates, zero-width and other format characters, spaces other
// than U+0020), which AppendQuote then escapes. Unquoted, a right-to-left
// override would make a viewer show the rest of the line reversed, and
// an invisible or unusual space would hide where a value ends.
func needsQuote(v string) bool {
	if !utf8.ValidString(v) {
		return true
	}
	return strings.ContainsFunc(v, func(r rune) bool {
		return r == ' ' || r == '"' || r == '=' || r == '\\' || r == utf8.RuneError || !strconv.IsPrint(r)
	})
}
