//go:build unix

package engine

import (
	"os"
	"syscall"
)

// fileIdentity returns the device and inode of a file on a Unix
// filesystem.
func fileIdentity(fi os.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), true //nolint:unconvert // the field types differ between platforms
}
