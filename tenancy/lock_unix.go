//go:build unix

package tenancy

import (
	"os"
	"syscall"
)

// openNoFollow makes an open refuse a link in the last element.
const openNoFollow = syscall.O_NOFOLLOW

// openNonblock is added to every open of a file in a tenant's storage.
// On a regular file it changes nothing the kernel does, but it tells Go's
// os package that the descriptor is non-blocking already: without it, Go
// sets O_NONBLOCK, fails to add the file to epoll, and clears the flag
// again, four fcntl calls per open that a small file's transfer paid
// (issue 17). On a FIFO or device someone put into the storage outside
// FTP, an open that would wait for a peer fails or returns at once
// instead of holding an OS thread.
const openNonblock = syscall.O_NONBLOCK

// unlinked reports whether the file fi describes (an fstat) has no name
// left in any directory.
func unlinked(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// hasOtherLinks reports whether the file fi describes (an lstat) has a
// name besides the one looked at.
func hasOtherLinks(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 1
}

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
