//go:build !unix

package tenancy

import "os"

// openNoFollow is 0 where the flag does not exist.
const openNoFollow = 0

// openNonblocking is dir.OpenFile here: the open calls O_NONBLOCK spares
// are Linux's, and so are the file leases it would have to wait out.
func openNonblocking(dir *os.Root, name string, flag int, perm os.FileMode) (*os.File, error) {
	return dir.OpenFile(name, flag, perm)
}

// tryLockFile has no lock to take here: every temporary upload file a
// usage walk finds is taken for an orphan, which is right for a single
// instance at start; a recount at reload may then fail a running upload
// (451), never lose a completed one.
func tryLockFile(*os.File) bool { return true }

// unlinked cannot tell here: a file a walk removed under a running
// upload fails that upload at its rename, nothing acknowledged is lost.
func unlinked(os.FileInfo) bool { return false }

// hasOtherLinks cannot tell here: a removed name is taken for the file's
// last.
func hasOtherLinks(os.FileInfo) bool { return false }
