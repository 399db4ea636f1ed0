package audit

import (
	"net"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// AppendXferlog appends the transfer e as one line of the classic xferlog
// format that xferstats and log watchers read: fourteen fields separated
// by single spaces,
//
//	current-time transfer-time remote-host file-size filename transfer-type
//	special-action-flag direction access-mode username service-name
//	authentication-method authenticated-user-id completion-status
//
// where current-time is local time as "DDD MMM dd hh:mm:ss YYYY" (five
// of the line's space-separated words), transfer-time whole seconds,
// file-size the bytes moved, transfer-type "b" (the engine's transfers
// are counted in bytes, whatever TYPE said), no special action ("_"),
// direction "o" (download) or "i" (upload), access-mode "r" (a real
// account), username the resolved user and its tenant as USER@TENANT,
// service "ftp", authentication-method "0" (none) with user id "*", and
// completion "c" (complete) or "i" (incomplete). Spaces, control
// characters and invalid UTF-8 in the file and user names become "_", as
// other servers write them, so that neither can add a field or a line.
// loc is the time zone of current-time (time.Local for the format's
// "local time").
func AppendXferlog(b []byte, e *Event, loc *time.Location) []byte {
	b = appendANSIC(b, time.Time(e.Time), loc)
	b = append(b, ' ')
	b = strconv.AppendInt(b, (e.DurationMS+500)/1000, 10)
	b = append(b, ' ')
	b = appendField(b, hostOf(e.Remote))
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, ' ')
	b = appendField(b, e.Path)
	b = append(b, " b _ "...)
	if e.Direction == "upload" {
		b = append(b, 'i')
	} else {
		b = append(b, 'o')
	}
	b = append(b, " r "...)
	if e.Tenant == "" {
		b = appendField(b, e.User)
	} else { // USER@TENANT, without building the string
		b = appendClean(append(appendClean(b, e.User), '@'), e.Tenant)
	}
	b = append(b, " ftp 0 * "...)
	if e.Status == "ok" {
		b = append(b, 'c')
	} else {
		b = append(b, 'i')
	}
	return append(b, '\n')
}

// hostOf is the address without its port.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// appendField appends s with every space, control character, other
// non-graphic character and byte of invalid UTF-8 replaced by '_'; an
// empty s is "_", so that the field count never changes.
func appendField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '_')
	}
	return appendClean(b, s)
}

// appendClean is appendField without the empty case. Printable ASCII
// other than the space (0x21 to 0x7e: graphic, not space) is copied in
// runs; the other ASCII bytes are controls or the space, so '_'; the
// rest is decoded and judged rune by rune.
func appendClean(b []byte, s string) []byte {
	start := 0 // s[start:i] is kept and not yet appended
	for i := 0; i < len(s); {
		c := s[i]
		if c > ' ' && c < 0x7f {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		n := 1
		if c < utf8.RuneSelf {
			b = append(b, '_')
		} else {
			var r rune
			r, n = utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && n <= 1) || unicode.IsSpace(r) || !unicode.IsGraphic(r) {
				b = append(b, '_')
			} else {
				b = append(b, s[i:i+n]...)
			}
		}
		i += n
		start = i
	}
	return append(b, s[start:]...)
}
