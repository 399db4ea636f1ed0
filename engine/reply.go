package engine

import (
	"errors"
	"strconv"
	"strings"
)

// formatReply renders a reply: one line, or a multi-line reply (RFC 959,
// section 4.2) when text holds newlines.
func formatReply(code int, text string) []byte {
	if !strings.Contains(text, "\n") {
		b := make([]byte, 0, len(text)+6)
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, ' ')
		b = appendClean(b, text)
		return append(b, '\r', '\n')
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 1 {
		return formatReply(code, lines[0])
	}
	return formatMultiline(code, lines[0], lines[1:len(lines)-1], lines[len(lines)-1])
}

// formatMultiline renders "code-first", the lines each after a space, and
// "code last". Indenting every middle line keeps a line that starts with
// digits from being read as the end of the reply.
func formatMultiline(code int, first string, lines []string, last string) []byte {
	n := len(first) + len(last) + 12
	for _, l := range lines {
		n += len(l) + 3
	}
	b := make([]byte, 0, n)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, '-')
	b = appendClean(b, first)
	b = append(b, '\r', '\n')
	for _, l := range lines {
		if !strings.HasPrefix(l, " ") {
			b = append(b, ' ')
		}
		b = appendClean(b, l)
		b = append(b, '\r', '\n')
	}
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = appendClean(b, last)
	return append(b, '\r', '\n')
}

// appendClean appends text without CR, LF and other control characters,
// which could end a reply early or forge another one.
func appendClean(b []byte, text string) []byte {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c < 0x20 || c == 0x7f {
			continue
		}
		b = append(b, c)
	}
	return b
}

// sanitizeMessage returns text as appendClean would send it.
func sanitizeMessage(text string) string {
	return string(appendClean(nil, text))
}

// replyFor returns the reply carried by a *ReplyError inside err, or code
// and text. A ReplyError with a code outside 400-599 keeps its message but
// takes code, so a hook cannot turn a refusal into success.
func replyFor(err error, code int, text string) (int, string) {
	var re *ReplyError
	if errors.As(err, &re) {
		msg := sanitizeMessage(re.Message)
		if msg == "" {
			msg = text
		}
		if re.Code >= 400 && re.Code <= 599 {
			return re.Code, msg
		}
		return code, msg
	}
	return code, text
}

// quotePath renders a path for a 257 reply: in double quotes, with quotes
// inside doubled (RFC 959, appendix II).
func quotePath(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}
