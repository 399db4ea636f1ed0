package tenancy

import (
	"errors"
	"os"
	"path"
	"time"

	"github.com/spf13/afero"
)

// rootFs is an afero.Fs over an os.Root: every name is resolved inside the
// root by the kernel, one component at a time, so neither ".." nor a
// symbolic link (absolute, or relative and climbing out) can reach a file
// outside it, even one planted by another process. Files come back as
// *os.File, which the engine hands to io.Copy so that sendfile and splice
// still apply.
type rootFs struct {
	root *os.Root
}

// rel turns the engine's absolute slash path into the root-relative name
// os.Root wants.
func rel(name string) string {
	n := path.Clean("/" + name)
	if n == "/" {
		return "."
	}
	return n[1:]
}

// Name returns "rootFs".
func (r *rootFs) Name() string { return "rootFs" }

// Create creates or truncates name.
func (r *rootFs) Create(name string) (afero.File, error) {
	f, err := r.root.Create(rel(name))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Mkdir creates a directory.
func (r *rootFs) Mkdir(name string, perm os.FileMode) error {
	return r.root.Mkdir(rel(name), perm)
}

// MkdirAll creates a directory and its parents.
func (r *rootFs) MkdirAll(name string, perm os.FileMode) error {
	return r.root.MkdirAll(rel(name), perm)
}

// Open opens name for reading.
func (r *rootFs) Open(name string) (afero.File, error) {
	f, err := r.root.Open(rel(name))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// OpenFile opens name with os.OpenFile flags.
func (r *rootFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := r.root.OpenFile(rel(name), flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Remove removes a file or an empty directory.
func (r *rootFs) Remove(name string) error { return r.root.Remove(rel(name)) }

// RemoveAll removes name and everything below it.
func (r *rootFs) RemoveAll(name string) error {
	if rel(name) == "." {
		return errors.New("refusing to remove the root")
	}
	return r.root.RemoveAll(rel(name))
}

// Rename renames a file or directory.
func (r *rootFs) Rename(oldname, newname string) error {
	return r.root.Rename(rel(oldname), rel(newname))
}

// Stat returns name's information, following links inside the root.
func (r *rootFs) Stat(name string) (os.FileInfo, error) { return r.root.Stat(rel(name)) }

// LstatIfPossible returns name's own information.
func (r *rootFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	fi, err := r.root.Lstat(rel(name))
	return fi, true, err
}

// ReadlinkIfPossible returns a link's target, for LIST.
func (r *rootFs) ReadlinkIfPossible(name string) (string, error) {
	return r.root.Readlink(rel(name))
}

// Chmod changes a mode.
func (r *rootFs) Chmod(name string, mode os.FileMode) error {
	return r.root.Chmod(rel(name), mode)
}

// Chown changes an owner.
func (r *rootFs) Chown(name string, uid, gid int) error {
	return r.root.Chown(rel(name), uid, gid)
}

// Chtimes changes times.
func (r *rootFs) Chtimes(name string, atime, mtime time.Time) error {
	return r.root.Chtimes(rel(name), atime, mtime)
}

// Symlink makes newname a link to oldname, both absolute paths within the
// root. The link stores a relative target, since os.Root refuses to follow
// absolute ones.
func (r *rootFs) Symlink(oldname, newname string) error {
	target, err := relativeTarget(path.Clean("/"+oldname), path.Clean("/"+newname))
	if err != nil {
		return err
	}
	return r.root.Symlink(target, rel(newname))
}

// relativeTarget returns oldname relative to newname's directory.
func relativeTarget(oldname, newname string) (string, error) {
	dir := path.Dir(newname)
	if dir == "/" {
		return rel(oldname), nil
	}
	up := ""
	for d := dir; d != "/"; d = path.Dir(d) {
		if hasPathPrefix(oldname, d) {
			tail := oldname[len(d):]
			if tail == "" {
				tail = "/."
			}
			return up + tail[1:], nil
		}
		up += "../"
	}
	return up + oldname[1:], nil
}
