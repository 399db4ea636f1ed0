//go:build unix

package proxyproto

import (
	"syscall"
)

// readNow reads into b what the socket already holds, without waiting:
// one read(2) on the non-blocking socket through RawConn.Read, whose
// callback reports done whatever happens, so that the runtime never parks
// the goroutine and no read deadline is needed. It returns 0 when nothing
// is there yet (EAGAIN), at the end of the stream, on an error, or when
// the connection is not a socket; the ordinary read that follows, under
// the header deadline, then waits for the bytes or meets the end or the
// error itself. The count goes through r.now rather than a captured local,
// which would cost an allocation of its own.
func (r *headerReader) readNow(b []byte) int {
	sc, ok := r.conn.(syscall.Conn)
	if !ok || len(b) == 0 {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	r.now = 0
	_ = raw.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.Read(int(fd), b)
			if err == syscall.EINTR {
				continue
			}
			if err == nil && n > 0 {
				r.now = n
			}
			return true
		}
	})
	return r.now
}
