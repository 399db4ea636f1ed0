package engine

import (
	"strings"
	"unicode/utf8"
)

// Telnet bytes that can appear on a control connection (RFC 854): clients
// send IAC IP IAC DM before ABOR, and a few negotiate options.
const (
	telnetIAC  = 0xff
	telnetWILL = 0xfb
	telnetDONT = 0xfe
	// telnetSE is the lowest Telnet command byte (SE, 240); 241-254 are
	// the other commands. A byte below it after IAC is no command.
	telnetSE = 0xf0
)

// maxVerbLength bounds a verb; the longest real one, XSHA256, has seven
// letters.
const maxVerbLength = 16

// parseCommandLine splits a raw command line, line ending included or not,
// into its upper-case verb and its argument. Errors are *ReplyError values
// with the reply to send: 500 for a line that is no command, 501 for one
// that is unusable (NUL or control bytes, invalid UTF-8).
func parseCommandLine(raw []byte) (verb, arg string, err error) {
	raw = stripTelnet(trimLineEnding(raw))
	if !utf8.Valid(raw) {
		return "", "", &ReplyError{Code: 501, Message: "Command line is not valid UTF-8."}
	}
	for _, c := range raw {
		if c == 0 {
			return "", "", &ReplyError{Code: 501, Message: "NUL bytes are not allowed in commands."}
		}
		if c < 0x20 || c == 0x7f {
			return "", "", &ReplyError{Code: 501, Message: "Control characters are not allowed in commands."}
		}
	}
	line := string(raw)
	verb, arg, _ = strings.Cut(line, " ")
	if verb == "" {
		if strings.TrimSpace(line) == "" {
			return "", "", &ReplyError{Code: 500, Message: "Empty command line."}
		}
		return "", "", &ReplyError{Code: 500, Message: "Syntax error: the line must start with a command."}
	}
	if !validVerb(verb) {
		return "", "", &ReplyError{Code: 500, Message: "Syntax error, command unrecognized."}
	}
	return strings.ToUpper(verb), arg, nil
}

// validVerb reports whether v looks like an FTP verb: a letter, then
// letters and digits.
func validVerb(v string) bool {
	if len(v) > maxVerbLength {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i] | 0x20 // lower case for letters
		isLetter := c >= 'a' && c <= 'z'
		if !isLetter && (i == 0 || v[i] < '0' || v[i] > '9') {
			return false
		}
	}
	return true
}

// trimLineEnding removes a trailing LF and then a trailing CR.
func trimLineEnding(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// stripTelnet removes Telnet commands in place: IAC followed by a command
// byte, or by WILL/WONT/DO/DONT and an option byte. IAC IAC stands for a
// 0xff byte, which no valid UTF-8 line contains, so it is kept and later
// rejected. An IAC followed by a byte that is no Telnet command (below SE)
// is dropped and the byte kept as data: a client's Synch before ABOR is
// IAC IP IAC DM with DM sent as TCP urgent data, and a balancer that does
// not forward urgent data (HAProxy) passes on IAC IP IAC ABOR, which must
// still read as ABOR.
func stripTelnet(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] != telnetIAC {
		i++
	}
	if i == len(b) {
		return b
	}
	out := b[:i]
	for i < len(b) {
		c := b[i]
		if c != telnetIAC {
			out = append(out, c)
			i++
			continue
		}
		switch {
		case i+1 >= len(b):
			i++
		case b[i+1] == telnetIAC:
			out = append(out, telnetIAC)
			i += 2
		case b[i+1] >= telnetWILL && b[i+1] <= telnetDONT:
			i += 3
		case b[i+1] >= telnetSE:
			i += 2
		default:
			i++ // a lone IAC: the byte after it is data
		}
	}
	return out
}
