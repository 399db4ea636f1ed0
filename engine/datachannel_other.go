//go:build !unix

package engine

import "syscall"

// reuseAddr does nothing where SO_REUSEADDR means something else.
func reuseAddr(_, _ string, _ syscall.RawConn) error { return nil }
