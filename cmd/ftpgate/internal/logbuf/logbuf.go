// Package logbuf is the log destination of ftpgate's tests: a buffer a
// test reads while a server, or a child process's output copier, writes
// to it. It lives in one place so that the tests of cmd/ftpgate and of the
// packages below it do not each carry a copy.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent writers and readers. It
// grows without bound: a test's logs are small and end with the test.
// The zero value is empty and ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
