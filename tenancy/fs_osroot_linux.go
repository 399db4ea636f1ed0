//go:build linux

package tenancy

import (
	"errors"
	"os"
	"path"
	"syscall"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"
)

// renameAt renames obase in odir to nbase in ndir with renameat(2) on the
// two directory handles, so neither directory can be swapped for a link
// after parent walked to it. The same directory needs no second handle.
func (r *rootFs) renameAt(odir *os.Root, obase string, ndir *os.Root, nbase string, oldname, newname string) error {
	if odir == ndir {
		return odir.Rename(obase, nbase)
	}
	of, err := odir.Open(".")
	if err != nil {
		return err
	}
	defer of.Close()
	nf, err := ndir.Open(".")
	if err != nil {
		return err
	}
	defer nf.Close()
	oc, err := of.SyscallConn()
	if err != nil {
		return err
	}
	nc, err := nf.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	cerr := oc.Control(func(ofd uintptr) {
		if err := nc.Control(func(nfd uintptr) {
			serr = ignoringEINTR(func() error {
				return syscall.Renameat(int(ofd), obase, int(nfd), nbase)
			})
		}); err != nil {
			serr = err
		}
	})
	if cerr != nil {
		return cerr
	}
	if serr != nil {
		return &os.LinkError{Op: "renameat", Old: oldname, New: newname, Err: serr}
	}
	return nil
}

// ignoringEINTR retries f while it is interrupted by a signal.
func ignoringEINTR(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

// replaceFile puts the temporary upload file temp in place of target, a
// regular file in the same directory that replaced describes (the
// caller's lstat), and reports whether it did the work (false: the caller
// renames instead). It swaps the two names (renameat2 RENAME_EXCHANGE) and
// removes the old file from the temporary name: what a rename over
// target gives, without ext4's cost for a rename that replaces a file.
// That rename forces the new file's data out to the disk first (ext4's
// auto_da_alloc), under the directory's lock: with many uploads replacing
// files in one directory each such rename cost 300-450 us of CPU against
// 50-70 for exchange and unlink, and every upload's bytes went to the disk
// even when the file was replaced again seconds later (bench/README.md,
// issue 17).
//
// What the forced write-out bought, a power cut leaving the old file or
// the new one rather than an empty one, is kept where there is something
// to keep: when the replaced file has been settled for replaceSettled
// (its bytes are on the disk by then), the new data's write-out is started
// first (sync_file_range, asynchronous), so the swap reaches the journal
// after the data. A file replaced again within that time is at risk from a
// power cut whatever the server does (its own bytes may not be on the disk
// yet), and its replacement is not forced out.
//
// A crash between the swap and the removal leaves the old bytes under the
// temporary name, unlocked: the next usage walk removes them as an orphan.
// A directory put at target from outside since the caller looked is
// swapped back and the upload fails, as a rename over it would have.
func (r *rootFs) replaceFile(temp, target string, data afero.File, replaced os.FileInfo) (bool, error) {
	if path.Dir(cleanAbs(temp)) != path.Dir(cleanAbs(target)) {
		return false, nil
	}
	dir, tbase, done, err := r.parent(temp)
	if err != nil {
		return false, nil
	}
	defer done()
	nbase := path.Base(cleanAbs(target))
	if of, ok := data.(*os.File); ok && settled(replaced, time.Now()) {
		if sc, err := of.SyscallConn(); err == nil {
			_ = sc.Control(func(fd uintptr) {
				// Asynchronous: it queues the pages for writing and
				// does not wait for the disk.
				_ = ignoringEINTR(func() error {
					return unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
				})
			})
		}
	}
	var df *os.File
	if dir == r.root {
		var put func()
		if df, put, err = r.dotDir(); err != nil {
			return false, nil
		}
		defer put()
	} else {
		if df, err = openNonblocking(dir, ".", os.O_RDONLY, 0); err != nil {
			return false, nil
		}
		defer df.Close()
	}
	sc, err := df.SyscallConn()
	if err != nil {
		return false, nil
	}
	swapped := false
	var serr error
	if err := sc.Control(func(fd uintptr) {
		d := int(fd)
		exchange := func() error {
			return ignoringEINTR(func() error { return unix.Renameat2(d, tbase, d, nbase, unix.RENAME_EXCHANGE) })
		}
		if exchange() != nil {
			return // not supported here, or target changed: rename instead
		}
		swapped = true
		uerr := ignoringEINTR(func() error { return unix.Unlinkat(d, tbase, 0) })
		if errors.Is(uerr, unix.EISDIR) {
			// A directory was swapped out of target: put it back.
			serr = &os.LinkError{Op: "renameat2", Old: temp, New: target, Err: syscall.EISDIR}
			if exchange() != nil {
				serr = &os.LinkError{Op: "renameat2", Old: temp, New: target, Err: syscall.EIO}
			}
		}
	}); err != nil {
		return swapped, err
	}
	return swapped, serr
}

// replaceSettled is how long a file must have gone unchanged (its ctime,
// which no client can set) for its bytes to be taken as on the disk: the
// kernel writes dirty data back once it is 30 s old, checking every 5 s
// (vm.dirty_expire_centisecs and dirty_writeback_centisecs by default),
// so a minute leaves room for a busy disk.
const replaceSettled = time.Minute

// settled reports whether the file fi describes last changed
// replaceSettled or more before now; true when fi does not tell.
func settled(fi os.FileInfo, now time.Time) bool {
	if fi == nil {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	return now.Sub(time.Unix(st.Ctim.Unix())) >= replaceSettled
}
