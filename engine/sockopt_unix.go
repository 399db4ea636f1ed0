//go:build unix

package engine

import (
	"net"
	"syscall"
)

// reuseAddr sets SO_REUSEADDR, so that active data connections of many
// sessions can all leave from port 20.
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	}); err != nil {
		return err
	}
	return serr
}

// setOOBInline keeps TCP urgent data in the normal byte stream. Clients
// such as Python's ftplib send ABOR's last byte as urgent data; without
// this the line would lose its LF and run into the next command.
func setOOBInline(conn net.Conn) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_OOBINLINE, 1)
	})
}
