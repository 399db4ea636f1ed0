//go:build unix

package tenancy

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
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
//
// Every such open goes through openNonblocking, which waits out a file
// lease held elsewhere (see there).
const openNonblock = syscall.O_NONBLOCK

// Bounds of openNonblocking's wait for a lease break.
const (
	// leaseWaitDefault is the wait when the kernel's lease-break-time
	// cannot be read or is 0 (which makes the kernel wait for the
	// holder forever): the kernel's default lease-break-time, 45 s.
	leaseWaitDefault = 45 * time.Second
	// leaseWaitMax caps the wait whatever lease-break-time says, so
	// that a value set very high holds a session's command (a goroutine
	// and the parent directory's handle) 5 minutes at most.
	leaseWaitMax = 5 * time.Minute
	// leaseWaitSlack is added to lease-break-time: the kernel removes a
	// lease whose holder let the time pass only at the next open that
	// breaks it, which is one of ours, up to a pause later.
	leaseWaitSlack = time.Second
	// leaseRetryMax caps the pause between two tries; the first pause
	// is 1 ms and each one doubles it. A holder giving the lease up (a
	// Samba oplock break, an NFS delegation recall: typically well
	// within a second) is noticed at most 50 ms late, and a wait of
	// 45 s costs about a thousand opens.
	leaseRetryMax = 50 * time.Millisecond
)

// leaseBreakTimeFile is where Linux says how long a lease holder has to
// give the lease up once it is told (fs.lease-break-time, in seconds).
const leaseBreakTimeFile = "/proc/sys/fs/lease-break-time"

// openNonblocking opens name in dir with flag|openNonblock, the one way
// tenancy opens a tenant's file or directory.
//
// O_NONBLOCK has one effect on a regular file: when another process holds
// a file lease on it (fcntl F_SETLEASE: Samba with kernel oplocks, the
// kernel NFS server's delegations, where an operator shares the storage
// over SMB or NFS too) and the open conflicts with it (a read lease and
// an open for writing or a truncation; a write lease and any open), the
// kernel starts breaking the lease and fails the open with EWOULDBLOCK
// at once, where a blocking open would wait until the holder gives the
// lease up or lease-break-time passes and the kernel takes it. So an
// EWOULDBLOCK here is retried, non-blocking again, with pauses doubling
// from 1 ms to 50 ms, until the open gets through or lease-break-time
// (read from /proc on the first EWOULDBLOCK; 45 s where it cannot be
// read or is 0; 5 minutes at most) and a second more have passed; then
// the last EWOULDBLOCK is returned. The open never blocks instead: a FIFO
// swapped in between would then hold the OS thread until a peer comes.
// Leases exist on regular files only (F_SETLEASE refuses anything else),
// so an EWOULDBLOCK for a name that an lstat does not show as a regular
// file (a device planted outside whose driver refuses a non-blocking open
// so; a FIFO never does) is returned at once: a planted node cannot hold
// a command for the wait. An open that succeeds or fails otherwise the
// first time costs no call more than before.
func openNonblocking(dir *os.Root, name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := dir.OpenFile(name, flag|openNonblock, perm)
	if err == nil || !errors.Is(err, syscall.EWOULDBLOCK) {
		return f, err
	}
	if fi, lerr := dir.Lstat(name); lerr != nil || !fi.Mode().IsRegular() {
		return nil, err
	}
	deadline := time.Now().Add(leaseBreakWait())
	pause := time.Millisecond
	for time.Now().Before(deadline) {
		// A pause between tries, not a synchronisation: the kernel tells
		// only the lease holder when the lease is gone.
		time.Sleep(pause)
		pause = min(2*pause, leaseRetryMax)
		f, err = dir.OpenFile(name, flag|openNonblock, perm)
		if err == nil || !errors.Is(err, syscall.EWOULDBLOCK) {
			return f, err
		}
	}
	return nil, err
}

// leaseBreakWait is how long openNonblocking keeps trying: the kernel's
// lease-break-time (after which the kernel itself removes the lease) and
// leaseWaitSlack, within the bounds above.
func leaseBreakWait() time.Duration {
	wait := leaseWaitDefault
	if b, err := os.ReadFile(leaseBreakTimeFile); err == nil {
		if s, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && s > 0 {
			wait = min(time.Duration(s)*time.Second, leaseWaitMax)
		}
	}
	return wait + leaseWaitSlack
}

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
