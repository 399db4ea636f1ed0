//go:build !unix

package engine

import (
	"net"
	"syscall"
)

// reuseAddr does nothing where SO_REUSEADDR means something else.
func reuseAddr(_, _ string, _ syscall.RawConn) error { return nil }

// setOOBInline is not needed where urgent data is not split off.
func setOOBInline(net.Conn) {}
