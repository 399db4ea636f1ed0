//go:build unix

package tenancy

import (
	"os"
	"syscall"
)

// FreeSpace returns the bytes an unprivileged process may still write on
// the filesystem holding the open file or directory f (fstatfs): AVBL's
// answer where no quota bounds it. Asking through an open handle keeps a
// link from making it report on a filesystem outside a jail.
func FreeSpace(f *os.File) (int64, error) {
	conn, err := f.SyscallConn()
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
