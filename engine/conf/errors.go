package conf

import (
	"fmt"
	"strings"
)

// Error is one problem in a configuration file, as every layer reports
// it: the file, the line, the dotted key and what is expected.
type Error struct {
	File string // the file's path
	Line int    // 1-based line, or 0 when the problem has no line
	Key  string // the dotted key ("users[0].password"), or ""
	Msg  string // what is wrong and what is expected
}

// Error returns "FILE:LINE: KEY: MSG".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration, so that one run of
// check-config shows them all.
type Errors []*Error

// Error returns the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sink collects the problems of one file, finding each key's line in
// Lines. The zero Lines finds no line.
type Sink struct {
	File  string
	Lines KeyLines
	Errs  *Errors
	// Bad are the keys whose values could not be decoded (conftoml); Add
	// drops further problems of a bad key, of the keys below it and of
	// the tables above it, which would only follow from the first one.
	Bad map[string]bool
}

// Add records a problem with key (a dotted path as KeyLines knows it),
// unless Failed(key).
func (s *Sink) Add(key, format string, args ...any) {
	if s.Failed(key) {
		return
	}
	*s.Errs = append(*s.Errs, &Error{File: s.File, Line: s.Lines.Line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Failed reports whether key, a key below it or a table above it is Bad.
func (s *Sink) Failed(key string) bool {
	for k := range s.Bad {
		if k == key || under(k, key) || under(key, k) {
			return true
		}
	}
	return false
}

// under reports whether key lies below table ("a.b" and "a[0].b" lie
// below "a").
func under(key, table string) bool {
	return table == "" || len(key) > len(table) && key[:len(table)] == table && (key[len(table)] == '.' || key[len(table)] == '[')
}
