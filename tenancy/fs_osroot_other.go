//go:build !linux

package tenancy

import (
	"os"
	"path"
	"strings"

	"github.com/spf13/afero"
)

// renameAt renames within one directory handle when both names share it.
// Without renameat(2) in the standard library, a move between two
// directories is done by name from their nearest common directory
// (re-walked without links): os.Root still keeps it inside the root, but
// a link swapped in below that directory in the meantime is followed.
func (r *rootFs) renameAt(odir *os.Root, obase string, ndir *os.Root, nbase string, oldname, newname string) error {
	if odir == ndir {
		return odir.Rename(obase, nbase)
	}
	o, n := path.Clean("/"+oldname), path.Clean("/"+newname)
	common := path.Dir(o)
	for common != "/" && !hasPathPrefix(n, common) {
		common = path.Dir(common)
	}
	dir, done, err := r.dirNoFollow(common)
	if err != nil {
		return err
	}
	defer done()
	trim := func(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, common), "/") }
	return dir.Rename(trim(o), trim(n))
}

// replaceFile leaves the replacing of a file to Rename here (no
// renameat2 in the standard library).
func (r *rootFs) replaceFile(string, string, afero.File, os.FileInfo) (bool, error) {
	return false, nil
}

// dirNoFollow opens the directory name without following links.
func (r *rootFs) dirNoFollow(name string) (*os.Root, func(), error) {
	if name == "/" {
		return r.root, func() {}, nil
	}
	dir, base, done, err := r.parent(name)
	if err != nil {
		return nil, nil, err
	}
	d, err := r.openDirNoFollow(dir, base)
	done()
	if err != nil {
		return nil, nil, err
	}
	return d, func() { _ = d.Close() }, nil
}
