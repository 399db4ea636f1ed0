//go:build unix

package proxyproto

import (
	"net"
	"syscall"
)

// readNow reads into b what conn's socket already holds, without waiting:
// one read(2) on the non-blocking socket through RawConn.Read, whose
// callback reports done whatever happens, so that the runtime never parks
// the goroutine and no read deadline is needed. It returns 0 when nothing
// is there yet (EAGAIN), at the end of the stream, on an error, or when
// conn is not a socket; the caller's ordinary read, under the header
// deadline, then waits for the bytes or meets the end or the error itself.
func readNow(conn net.Conn, b []byte) int {
	sc, ok := conn.(syscall.Conn)
	if !ok || len(b) == 0 {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = raw.Read(func(fd uintptr) bool {
		for {
			m, err := syscall.Read(int(fd), b)
			if err == syscall.EINTR {
				continue
			}
			if err == nil && m > 0 {
				n = m
			}
			return true
		}
	})
	return n
}
