package engine

import (
	"net"
	"syscall"
)

// spareReuse says whether sessions keep their last passive listener for
// the next PASV or EPSV (passive_spare.go).
const spareReuse = true

// spareIsIdle reports whether no connection waits in ln's accept queue. It
// takes one waiting connection off the queue (and closes it) to find out;
// the caller then closes ln, which resets any others. The socket is
// non-blocking (Go's listeners are), so the accept never waits.
func spareIsIdle(ln *net.TCPListener) bool {
	rc, err := ln.SyscallConn()
	if err != nil {
		return false
	}
	idle := false
	err = rc.Control(func(fd uintptr) {
		nfd, _, aerr := syscall.Accept4(int(fd), syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK)
		switch {
		case aerr == nil:
			_ = syscall.Close(nfd)
		case aerr == syscall.EAGAIN:
			idle = true
		}
	})
	return err == nil && idle
}
