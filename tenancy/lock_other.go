//go:build !unix

package tenancy

import "os"

// openNoFollow is 0 where the flag does not exist.
const openNoFollow = 0

// tryLockFile has no lock to take here: every temporary upload file a
// usage walk finds is taken for an orphan, which is right for a single
// instance at start; a recount at reload may then fail a running upload
// (451), never lose a completed one.
func tryLockFile(*os.File) bool { return true }
