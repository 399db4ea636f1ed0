//go:build unix

package engine

import "syscall"

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
