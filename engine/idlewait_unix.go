//go:build unix

package engine

import (
	"net"
	"syscall"
)

// parkable reports whether an idle session on conn (the socket below any
// TLS) can be parked: whether it has a file descriptor to wait on.
func parkable(conn net.Conn) bool {
	_, ok := conn.(syscall.Conn)
	return ok
}

// idleRawConn returns the socket a parked session waits on, or nil.
func idleRawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// socketReadable is a parked session's RawConn.Read callback: it reports
// true (done) once the socket has a byte, an end or an error to read,
// leaving the byte there (MSG_PEEK), and false while a read would block,
// so that RawConn.Read waits for the poller. Peeking, not trusting the
// poller's last edge, is what makes it right when bytes came before the
// wait began.
func socketReadable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		if err == syscall.EINTR {
			continue
		}
		return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
	}
}
