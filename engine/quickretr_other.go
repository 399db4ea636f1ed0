//go:build !linux

package engine

import (
	"net"
	"os"
)

// quickRetrSupported is false here: every download writes its 150 first.
const quickRetrSupported = false

func acceptReady(*net.TCPListener) bool { return false }

func sendfileNow(*net.TCPConn, *os.File) (int64, bool, error) { return 0, false, nil }
