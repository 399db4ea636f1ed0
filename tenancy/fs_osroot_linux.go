//go:build linux

package tenancy

import (
	"os"
	"syscall"
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
