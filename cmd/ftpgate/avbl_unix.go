//go:build unix

package main

import (
	"path/filepath"
	"syscall"
)

// GetAvailableSpace answers AVBL with the bytes an unprivileged process
// may still write on the filesystem holding dir.
func (r rootFs) GetAvailableSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Join(r.root, filepath.FromSlash(dir)), &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
