package tenancy

import (
	"fmt"
	"strings"
)

// ConfigError is one problem in a configuration file.
type ConfigError struct {
	File string // the file's path
	Line int    // 1-based line, or 0 when the problem has no line
	Key  string // the dotted key ("users[0].password"), or ""
	Msg  string // what is wrong and what is expected
}

// Error returns "FILE:LINE: KEY: MSG".
func (e *ConfigError) Error() string {
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

// ConfigErrors is every problem found in a configuration, so that one run
// of check-config shows them all.
type ConfigErrors []*ConfigError

// Error returns the problems one per line.
func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// errorSink collects the problems of one file, finding each key's line.
type errorSink struct {
	file  string
	lines keyLines
	errs  *ConfigErrors
}

// add records a problem with key (a dotted path as keyLines knows it).
func (s *errorSink) add(key, format string, args ...any) {
	*s.errs = append(*s.errs, &ConfigError{File: s.file, Line: s.lines.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}
