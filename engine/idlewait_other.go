//go:build !unix

package engine

import (
	"net"
	"syscall"
)

// parkable reports false: without MSG_PEEK on a raw socket, idle sessions
// keep waiting in the command loop's read.
func parkable(net.Conn) bool { return false }

// idleRawConn is never called where parkable is false.
func idleRawConn(net.Conn) syscall.RawConn { return nil }

// socketReadable is never called where parkable is false.
func socketReadable(uintptr) bool { return true }
