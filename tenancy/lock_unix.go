//go:build unix

package tenancy

import (
	"os"
	"syscall"
)

// openNoFollow makes an open refuse a link in the last element.
const openNoFollow = syscall.O_NOFOLLOW

// tryLockFile takes an exclusive flock(2) on f without waiting and
// reports whether it got it. The lock marks a temporary upload file as
// in use: it lasts as long as the descriptor, so the kernel drops it when
// the process ends however it ends (kill -9 included), and a usage walk
// in any process on the host (or on NFS clients with working locks) can
// tell an orphan from a running upload's file.
func tryLockFile(f *os.File) bool {
	sc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var lerr error
	if err := sc.Control(func(fd uintptr) {
		for {
			lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if lerr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return false
	}
	return lerr == nil
}
