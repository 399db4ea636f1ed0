//go:build unix

package main

import (
	"os"
	"syscall"
)

// GetAvailableSpace answers AVBL with the bytes an unprivileged process
// may still write on the filesystem holding dir. dir is opened through the
// jail, so a link cannot make it report on a filesystem outside the root.
func (r rootFs) GetAvailableSpace(dir string) (int64, error) {
	f, err := r.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	osf, ok := f.(*os.File)
	if !ok {
		return 0, syscall.ENOTSUP
	}
	conn, err := osf.SyscallConn()
	if err != nil {
		return 0, err
	}
	var st syscall.Statfs_t
	var serr error
	if err := conn.Control(func(fd uintptr) { serr = syscall.Fstatfs(int(fd), &st) }); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
