//go:build unix

package main

import (
	"os"
	"syscall"

	"github.com/ftpgate/ftpgate/tenancy"
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
	return tenancy.FreeSpace(osf)
}
