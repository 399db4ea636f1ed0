package engine

import (
	"net"
	"os"
	"syscall"
	"unsafe"
)

// quickRetrSupported says whether small downloads may hold their 150
// (quickretr.go): the readiness check and sendfile below are Linux's.
const quickRetrSupported = true

// acceptReady reports whether a connection waits in ln's accept queue,
// so that an Accept would not wait: ppoll with a zero timeout, which
// takes nothing off the queue.
func acceptReady(ln *net.TCPListener) bool {
	rc, err := ln.SyscallConn()
	if err != nil {
		return false
	}
	ready := false
	err = rc.Control(func(fd uintptr) {
		const pollIn = 0x1
		pfd := struct {
			fd      int32
			events  int16
			revents int16
		}{fd: int32(fd), events: pollIn}
		var ts syscall.Timespec // zero: do not wait
		n, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1,
			uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		ready = e == 0 && n == 1 && pfd.revents&pollIn != 0
	})
	return err == nil && ready
}

// sendfileNow is sendSmall's copy: sendfile from f's position on the
// non-blocking socket until the file ends (done) or the socket would
// block. It never waits.
func sendfileNow(tc *net.TCPConn, f *os.File) (n int64, done bool, err error) {
	crc, err := tc.SyscallConn()
	if err != nil {
		return 0, false, err
	}
	frc, err := f.SyscallConn()
	if err != nil {
		return 0, false, err
	}
	var serr error
	cerr := frc.Control(func(src uintptr) {
		werr := crc.Write(func(dst uintptr) bool {
			for {
				m, e := syscall.Sendfile(int(dst), int(src), nil, quickRetrMax)
				if m > 0 {
					n += int64(m)
				}
				switch {
				case e == syscall.EINTR:
					continue
				case e == syscall.EAGAIN:
				case e != nil:
					serr = os.NewSyscallError("sendfile", e)
				case m == 0:
					done = true
				default:
					continue
				}
				return true // never wait here
			}
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr == nil {
		serr = cerr
	}
	return n, done && serr == nil, serr
}
