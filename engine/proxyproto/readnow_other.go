//go:build !unix

package proxyproto

// readNow reads nothing here: every header read waits under the header
// deadline.
func (r *headerReader) readNow([]byte) int { return 0 }

// peekNow sees nothing here: every header is read in a goroutine of its
// own, under the header deadline.
func peekNow(any, []byte) int { return 0 }
