//go:build !unix

package engine

import "os"

// fileIdentity has no device and inode to offer here.
func fileIdentity(os.FileInfo) (dev, ino uint64, ok bool) { return 0, 0, false }
