//go:build !linux

package engine

import "net"

// spareReuse is false here: spareIsIdle cannot look into the accept
// queue, so every PASV or EPSV opens a new listener.
const spareReuse = false

func spareIsIdle(*net.TCPListener) bool { return false }
